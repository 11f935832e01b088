/**
 * `npm start` as a newcomer runs it: a real child process (npm → tsx → node), its data in a
 * temporary PARLEY_DATA_DIR so the repository's ./data is never touched. The page must be served
 * within a few seconds, `examples/client.ts` must run against it to a complete streamed answer,
 * and SIGTERM must shut it down cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.js';

const ROOT = process.cwd();
const READY_WITHIN_MS = 10_000;


/** The environment of a fresh shell: none of the variables that would leave demo mode. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['JWT_SECRET', 'DATABASE_URL', 'OPENAI_BASE_URL', 'OPENAI_API_KEY', 'OPENAI_MODEL', 'ANTHROPIC_API_KEY', 'ANTHROPIC_MODEL', 'ANTHROPIC_BASE_URL', 'CORS_ORIGIN', 'HOST', 'PORT', 'WEBSOCKET_PORT']) delete env[name];
  return { ...env, ...extra };
}

function collect(child: ChildProcess): { text: () => string } {
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { text: () => text };
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start', () => {
  let app: ChildProcess;
  let output: { text: () => string };
  let url: string;
  let dataDir: string;
  let readyAfterMs: number;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'parley-start-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const startedAt = Date.now();
    // Its own process group, like a terminal's foreground job: Ctrl+C / SIGTERM reach npm, tsx and node.
    // PORT, as a hosting platform sets it.
    app = spawn('npm', ['start'], { cwd: ROOT, detached: true, env: cleanEnv({ PORT: String(port), PARLEY_DATA_DIR: dataDir }), stdio: ['ignore', 'pipe', 'pipe'] });
    output = collect(app);
    while (Date.now() - startedAt < READY_WITHIN_MS + 5000) {
      if (app.exitCode !== null) throw new Error(`npm start exited early:\n${output.text()}`);
      const ok = await fetch(`${url}/`).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    readyAfterMs = Date.now() - startedAt;
  }, 30_000);

  afterAll(() => {
    if (app?.pid !== undefined && groupAlive(app.pid)) process.kill(-app.pid, 'SIGKILL');
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves the page within a few seconds, announcing demo mode loudly', async () => {
    expect(readyAfterMs, output.text()).toBeLessThan(READY_WITHIN_MS);
    const page = await fetch(`${url}/`).then((r) => r.text());
    expect(page).toContain('<title>Parley</title>');
    for (const asset of ['/app.js', '/dom.js', '/styles.css', '/vendor/parley-client.js']) {
      expect((await fetch(`${url}${asset}`)).status, asset).toBe(200);
    }
    expect(await fetch(`${url}/app-config.json`).then((r) => r.json())).toMatchObject({ demo: true, assistant: { isModel: false } });
    const banner = output.text();
    expect(banner).toContain(`http://localhost:${new URL(url).port}`);
    expect(banner).toContain(`port       ${new URL(url).port} (from PORT)`);
    expect(banner).toContain('DEMO SIGN-IN IS ON');
    expect(banner).toContain('NOT a language model');
    expect(banner).toContain(join(dataDir, 'parley.db')); // not the repository's ./data
  });

  it('runs examples/client.ts against it to a complete streamed answer', async () => {
    const client = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['examples/client.ts', url], {
      cwd: ROOT,
      env: cleanEnv({ PARLEY_TIMEOUT_MS: '20000' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = collect(client);
    const { code } = await exited(client);
    expect(code, log.text()).toBe(0);
    expect(log.text()).toContain('New message (#1) from integration-example: Hello everyone!');
    expect(log.text()).toContain("This is Parley's scripted demo provider, not a language model.");
    expect(log.text()).toMatch(/stream complete: \d+ tokens/);
  }, 30_000);

  it('shuts down cleanly on SIGTERM', async () => {
    process.kill(-app.pid!, 'SIGTERM');
    await exited(app);
    // npm itself dies of the signal; what matters is the app: it ran its shutdown and exited, port freed.
    await expect.poll(() => groupAlive(app.pid!), { timeout: 10_000 }).toBe(false);
    // The pipe may still hold its last lines when the process is gone: read until they arrive.
    await expect.poll(() => output.text(), { timeout: 5000 }).toContain('parley: SIGTERM received, shutting down');
    await expect.poll(() => output.text(), { timeout: 5000 }).toContain('parley: stopped');
    expect(output.text()).not.toMatch(/error during shutdown|SIGTERM again|took over 10 s/);
    expect(await fetch(`${url}/`).then(() => 'up', () => 'down')).toBe('down');
  }, 20_000);
});

/** A port that something else holds, released by `close()`. */
async function occupiedPort(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, resolve)); // all interfaces, as the apps bind
  const { port } = server.address() as { port: number };
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Kills what is left of a process group (an app that started when it should not have). */
function killGroup(pid: number | undefined): void {
  if (pid !== undefined && groupAlive(pid)) process.kill(-pid, 'SIGKILL');
}

/** Runs a command to its end (within 30 s), in its own process group so nothing it started outlives it. */
async function runToExit(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; text: string }> {
  const child = spawn(command, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = collect(child);
  const timer = setTimeout(() => killGroup(child.pid), 30_000);
  const { code } = await exited(child);
  clearTimeout(timer);
  killGroup(child.pid);
  return { code, text: log.text() };
}

describe('a port already in use', () => {
  const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
  let busy: { port: number; close: () => Promise<void> };
  let dataDir: string;
  beforeAll(async () => {
    busy = await occupiedPort();
    dataDir = mkdtempSync(join(tmpdir(), 'parley-busy-'));
  });
  afterAll(async () => {
    await busy?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  for (const [name, command, args] of [
    ['npm start', 'npm', ['start']],
    ['examples/minimal', TSX, ['examples/minimal/index.ts']],
  ] as const) {
    it(`${name}: one line that says what to do, exit code 1, no stack trace`, async () => {
      const { code, text } = await runToExit(command, [...args], cleanEnv({ PORT: String(busy.port), PARLEY_DATA_DIR: dataDir }));
      expect(code, text).toBe(1);
      const lines = text.split('\n').filter((line) => line.includes(String(busy.port)) && !line.startsWith('npm error'));
      expect(lines, text).toEqual([`parley: port ${busy.port} is in use: set PORT=… to another port`]);
      expect(text).not.toMatch(/^\s+at /m); // no stack frames
    }, 40_000);
  }
});

describe('examples/minimal', () => {
  it('listens on PORT and answers on its REST routes', async () => {
    const port = await freePort();
    const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['examples/minimal/index.ts'], {
      cwd: ROOT,
      env: cleanEnv({ PORT: String(port) }),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = collect(child);
    try {
      await expect.poll(() => log.text(), { timeout: 15_000 }).toContain(`on http://localhost:${port} (PORT)`);
      const openapi = await fetch(`http://127.0.0.1:${port}/api/chat/openapi.json`);
      expect(openapi.status).toBe(200);
      // The printed token works: it is how a newcomer tries the API (printed just after the banner).
      const printedToken = () => /Bearer ([\w-]+\.[\w-]+\.[\w-]+)/.exec(log.text())?.[1];
      await expect.poll(printedToken, { timeout: 10_000 }).toBeDefined();
      const token = printedToken();
      const created = await fetch(`http://127.0.0.1:${port}/api/chat/sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'Hello' }),
      });
      expect(created.status).toBe(201);
    } finally {
      process.kill(-child.pid!, 'SIGTERM'); // its shutdown removes its temporary SQLite folder
      await exited(child);
      killGroup(child.pid);
    }
  }, 30_000);
});
