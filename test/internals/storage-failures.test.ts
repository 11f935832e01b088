import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { generateKeyPair, SignJWT } from 'jose';
import { ChatEngine, jwtAuthenticator, MemoryStorage, type StorageAdapter } from 'parley-chat';
import { PostgresStorage } from 'parley-chat/postgres';
import { SqliteStorage } from 'parley-chat/sqlite';
import { io as connectClient } from 'socket.io-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { PG_URL, postgresAvailable } from '../support/postgres.js';
import { capturingLogger, closedPort, startFullApp, type FullApp } from './harness.js';

/**
 * A storage or identity-provider failure reaches clients as a code and a generic message — over a
 * socket ack, a REST error body and a handshake refusal alike — never with the file path, host,
 * port or driver message, which go to the engine's logger. `UNAVAILABLE` says when to retry.
 */
const pgUp = await postgresAvailable(); // throws under CI when Postgres is missing
const dir = mkdtempSync(join(tmpdir(), 'parley-internals-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const apps: FullApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function appOn(storage: StorageAdapter, options: { init?: boolean } = {}) {
  const logger = capturingLogger();
  const engine = new ChatEngine({ storage, rateLimits: NO_RATE_LIMITS, logger });
  if (options.init !== false) await engine.init();
  const app = await startFullApp({ engine });
  apps.push(app);
  return { app, logger };
}

/** A send over a socket and a read over REST, both failing; what each client got. */
async function failingCalls(app: FullApp, sessionId = 'support') {
  const alice = await app.socket('alice');
  const ack = await alice.call('message:send', { sessionId, content: 'hello' });
  const rest = await app.rest('alice');
  const reply = await rest.get('/sessions');
  return { ack, reply };
}

function expectUnavailable({ ack, reply }: Awaited<ReturnType<typeof failingCalls>>, internals: string[]) {
  expect(ack).toEqual({ ok: false, error: { code: 'UNAVAILABLE', message: expect.any(String), retryAfterMs: 1000 } });
  expect(reply.status).toBe(503);
  expect(reply.body.error.code).toBe('UNAVAILABLE');
  expect(reply.headers.get('retry-after')).toBe('1');
  const visible = JSON.stringify([ack, reply.body]);
  for (const internal of internals) expect(visible, `leaked ${internal}`).not.toContain(internal);
}

describe('storage failures reach clients without internals', () => {
  it('a SQLite file that cannot be opened: UNAVAILABLE without the path; the logger has it', async () => {
    const filename = join(dir, 'no-such-directory', 'private-chat.db');
    const { app, logger } = await appOn(new SqliteStorage({ filename }), { init: false });
    expectUnavailable(await failingCalls(app), [dir, 'no-such-directory', 'private-chat.db', 'Cannot open']);
    expect(logger.text()).toMatch(/directory does not exist/);
  });

  it('a SQLite file that cannot be written: UNAVAILABLE without the driver message; nothing written', async () => {
    const filename = join(dir, 'read-only.db');
    const writable = new SqliteStorage({ filename });
    const setup = new ChatEngine({ storage: writable, rateLimits: NO_RATE_LIMITS });
    await setup.init();
    await setup.createSession({ id: 'support', createdBy: 'alice' });
    await setup.close();
    const database = new Database(filename, { readonly: true });
    try {
      const { app, logger } = await appOn(new SqliteStorage({ database }));
      const alice = await app.socket('alice');
      const ack = await alice.call('message:send', { sessionId: 'support', content: 'hello' });
      const reply = await (await app.rest('alice')).post('/messages', { sessionId: 'support', content: 'hello' });
      expect(ack).toEqual({ ok: false, error: { code: 'UNAVAILABLE', message: expect.any(String), retryAfterMs: 1000 } });
      expect(reply.status).toBe(503);
      expect(reply.headers.get('retry-after')).toBe('1');
      const visible = JSON.stringify([ack, reply.body]);
      for (const internal of [dir, 'read-only.db', 'readonly', 'SQLITE_']) expect(visible, `leaked ${internal}`).not.toContain(internal);
      expect(logger.text()).toMatch(/readonly/);
      expect((await app.engine.getMessageHistory('support', 'alice')).messages).toEqual([]);
    } finally {
      database.close();
    }
  });

  it('a Postgres nobody listens on: UNAVAILABLE without host or port; the logger has the errno', async () => {
    const port = await closedPort();
    const { app, logger } = await appOn(new PostgresStorage({ connectionString: `postgres://postgres@127.0.0.1:${port}/test` }), { init: false });
    expectUnavailable(await failingCalls(app), [`127.0.0.1:${port}`, `:${port}`, 'ECONNREFUSED', 'connect']);
    expect(logger.text()).toContain('ECONNREFUSED');
  });

  it.skipIf(!pgUp)('a Postgres error (tables missing) is INTERNAL with a generic message; the logger has the relation', async () => {
    const { app, logger } = await appOn(new PostgresStorage({ connectionString: PG_URL, schema: 'parley_never_migrated' }), { init: false });
    const { ack, reply } = await failingCalls(app);
    expect(ack).toEqual({ ok: false, error: { code: 'INTERNAL', message: expect.any(String) } });
    expect(reply.status).toBe(500);
    const visible = JSON.stringify([ack, reply.body]);
    for (const internal of ['parley_never_migrated', 'relation', 'does not exist', 'chat_']) expect(visible, `leaked ${internal}`).not.toContain(internal);
    expect(logger.text()).toContain('parley_never_migrated');
  });
});

describe('an identity provider that cannot be reached', () => {
  it('a JWKS URL nobody listens on: REST 503 and a handshake refused with UNAVAILABLE, no URL; the logger has it', async () => {
    const port = await closedPort();
    const jwksUrl = `http://127.0.0.1:${port}/.well-known/jwks.json`;
    const logger = capturingLogger();
    const engine = new ChatEngine({ storage: new MemoryStorage(), rateLimits: NO_RATE_LIMITS, logger });
    await engine.init();
    const app = await startFullApp({ engine, authenticate: jwtAuthenticator({ jwksUrl }) });
    apps.push(app);
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 600 }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(privateKey);

    const response = await fetch(`${app.origin}/api/chat/sessions`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await response.json()) as { error: { code: string } };
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(body.error.code).toBe('UNAVAILABLE');

    const socket = connectClient(`${app.origin}/chat`, { auth: { token }, forceNew: true, reconnection: false, transports: ['websocket'] });
    const refused = await new Promise<Error & { data?: any }>((resolve) => socket.once('connect_error', resolve));
    socket.disconnect();
    expect(refused.data).toMatchObject({ code: 'UNAVAILABLE', retryAfterMs: 1000 });

    const visible = JSON.stringify([body, refused.message, refused.data]);
    for (const internal of [jwksUrl, `:${port}`, 'jwks', 'fetch failed', 'ECONNREFUSED']) expect(visible, `leaked ${internal}`).not.toContain(internal);
    expect(logger.text()).toContain('ECONNREFUSED');
  });
});
