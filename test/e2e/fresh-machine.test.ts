/**
 * `npm test` on a fresh machine, as a child vitest run of three suites (one per outside service):
 * with nothing at the default Postgres address the run starts a throw-away Postgres and the
 * Postgres suite runs; the Redis and browser suites, whose services are missing, are skipped and
 * named in the run's last line. Under CI=true the same missing services fail the run instead, and
 * nothing is started in their place.
 *
 * "Nothing at the default address" is a free port given as PARLEY_PG_PROBE_URL, so the machine's
 * own Postgres (if any) is left alone.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.js';

const ROOT = process.cwd();
const FILES = ['test/storage/postgres-faults.test.ts', 'test/cluster/redis-streams-adapter.test.ts', 'test/e2e/browser.test.ts'];
const scratch = mkdtempSync(join(tmpdir(), 'parley-fresh-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));


/** A machine with no Postgres at the default address, no Redis and no Chromium. */
async function freshMachineEnv(ci: boolean): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
  for (const name of ['CI', 'PARLEY_PG_URL', 'PARLEY_SKIP_LOG', 'PARLEY_PG_EMBEDDED_ERROR', 'VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID']) delete env[name];
  return {
    ...env,
    ...(ci && { CI: 'true' }),
    PARLEY_PG_PROBE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/test`,
    PARLEY_REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    CHROMIUM_PATH: join(scratch, 'no-chromium-here'),
  };
}

interface Run {
  code: number | null;
  output: string;
  report: { testResults: { name: string; assertionResults: { fullName: string; status: string }[] }[] };
}

async function runSuites(env: NodeJS.ProcessEnv, name: string): Promise<Run> {
  const json = join(scratch, `${name}.json`);
  const child = spawn(join(ROOT, 'node_modules', '.bin', 'vitest'), ['run', ...FILES, '--reporter=default', '--reporter=json', `--outputFile.json=${json}`], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output, report: JSON.parse(readFileSync(json, 'utf8')) as Run['report'] };
}

const statusOf = (run: Run, file: string) =>
  run.report.testResults.find((r) => r.name.endsWith(file))?.assertionResults.map((a) => `${a.status}: ${a.fullName}`) ?? [];

describe('npm test on a fresh machine', () => {
  it('starts a throw-away Postgres for the Postgres suites, skips the rest and names them in its last line', async () => {
    const run = await runSuites(await freshMachineEnv(false), 'fresh');
    expect(run.code, run.output).toBe(0);

    const started = /started a throw-away PostgreSQL at (postgres:\/\/\S+)/.exec(run.output);
    expect(started, run.output).not.toBeNull();
    const postgresSuite = statusOf(run, 'postgres-faults.test.ts');
    expect(postgresSuite.length).toBeGreaterThan(0);
    expect(postgresSuite.every((s) => s.startsWith('passed')), postgresSuite.join('\n')).toBe(true);
    expect(statusOf(run, 'redis-streams-adapter.test.ts').every((s) => s.startsWith('skipped'))).toBe(true);
    expect(statusOf(run, 'browser.test.ts').every((s) => s.startsWith('skipped'))).toBe(true);

    const lastLine = run.output.trimEnd().split('\n').at(-1)!;
    expect(lastLine).toMatch(/^skipped: Redis suites \(nothing answers at redis:\/\/127\.0\.0\.1:\d+: ECONNREFUSED; .*PARLEY_REDIS_URL\), browser suite \(no Chromium at .*CHROMIUM_PATH\)$/);

    // Gone with the run: nothing answers there any more.
    const client = new pg.Client({ connectionString: started![1], connectionTimeoutMillis: 2000 });
    client.on('error', () => {});
    await expect(client.connect()).rejects.toThrow();
  }, 120_000);

  it('under CI=true, fails on the same missing services instead, starting nothing', async () => {
    const run = await runSuites(await freshMachineEnv(true), 'ci');
    expect(run.code, run.output).toBe(1);
    expect(run.output).toContain('test/storage/postgres-faults.test.ts needs postgres under CI, but nothing answers at');
    expect(run.output).toContain('test/cluster/redis-streams-adapter.test.ts needs redis under CI, but nothing answers at');
    expect(run.output).toContain('test/e2e/browser.test.ts needs chromium under CI, but no Chromium at');
    expect(run.output).not.toContain('throw-away');
    expect(run.output).not.toMatch(/^skipped:/m);
  }, 120_000);
});
