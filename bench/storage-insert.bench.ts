/**
 * Insert throughput: `engine.createMessage` (a member of the session sending, rate limits off,
 * profanity filter on, a `clientMessageId` on every send as a real client does) against a raw
 * prepared INSERT of the same row, in the same run, on Postgres and SQLite.
 *
 * - Postgres, raw: a `pg` pool (max 10, like the engine's) sending a named prepared `INSERT` of one
 *   message row per call (every column the adapter writes, the same content) into `raw_messages`,
 *   a plain table made `LIKE chat_messages INCLUDING ALL`: same columns, same generated tsvector,
 *   same indexes (unique, btree, GIN), no foreign keys. The raw side computes `seq` in JS: it
 *   does not keep the gapless per-session counter, the session row or the idempotency check the
 *   engine does.
 * - SQLite, raw: a better-sqlite3 prepared INSERT, synchronous, one statement (= one autocommit
 *   transaction) per message, into a copy of `chat_messages` (same indexes, same FTS5 table and
 *   triggers, no foreign keys) in a database file with the adapter's pragmas (WAL,
 *   synchronous=NORMAL, foreign_keys=ON, busy_timeout).
 *
 * Each comparison runs as A-B-B-A halves (engine, raw, raw, engine) so drift (table growth, WAL,
 * checkpoints) falls on both sides; a Postgres CHECKPOINT / SQLite wal_checkpoint precedes each half.
 *
 * Knobs: BENCH_INSERT_MESSAGES (default 20,000, concurrent runs), BENCH_INSERT_SEQUENTIAL
 * (default 4,000, concurrency-1 runs), BENCH_INSERT_CONCURRENCY (default 32), BENCH_INSERT_ONLY
 * (`postgres` or `sqlite`: run one side only).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { ChatEngine } from '../src/index.js';
import { newId } from '../src/ids.js';
import { PostgresStorage } from '../adapters/storage/postgres/index.js';
import { SqliteStorage } from '../adapters/storage/sqlite/index.js';
import { runConcurrently, type BenchRow } from './lib.js';
import { cleanupOnSignal, countingPool, dropSchema, log, logLoad, PG_URL, randomSchema, type StatementCounter } from './support/pg.js';
import { chatMessage, rng, vocabulary } from './support/text.js';

const N = envInt('BENCH_INSERT_MESSAGES', 20_000);
const N_SEQUENTIAL = envInt('BENCH_INSERT_SEQUENTIAL', 4_000);
const CONCURRENCY = envInt('BENCH_INSERT_CONCURRENCY', 32);
const SESSIONS = 100;
const MEMBERS_PER_SESSION = 5;
const POOL_MAX = 10;
const WARMUP = 300;
const TARGET = 0.9;

function envInt(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : fallback;
}

/** What one send is: the same for the engine and the raw insert. */
interface Send {
  sessionId: string;
  userId: string;
  content: string;
}

function sends(count: number, seed: number): Send[] {
  const vocab = vocabulary();
  const random = rng(seed);
  return Array.from({ length: count }, () => {
    const s = Math.floor(random() * SESSIONS);
    return {
      sessionId: `s${s}`,
      userId: `u${s}-${Math.floor(random() * MEMBERS_PER_SESSION)}`,
      content: chatMessage(vocab, random),
    };
  });
}

const NO_RATE_LIMITS = {
  default: { points: 0, durationMs: 60_000 },
  'message:send': { points: 0, durationMs: 60_000 },
};

async function createSessions(engine: ChatEngine): Promise<void> {
  for (let s = 0; s < SESSIONS; s++) {
    await engine.createSession({
      id: `s${s}`,
      createdBy: `owner${s}`,
      memberIds: Array.from({ length: MEMBERS_PER_SESSION }, (_, m) => `u${s}-${m}`),
    });
  }
}

/** A–B–B–A: returns the msg/s of each side over both of its halves. */
async function abba(
  label: string,
  count: number,
  before: () => Promise<void> | void,
  engineRun: (from: number, to: number) => Promise<number>,
  rawRun: (from: number, to: number) => Promise<number>,
): Promise<{ engine: number; raw: number }> {
  const half = Math.floor(count / 2);
  let engineMs = 0;
  let rawMs = 0;
  await before();
  engineMs += await engineRun(0, half);
  log(`${label}: engine 1/2 ${Math.round((half * 1000) / engineMs)} msg/s`);
  await before();
  rawMs += await rawRun(0, half);
  log(`${label}: raw 1/2 ${Math.round((half * 1000) / rawMs)} msg/s`);
  await before();
  const r2 = await rawRun(half, count);
  rawMs += r2;
  log(`${label}: raw 2/2 ${Math.round(((count - half) * 1000) / r2)} msg/s`);
  await before();
  const e2 = await engineRun(half, count);
  engineMs += e2;
  log(`${label}: engine 2/2 ${Math.round(((count - half) * 1000) / e2)} msg/s`);
  return { engine: (count * 1000) / engineMs, raw: (count * 1000) / rawMs };
}

function row(metric: string, engine: number, raw: number, rawName: string): BenchRow {
  const ratio = engine / raw;
  return {
    scenario: 'storage-insert',
    metric,
    value: engine,
    unit: 'msg/s',
    baseline: { name: rawName, value: raw },
    ratio,
    target: `>= ${TARGET}x raw`,
    pass: ratio >= TARGET,
  };
}

const MESSAGE_COLUMNS = [
  'id', 'session_id', 'user_id', 'agent_id', 'role', 'content', 'metadata', 'tokens', 'parent_message_id',
  'reply_count', 'seq', 'change_seq', 'client_message_id', 'is_edited', 'edited_at', 'is_deleted',
  'deleted_at', 'created_at', 'updated_at',
] as const;

/** The row the adapter writes for a new top-level message, as positional values. */
function rawValues(send: Send, seq: number, clientMessageId: string, at: Date, bool: (b: boolean) => unknown, date: (d: Date) => unknown): unknown[] {
  return [
    newId(), send.sessionId, send.userId, null, 'user', send.content, null, null, null,
    0, seq, seq, clientMessageId, bool(false), null, bool(false), null, date(at), date(at),
  ];
}

// ---- Postgres ------------------------------------------------------------------------------------

async function postgresRows(): Promise<BenchRow[]> {
  const schema = randomSchema('bench_insert');
  log(`postgres: schema ${schema}`);
  const counter: StatementCounter = { count: 0 };
  const enginePool = countingPool(counter, { max: POOL_MAX });
  const rawPool = new pg.Pool({ connectionString: PG_URL, max: POOL_MAX });
  rawPool.on('error', () => {});
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const engine = new ChatEngine({ storage: new PostgresStorage({ pool: enginePool, schema }), rateLimits: NO_RATE_LIMITS });
  const unregister = cleanupOnSignal(() => dropSchema(schema));
  try {
    await engine.init();
    await createSessions(engine);
    await admin.query(`create table "${schema}".raw_messages (like "${schema}".chat_messages including all)`);
    const rawInsert = `insert into "${schema}".raw_messages (${MESSAGE_COLUMNS.join(', ')}) values (${MESSAGE_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`;
    const rawSeq = new Map<string, number>();
    let clientIds = 0;

    const engineSend = (send: Send) =>
      engine.createMessage({ sessionId: send.sessionId, userId: send.userId, content: send.content, clientMessageId: `c${clientIds++}` });
    const rawSend = (send: Send) => {
      const seq = (rawSeq.get(send.sessionId) ?? 0) + 1;
      rawSeq.set(send.sessionId, seq);
      const values = rawValues(send, seq, `c${clientIds++}`, new Date(), (b) => b, (d) => d);
      return rawPool.query({ name: 'bench_raw_insert', text: rawInsert, values });
    };
    const checkpoint = async () => {
      await admin.query('checkpoint');
    };

    const run = async (label: string, count: number, concurrency: number, seed: number) => {
      const msgs = sends(count, seed);
      const warm = sends(WARMUP, seed + 1);
      await runConcurrently(WARMUP, concurrency, (i) => engineSend(warm[i]!));
      await runConcurrently(WARMUP, concurrency, (i) => rawSend(warm[i]!));
      let statements = 0;
      const result = await abba(
        label,
        count,
        checkpoint,
        async (from, to) => {
          const c0 = counter.count;
          const ms = await runConcurrently(to - from, concurrency, (i) => engineSend(msgs[from + i]!));
          statements += counter.count - c0;
          return ms;
        },
        (from, to) => runConcurrently(to - from, concurrency, (i) => rawSend(msgs[from + i]!)),
      );
      return { ...result, statementsPerMessage: statements / count };
    };

    log(`postgres: ${N} messages, ${CONCURRENCY} callers in flight, over ${SESSIONS} sessions`);
    const concurrent = await run(`postgres c=${CONCURRENCY}`, N, CONCURRENCY, 1);
    log(`postgres: ${N_SEQUENTIAL} messages, one at a time`);
    const sequential = await run('postgres c=1', N_SEQUENTIAL, 1, 2);

    // The engine's table must hold what was sent, with gapless seqs per session.
    const { rows } = await admin.query<{ n: string; bad: string }>(
      `select sum(n)::text as n, count(*) filter (where n <> max_seq or max_seq <> last_seq)::text as bad
         from (select m.session_id, count(*) as n, max(m.seq) as max_seq, s.last_seq
                 from "${schema}".chat_messages m join "${schema}".chat_sessions s on s.id = m.session_id
                group by m.session_id, s.last_seq) x`,
    );
    const expected = N + N_SEQUENTIAL + 2 * WARMUP;
    if (Number(rows[0]!.n) !== expected || rows[0]!.bad !== '0') {
      throw new Error(`storage-insert: engine table holds ${rows[0]!.n} messages (expected ${expected}), ${rows[0]!.bad} sessions with gaps`);
    }

    const rawName = (c: number) => `raw pg named INSERT, c=${c}`;
    return [
      row(`postgres engine.createMessage c=${CONCURRENCY} (${N} msgs)`, concurrent.engine, concurrent.raw, rawName(CONCURRENCY)),
      {
        scenario: 'storage-insert',
        metric: `postgres engine statements / msg c=${CONCURRENCY}`,
        value: concurrent.statementsPerMessage,
        unit: 'stmts',
      },
      row(`postgres engine.createMessage c=1 (${N_SEQUENTIAL} msgs)`, sequential.engine, sequential.raw, rawName(1)),
      {
        scenario: 'storage-insert',
        metric: 'postgres engine statements / msg c=1',
        value: sequential.statementsPerMessage,
        unit: 'stmts',
      },
    ];
  } finally {
    await engine.close().catch(() => {});
    await enginePool.end().catch(() => {});
    await rawPool.end().catch(() => {});
    await admin.end().catch(() => {});
    await dropSchema(schema);
    unregister();
  }
}

// ---- SQLite --------------------------------------------------------------------------------------

async function sqliteRows(): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-insert-'));
  log(`sqlite: ${dir}`);
  const enginePath = join(dir, 'engine.db');
  const engine = new ChatEngine({ storage: new SqliteStorage({ filename: enginePath }), rateLimits: NO_RATE_LIMITS });
  let raw: Database.Database | undefined;
  let side: Database.Database | undefined;
  const unregister = cleanupOnSignal(() => rmSync(dir, { recursive: true, force: true }));
  try {
    await engine.init();
    await createSessions(engine);

    // The raw table: the adapter's own DDL for chat_messages (its indexes, FTS5 table and triggers),
    // renamed, without the foreign keys; in its own file with the adapter's pragmas.
    side = new Database(enginePath);
    // The table, its indexes, the FTS5 table (its shadow tables follow from it), the triggers.
    const ddl = (
      side
        .prepare(
          `select sql from sqlite_master
            where sql is not null and (tbl_name = 'chat_messages' or name = 'chat_messages_fts')
            order by case when name = 'chat_messages' then 0 when type = 'index' then 1 when type = 'table' then 2 else 3 end`,
        )
        .all() as { sql: string }[]
    )
      .map((r) => r.sql.replaceAll('chat_messages', 'raw_messages').replace(/ references "[^"]+" \("[^"]+"\)( on delete cascade)?/g, ''));
    raw = new Database(join(dir, 'raw.db'));
    raw.pragma('busy_timeout = 5000');
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    raw.pragma('foreign_keys = ON');
    for (const statement of ddl) raw.exec(statement);
    const insert = raw.prepare(`insert into raw_messages (${MESSAGE_COLUMNS.join(', ')}) values (${MESSAGE_COLUMNS.map(() => '?').join(', ')})`);
    const rawSeq = new Map<string, number>();
    let clientIds = 0;
    const rawDb = raw;
    const sideDb = side;

    const engineSend = (send: Send) =>
      engine.createMessage({ sessionId: send.sessionId, userId: send.userId, content: send.content, clientMessageId: `c${clientIds++}` });
    const rawSend = (send: Send) => {
      const seq = (rawSeq.get(send.sessionId) ?? 0) + 1;
      rawSeq.set(send.sessionId, seq);
      insert.run(rawValues(send, seq, `c${clientIds++}`, new Date(), (b) => (b ? 1 : 0), (d) => d.toISOString()));
    };
    const rawRange = async (msgs: Send[], from: number, to: number) => {
      const start = performance.now();
      for (let i = from; i < to; i++) rawSend(msgs[i]!);
      return performance.now() - start;
    };
    const checkpoint = () => {
      sideDb.pragma('wal_checkpoint(TRUNCATE)');
      rawDb.pragma('wal_checkpoint(TRUNCATE)');
    };

    const run = async (label: string, count: number, concurrency: number, seed: number) => {
      const msgs = sends(count, seed);
      const warm = sends(WARMUP, seed + 1);
      await runConcurrently(WARMUP, concurrency, (i) => engineSend(warm[i]!));
      await rawRange(warm, 0, WARMUP);
      return abba(
        label,
        count,
        checkpoint,
        (from, to) => runConcurrently(to - from, concurrency, (i) => engineSend(msgs[from + i]!)),
        (from, to) => rawRange(msgs, from, to),
      );
    };

    log(`sqlite: ${N} messages, ${CONCURRENCY} callers in flight`);
    const concurrent = await run(`sqlite c=${CONCURRENCY}`, N, CONCURRENCY, 3);
    log(`sqlite: ${N} messages, one at a time`);
    const sequential = await run('sqlite c=1', N, 1, 4);
    const rawName = 'raw better-sqlite3 prepared INSERT';
    return [
      row(`sqlite engine.createMessage c=${CONCURRENCY} (${N} msgs)`, concurrent.engine, concurrent.raw, rawName),
      row(`sqlite engine.createMessage c=1 (${N} msgs)`, sequential.engine, sequential.raw, rawName),
    ];
  } finally {
    await engine.close().catch(() => {});
    side?.close();
    raw?.close();
    rmSync(dir, { recursive: true, force: true });
    unregister();
  }
}

export default async function storageInsertBench(): Promise<BenchRow[]> {
  const only = process.env.BENCH_INSERT_ONLY; // 'postgres' | 'sqlite' while developing
  const rows: BenchRow[] = [];
  logLoad('start of storage-insert');
  if (only !== 'sqlite') rows.push(...(await postgresRows()));
  if (only !== 'postgres') rows.push(...(await sqliteRows()));
  logLoad('end of storage-insert');
  return rows;
}
