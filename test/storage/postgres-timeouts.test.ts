import { ChatEngine, isChatError, type ChatError } from 'parley-chat';
import { newId } from '../../src/ids.js';
import { PostgresStorage, type PostgresStorageOptions } from 'parley-chat/postgres';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFullApp, type FullApp } from '../internals/harness.js';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { startFreezableProxy, type FreezableProxy } from '../support/freezable-proxy.js';
import { dropSchema, PG_URL, postgresAvailable, uniqueSchema } from '../support/postgres.js';

/**
 * A Postgres that stops answering (here: a proxy in front of it that stops forwarding, as a server
 * under SIGSTOP looks to its clients; the shared server itself is never touched) fails calls with
 * UNAVAILABLE and a `retryAfterMs` within the storage's deadlines — over the engine, a socket ack
 * and REST (503 + Retry-After) — writes nothing half, and serves again once it answers.
 */
const pgUp = await postgresAvailable(); // throws under CI when Postgres is missing
const skip = pgUp ? undefined : `Postgres unreachable at ${PG_URL}`;

/** Fails the test instead of hanging when a call never settles. */
function settledWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`${what} still hanging after ${ms} ms`)), ms))),
  ]);
}

const failure = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => 'succeeded', (error: unknown) => error);

describe.skipIf(skip !== undefined)(`PostgresStorage when Postgres stops answering${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const schema = uniqueSchema('parley_freeze');
  let proxy: FreezableProxy;
  let admin: pg.Pool;
  const apps: FullApp[] = [];
  const pools: pg.Pool[] = [];

  beforeAll(async () => {
    const target = new URL(PG_URL);
    proxy = await startFreezableProxy({ host: target.hostname, port: Number(target.port || 5432) });
    admin = new pg.Pool({ connectionString: PG_URL, max: 2 });
  });
  afterEach(async () => {
    proxy.thaw();
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await Promise.all(pools.splice(0).map((p) => p.end()));
  });
  afterAll(async () => {
    await proxy?.close();
    await admin?.end();
    if (pgUp) await dropSchema(schema);
  });

  const proxiedUrl = () => {
    const url = new URL(PG_URL);
    url.hostname = proxy.host;
    url.port = String(proxy.port);
    return url.toString();
  };

  async function appOn(storage: { connectionString: string; poolConfig?: pg.PoolConfig } | { pool: pg.Pool }, timeouts: { statementTimeoutMs: number; acquireTimeoutMs: number }): Promise<FullApp> {
    const engine = new ChatEngine({ storage: new PostgresStorage({ ...storage, ...timeouts, schema } as PostgresStorageOptions), rateLimits: NO_RATE_LIMITS, logger: { error() {}, warn() {} } });
    await engine.init();
    const app = await startFullApp({ engine });
    apps.push(app);
    return app;
  }

  /** Read straight from Postgres (not through the proxy): seqs are exactly 1..last_seq, counters agree. */
  async function expectWhole(sessionId: string): Promise<{ seq: number; client_message_id: string | null }[]> {
    const q = (text: string) => admin.query(text, [sessionId]).then((r) => r.rows);
    const [session] = await q(`select last_seq::int, message_count::int from "${schema}".chat_sessions where id = $1`);
    const rows = await q(`select seq::int, client_message_id from "${schema}".chat_messages where session_id = $1 order by seq`);
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: session.last_seq }, (_, i) => i + 1));
    expect(session.message_count).toBe(rows.length);
    const ids = rows.map((r) => r.client_message_id).filter((id) => id !== null);
    expect(new Set(ids).size).toBe(ids.length);
    return rows;
  }

  function expectUnavailable(error: unknown): void {
    expect(isChatError(error) && error.code, String(error)).toBe('UNAVAILABLE');
    expect((error as ChatError).retryAfterMs).toBe(1000);
  }

  it('sends during the freeze fail with UNAVAILABLE + retryAfterMs before it ends (engine, socket, REST); nothing half-written; sends work after it', async () => {
    const app = await appOn({ connectionString: proxiedUrl(), poolConfig: { max: 4 } }, { statementTimeoutMs: 1000, acquireTimeoutMs: 1000 });
    const { engine } = app;
    const session = await engine.createSession({ createdBy: 'alice' });
    const alice = await app.socket('alice');
    const rest = await app.rest('alice');
    expect((await alice.call('message:send', { sessionId: session.id, content: 'before' })).ok).toBe(true);

    proxy.freeze();
    const sends = Array.from({ length: 6 }, (_, i) => ({ sessionId: session.id, userId: 'alice', content: `during ${i}`, clientMessageId: `during-${i}` }));
    const [engineFailures, ack, reply] = await settledWithin(
      Promise.all([
        Promise.all(sends.map((send) => failure(engine.createMessage(send)))),
        alice.call('message:send', { sessionId: session.id, content: 'socket during', clientMessageId: 'socket-during' }),
        rest.post('/messages', { sessionId: session.id, content: 'rest during', clientMessageId: 'rest-during' }),
      ]),
      8000,
      'sends during the freeze',
    );
    expect(proxy.frozen).toBe(true); // every call came back while Postgres was still not answering
    for (const error of engineFailures) expectUnavailable(error);
    expect(ack).toEqual({ ok: false, error: { code: 'UNAVAILABLE', message: expect.any(String), retryAfterMs: 1000 } });
    expect(reply.status).toBe(503);
    expect(reply.headers.get('retry-after')).toBe('1');
    expect(reply.body.error.code).toBe('UNAVAILABLE');

    proxy.thaw();
    // What a client does next: retry with the same clientMessageId. A send whose commit reached
    // the server before it froze is answered with the stored message, the others are stored now.
    const retried = await Promise.all(sends.map((send) => engine.createMessage(send)));
    expect(retried.map((m) => m.content)).toEqual(sends.map((s) => s.content));
    expect((await alice.call('message:send', { sessionId: session.id, content: 'after' })).ok).toBe(true);
    expect((await rest.post('/messages', { sessionId: session.id, content: 'rest after' })).status).toBe(201);
    const rows = await expectWhole(session.id);
    expect(rows.filter((r) => r.client_message_id?.startsWith('during-'))).toHaveLength(sends.length);
  });

  it('a checkout waits at most the acquire timeout: a call queued behind a hung one fails, the hung one completes after the thaw', async () => {
    // No statement deadline: the first call hangs for as long as the freeze lasts and holds the only connection.
    const app = await appOn({ connectionString: proxiedUrl(), poolConfig: { max: 1 } }, { statementTimeoutMs: 0, acquireTimeoutMs: 1000 });
    const session = await app.engine.createSession({ createdBy: 'alice' });
    proxy.freeze();
    const hung = app.engine.getSession(session.id, 'alice');
    const queued = await settledWithin(failure(app.engine.listMembers(session.id, 'alice')), 8000, 'the queued call');
    expect(proxy.frozen).toBe(true);
    expectUnavailable(queued);
    proxy.thaw();
    expect((await hung).id).toBe(session.id);
  });

  it("a host's pool gets the same deadlines, answers every read rightly after the thaw, and is not ended by us", async () => {
    const pool = new pg.Pool({ connectionString: proxiedUrl(), max: 3 });
    pool.on('error', () => {});
    pools.push(pool);
    const app = await appOn({ pool }, { statementTimeoutMs: 1000, acquireTimeoutMs: 1000 });
    const ids = await Promise.all(Array.from({ length: 12 }, () => app.engine.createSession({ id: newId(), createdBy: 'alice' }).then((s) => s.id)));

    proxy.freeze();
    const during = await settledWithin(Promise.all(ids.slice(0, 6).map((id) => failure(app.engine.getSession(id, 'alice')))), 8000, 'reads during the freeze');
    expect(proxy.frozen).toBe(true);
    for (const error of during) expectUnavailable(error);

    proxy.thaw();
    // Every answer belongs to its own statement: no late answer of a timed-out one lands elsewhere.
    const after = await Promise.all(ids.map((id) => app.engine.getSession(id, 'alice')));
    expect(after.map((s) => s.id)).toEqual(ids);
    await app.close();
    apps.splice(apps.indexOf(app), 1);
    expect((await pool.query('select 1 as one')).rows).toEqual([{ one: 1 }]); // the host's pool is still the host's
  });

  it('a statement that timed out inside a transaction leaves no transaction open: its connection is discarded, not pooled', async () => {
    // Postgres answers, but the session's row is locked by someone else: a reaction's transaction
    // waits on it past the deadline. Were its connection pooled again, the wait would end in a
    // transaction nobody commits, holding the session's lock for whoever gets that connection next.
    const applicationName = `parley_timeout_${newId().slice(-12)}`;
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2, application_name: applicationName });
    pool.on('error', () => {});
    pools.push(pool);
    const app = await appOn({ pool }, { statementTimeoutMs: 1000, acquireTimeoutMs: 1000 });
    const session = await app.engine.createSession({ createdBy: 'alice' });
    const message = await app.engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'react to me' });
    const busy = async () =>
      (await admin.query(`select state from pg_stat_activity where application_name = $1 and state <> 'idle'`, [applicationName])).rows.map((r) => r.state as string);

    const locker = await admin.connect();
    try {
      await locker.query('begin');
      await locker.query(`select 1 from "${schema}".chat_sessions where id = $1 for update`, [session.id]);
      expectUnavailable(await settledWithin(failure(app.engine.toggleReaction(message.id, 'alice', '👍', 'add')), 8000, 'the reaction'));
      await locker.query('commit');
    } finally {
      locker.release();
    }
    // The statement that waited now gets the lock and finishes; its backend must then end, not
    // sit idle in a transaction that holds the lock.
    let states = await busy();
    for (let i = 0; i < 100 && states.length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 30));
      states = await busy();
    }
    expect(states).toEqual([]);
    expect((await app.engine.toggleReaction(message.id, 'alice', '👍', 'add')).reactions).toEqual([{ emoji: '👍', count: 1, userIds: ['alice'] }]);
    const sent = await Promise.all([1, 2, 3].map((i) => app.engine.createMessage({ sessionId: session.id, userId: 'alice', content: `after ${i}` })));
    expect(new Set(sent.map((m) => m.seq)).size).toBe(3);
  });
});
