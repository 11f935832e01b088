/**
 * Reads on a 1M-message Postgres table (BENCH_MESSAGES, default 1,000,000), loaded by
 * `support/load.ts` into the adapter's own tables: one big session (20% of the messages) and
 * ~100-message sessions for the rest, with replies, reactions, attachments and soft deletes.
 *
 * - History: 50-message pages through `engine.getMessageHistory` as a member — at random offsets
 *   0–1,000 from the newest and at random `before` cursors in the big session, and the latest page
 *   of random small sessions — p50/p99 over BENCH_HISTORY_PAGES (default 600) pages each, against
 *   the same page (messages, total, reactions, attachments) written by hand as one SQL statement.
 *   Statements per page are counted on the pool's clients, for the engine's page (its reader
 *   check is part of the page statement) and for `storage.getHistory` alone.
 * - Search: `engine.searchMessages` (page of 20 + total) for words of four frequencies in the big
 *   session, against the minimal raw SQL for the same page and count (a page query
 *   `… where session_id = $1 and search_vector @@ to_tsquery('simple', $2) order by seq desc limit 20`
 *   with each message's reactions and attachments, as the engine returns them, and its `count(*)`:
 *   two statements) and against the same page and count with
 *   `content ILIKE '%word%'` (which also matches inside longer words, so its counts differ). The
 *   engine counts at most `limits.maxSearchCount` (1,000) matches ("1,000+"), so the raw baseline
 *   caps its count the same way; the exact raw count and an ILIKE with a capped count are reported
 *   as references.
 *
 * The run has its own schema (random name), dropped at the end. Knobs: BENCH_MESSAGES (e.g.
 * 100000 for a quick run), BENCH_HISTORY_PAGES.
 */
import pg from 'pg';
import { ChatEngine } from '../src/index.js';
import { PostgresStorage } from '../adapters/storage/postgres/index.js';
import { summarize, type BenchRow } from './lib.js';
import { loadHistory } from './support/load.js';
import { cleanupOnSignal, countingPool, dropSchema, log, logLoad, PG_URL, randomSchema, type StatementCounter } from './support/pg.js';
import { rng, vocabulary } from './support/text.js';

const TOTAL = envInt('BENCH_MESSAGES', 1_000_000);
const PAGES = envInt('BENCH_HISTORY_PAGES', 600);
const PAGE_SIZE = 50;
const SEARCH_PAGE = 20;
/** Vocabulary ranks of the search words: very common, common, uncommon, rare. */
const SEARCH_RANKS = [0, 19, 399, 7_999];
/** Per word and per method: at most this many samples, or this much time once the minimum is reached. */
const SEARCH_MAX_SAMPLES = 200;
const SEARCH_MIN_SAMPLES = 20;
const SEARCH_MAX_MS = 4_000;
const ILIKE_MAX_SAMPLES = 40;
const ILIKE_MIN_SAMPLES = 10;
const HISTORY_P99_TARGET_MS = 5;
const HISTORY_QUERY_TARGET = 3;
const SEARCH_RAW_TARGET = 1.2;
const SEARCH_ILIKE_TARGET = 50;
/** The engine's default limits.maxSearchCount. */
const SEARCH_COUNT_CAP = 1_000;

function envInt(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : fallback;
}

const COLUMNS =
  'm.id, m.session_id, m.user_id, m.agent_id, m.role, m.content, m.metadata, m.tokens, m.parent_message_id, m.reply_count, ' +
  'm.seq, m.change_seq, m.client_message_id, m.is_edited, m.edited_at, m.is_deleted, m.deleted_at, m.created_at, m.updated_at';

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  const result = await fn();
  return [performance.now() - start, result];
}

export default async function storageReadBench(): Promise<BenchRow[]> {
  const schema = randomSchema('bench_read');
  log(`postgres: schema ${schema}, ${TOTAL.toLocaleString('en-US')} messages`);
  const counter: StatementCounter = { count: 0 };
  const pool = countingPool(counter, { max: 10 });
  const raw = new pg.Pool({ connectionString: PG_URL, max: 4 });
  raw.on('error', () => {});
  const storage = new PostgresStorage({ pool, schema });
  const engine = new ChatEngine({ storage });
  const unregister = cleanupOnSignal(() => dropSchema(schema));
  try {
    await engine.init();
    const plan = await loadHistory(schema, TOTAL);
    log(
      `loaded: ${plan.sessionIds.length} sessions, big one ${plan.messageCount[0]} top-level messages (last seq ${plan.lastSeq[0]}), ` +
        `${plan.replies} replies, ${plan.reactions} reactions, ${plan.attachments} attachments, ${plan.deleted} deleted`,
    );
    logLoad('before history');
    const rows: BenchRow[] = [];
    rows.push(...(await historyRows(engine, storage, counter, raw, schema, plan)));
    logLoad('before search');
    rows.push(...(await searchRows(engine, counter, raw, schema)));
    logLoad('end of storage-read');
    return rows;
  } finally {
    await engine.close().catch(() => {});
    await pool.end().catch(() => {});
    await raw.end().catch(() => {});
    await dropSchema(schema);
    unregister();
  }
}

// ---- history ---------------------------------------------------------------------------------------

interface PageRequest {
  sessionId: string;
  userId: string;
  options: { limit: number; offset?: number; before?: number };
}

async function historyRows(
  engine: ChatEngine,
  storage: PostgresStorage,
  counter: StatementCounter,
  raw: pg.Pool,
  schema: string,
  plan: Awaited<ReturnType<typeof loadHistory>>,
): Promise<BenchRow[]> {
  const random = rng(0x4157);
  const bigLast = plan.lastSeq[0]!;
  const small = plan.sessionIds.length - 1;
  const kinds: { name: string; next: () => PageRequest }[] = [
    {
      name: 'big session, offset 0-1000',
      next: () => ({ sessionId: 'big', userId: 'u1', options: { limit: PAGE_SIZE, offset: Math.floor(random() * 1001) } }),
    },
    {
      name: 'big session, before cursor',
      next: () => ({ sessionId: 'big', userId: 'u1', options: { limit: PAGE_SIZE, before: 2 + Math.floor(random() * (bigLast - 1)) } }),
    },
  ];
  if (small > 0) {
    kinds.push({
      name: 'small sessions, latest page',
      next: () => {
        const s = 1 + Math.floor(random() * small);
        return { sessionId: plan.sessionIds[s]!, userId: plan.members[s]![0]!, options: { limit: PAGE_SIZE, offset: 0 } };
      },
    });
  }
  // The same page written by hand as one statement: messages, total, reactions and attachments
  // (aggregated only for the 50 rows of the page, after OFFSET/LIMIT).
  const t = `"${schema}"`;
  const rawPage = (r: PageRequest) =>
    raw.query(
      `select p.*, (select s.message_count from ${t}.chat_sessions s where s.id = $1) as total,
         (select coalesce(json_agg(json_build_array(x.emoji, x.user_id) order by x.ord), '[]') from ${t}.chat_message_reactions x where x.message_id = p.id) as reactions,
         (select coalesce(json_agg(a order by a.ord), '[]') from ${t}.chat_message_attachments a where a.message_id = p.id) as attachments
       from (select ${COLUMNS} from ${t}.chat_messages m
              where m.session_id = $1 and m.parent_message_id is null ${r.options.before !== undefined ? 'and m.seq < $3' : ''}
              order by m.seq desc limit ${PAGE_SIZE} offset $2) p
       order by p.seq`,
      r.options.before !== undefined ? [r.sessionId, r.options.offset ?? 0, r.options.before] : [r.sessionId, r.options.offset ?? 0],
    );

  const rows: BenchRow[] = [];
  const statementsPerPage = new Map<number, number>();
  let withReactions = 0;
  let withAttachments = 0;
  let pages = 0;
  for (const kind of kinds) {
    // Warm-up (plans, caches, JIT), then engine and raw alternate page by page.
    for (let i = 0; i < 100; i++) {
      const r = kind.next();
      await engine.getMessageHistory(r.sessionId, r.userId, r.options);
      await rawPage(r);
    }
    const engineMs: number[] = [];
    const rawMs: number[] = [];
    for (let i = 0; i < PAGES; i++) {
      const r = kind.next();
      const before = counter.count;
      const [ms, page] = await time(() => engine.getMessageHistory(r.sessionId, r.userId, r.options));
      const statements = counter.count - before;
      statementsPerPage.set(statements, (statementsPerPage.get(statements) ?? 0) + 1);
      engineMs.push(ms);
      if (r.options.before === undefined && page.messages.length !== Math.max(0, Math.min(PAGE_SIZE, page.total - (r.options.offset ?? 0)))) {
        throw new Error(`history page of ${r.sessionId} at offset ${r.options.offset} has ${page.messages.length} messages of ${page.total}`);
      }
      withReactions += page.messages.filter((m) => m.reactions.length > 0).length;
      withAttachments += page.messages.filter((m) => m.attachments.length > 0).length;
      pages++;
      rawMs.push((await time(() => rawPage(r)))[0]);
    }
    const e = summarize(engineMs);
    const b = summarize(rawMs);
    log(`history ${kind.name}: p50 ${e.p50.toFixed(2)} ms, p99 ${e.p99.toFixed(2)} ms (raw p50 ${b.p50.toFixed(2)}, p99 ${b.p99.toFixed(2)})`);
    const baseline = 'raw 1-statement page, same content';
    rows.push(
      { scenario: 'storage-read', metric: `history p50, ${kind.name}`, value: e.p50, unit: 'ms', baseline: { name: baseline, value: b.p50 }, ratio: b.p50 / e.p50 },
      {
        scenario: 'storage-read',
        metric: `history p99, ${kind.name}`,
        value: e.p99,
        unit: 'ms',
        baseline: { name: baseline, value: b.p99 },
        ratio: b.p99 / e.p99,
        target: `< ${HISTORY_P99_TARGET_MS} ms`,
        pass: e.p99 < HISTORY_P99_TARGET_MS,
      },
    );
  }
  log(`history: ${pages} pages, ${(withReactions / pages).toFixed(1)} messages with reactions and ${(withAttachments / pages).toFixed(1)} with attachments per page`);

  // Statements: the engine's page (its reader checked in the page statement under the built-in policy) and storage.getHistory alone.
  const storageCounts = new Map<number, number>();
  for (let i = 0; i < 100; i++) {
    const r = kinds[i % kinds.length]!.next();
    const before = counter.count;
    await storage.getHistory(r.sessionId, { limit: PAGE_SIZE, offset: r.options.offset ?? 0, parentMessageId: null, ...(r.options.before !== undefined && { before: r.options.before }) });
    const n = counter.count - before;
    storageCounts.set(n, (storageCounts.get(n) ?? 0) + 1);
  }
  const before = counter.count;
  await storage.getSessionAccess('big', 'u1');
  const accessStatements = counter.count - before;
  const maxEngine = Math.max(...statementsPerPage.keys());
  const maxStorage = Math.max(...storageCounts.keys());
  log(`history statements per page via engine: ${JSON.stringify(Object.fromEntries(statementsPerPage))}; storage.getHistory alone: ${JSON.stringify(Object.fromEntries(storageCounts))}; access check: ${accessStatements}`);
  rows.push(
    {
      scenario: 'storage-read',
      metric: 'history statements/page, storage.getHistory',
      value: maxStorage,
      unit: 'stmts',
      target: `<= ${HISTORY_QUERY_TARGET}`,
      pass: maxStorage <= HISTORY_QUERY_TARGET,
    },
    {
      scenario: 'storage-read',
      metric: 'history statements/page, engine (reader checked in the page statement)',
      value: maxEngine,
      unit: 'stmts',
    },
  );
  return rows;
}

// ---- search ----------------------------------------------------------------------------------------

async function searchRows(engine: ChatEngine, counter: StatementCounter, raw: pg.Pool, schema: string): Promise<BenchRow[]> {
  const vocab = vocabulary();
  const words = SEARCH_RANKS.map((rank) => vocab.words[rank]!);
  const table = `"${schema}".chat_messages`;
  // The minimal SQL for the same page and total: the page, then the count (two statements). The
  // engine counts at most limits.maxSearchCount (default 1,000) matches, so the like-for-like raw
  // count is capped the same way; the exact count is measured too, for reference.
  const cap = (sql: string, capped: boolean) => (capped ? `select count(*)::int as n from (select 1 ${sql} limit ${SEARCH_COUNT_CAP + 1}) x` : `select count(*)::int as n ${sql}`);
  // The page carries what the engine's does: each message's reactions and attachments.
  const rawSearch = async (word: string, capped = true) => {
    const page = await raw.query(
      `select p.*,
         (select coalesce(json_agg(json_build_array(x.emoji, x.user_id) order by x.ord), '[]') from "${schema}".chat_message_reactions x where x.message_id = p.id) as reactions,
         (select coalesce(json_agg(a order by a.ord), '[]') from "${schema}".chat_message_attachments a where a.message_id = p.id) as attachments
       from (
         select ${COLUMNS} from ${table} m
         where m.session_id = $1 and m.search_vector @@ to_tsquery('simple', $2)
         order by m.seq desc limit ${SEARCH_PAGE}
       ) p`,
      ['big', word],
    );
    const count = await raw.query(cap(`from ${table} m where m.session_id = $1 and m.search_vector @@ to_tsquery('simple', $2)`, capped), ['big', word]);
    return { ids: page.rows.map((r) => r.id as string), total: count.rows[0]!.n as number };
  };
  const ilike = async (word: string, capped = false) => {
    const page = await raw.query(
      `select ${COLUMNS} from ${table} m
        where m.session_id = $1 and m.content ilike $2
        order by m.seq desc limit ${SEARCH_PAGE}`,
      ['big', `%${word}%`],
    );
    const count = await raw.query(cap(`from ${table} m where m.session_id = $1 and m.content ilike $2`, capped), ['big', `%${word}%`]);
    return { ids: page.rows.map((r) => r.id as string), total: count.rows[0]!.n as number };
  };
  const search = (word: string) => engine.searchMessages('big', 'u1', word, { limit: SEARCH_PAGE });

  const rows: BenchRow[] = [];
  const statements = new Map<number, number>();
  for (const word of words) {
    // Same answer as the raw query (and warm-up).
    const [engineFirst, rawFirst, rawExact] = [await search(word), await rawSearch(word), await rawSearch(word, false)];
    const ilikeFirst = await ilike(word);
    const expectedTotal = Math.min(rawExact.total, SEARCH_COUNT_CAP);
    if (
      engineFirst.total !== expectedTotal ||
      engineFirst.totalExact !== rawExact.total <= SEARCH_COUNT_CAP ||
      engineFirst.messages.map((m) => m.id).join() !== rawFirst.ids.join()
    ) {
      throw new Error(`search "${word}": engine returned ${engineFirst.total} hits (exact: ${engineFirst.totalExact}), raw tsvector ${rawExact.total}`);
    }
    const engineMs: number[] = [];
    const rawMs: number[] = [];
    const rawExactMs: number[] = [];
    const ilikeMs: number[] = [];
    const ilikeCappedMs: number[] = [];
    const start = performance.now();
    while (engineMs.length < SEARCH_MAX_SAMPLES && (performance.now() - start < SEARCH_MAX_MS || engineMs.length < SEARCH_MIN_SAMPLES)) {
      const before = counter.count;
      engineMs.push((await time(() => search(word)))[0]);
      const n = counter.count - before;
      statements.set(n, (statements.get(n) ?? 0) + 1);
      rawMs.push((await time(() => rawSearch(word)))[0]);
    }
    const exactStart = performance.now();
    while (rawExactMs.length < ILIKE_MAX_SAMPLES && (performance.now() - exactStart < SEARCH_MAX_MS || rawExactMs.length < ILIKE_MIN_SAMPLES)) {
      rawExactMs.push((await time(() => rawSearch(word, false)))[0]);
    }
    const ilikeStart = performance.now();
    while (ilikeMs.length < ILIKE_MAX_SAMPLES && (performance.now() - ilikeStart < SEARCH_MAX_MS || ilikeMs.length < ILIKE_MIN_SAMPLES)) {
      ilikeMs.push((await time(() => ilike(word)))[0]);
    }
    const cappedStart = performance.now();
    while (ilikeCappedMs.length < ILIKE_MAX_SAMPLES && (performance.now() - cappedStart < SEARCH_MAX_MS || ilikeCappedMs.length < ILIKE_MIN_SAMPLES)) {
      ilikeCappedMs.push((await time(() => ilike(word, true)))[0]);
    }
    const e = summarize(engineMs);
    const b = summarize(rawMs);
    const x = summarize(rawExactMs);
    const l = summarize(ilikeMs);
    const lc = summarize(ilikeCappedMs);
    const label = `"${word}" (${rawExact.total.toLocaleString('en-US')} hits)`;
    log(
      `search ${label}: engine p50 ${e.p50.toFixed(2)} p99 ${e.p99.toFixed(2)} ms (${engineMs.length} runs); raw p50 ${b.p50.toFixed(2)} p99 ${b.p99.toFixed(2)}; ` +
        `ILIKE p50 ${l.p50.toFixed(1)} p99 ${l.p99.toFixed(1)} ms (${ilikeMs.length} runs, ${ilikeFirst.total} hits)`,
    );
    const rawName = `raw tsvector page + count (capped at ${SEARCH_COUNT_CAP.toLocaleString('en-US')})`;
    rows.push(
      {
        scenario: 'storage-read',
        metric: `search p50 ${label}`,
        value: e.p50,
        unit: 'ms',
        baseline: { name: rawName, value: b.p50 },
        ratio: b.p50 / e.p50,
        target: `<= ${SEARCH_RAW_TARGET}x raw`,
        pass: e.p50 <= SEARCH_RAW_TARGET * b.p50,
      },
      {
        scenario: 'storage-read',
        metric: `search p99 ${label}, ${engineMs.length} runs`,
        value: e.p99,
        unit: 'ms',
        baseline: { name: rawName, value: b.p99 },
        ratio: b.p99 / e.p99,
        target: `<= ${SEARCH_RAW_TARGET}x raw`,
        pass: e.p99 <= SEARCH_RAW_TARGET * b.p99,
      },
      {
        scenario: 'storage-read',
        metric: `search p50 ${label} vs ILIKE`,
        value: e.p50,
        unit: 'ms',
        baseline: { name: `ILIKE page + count, ${ilikeMs.length} runs`, value: l.p50 },
        ratio: l.p50 / e.p50,
        target: `>= ${SEARCH_ILIKE_TARGET}x faster`,
        pass: l.p50 / e.p50 >= SEARCH_ILIKE_TARGET,
      },
      {
        scenario: 'storage-read',
        metric: `  reference: "${word}" raw tsvector page + exact count`,
        value: x.p50,
        unit: 'ms',
      },
      {
        scenario: 'storage-read',
        metric: `  reference: "${word}" vs ILIKE page + capped count`,
        value: e.p50,
        unit: 'ms',
        baseline: { name: `ILIKE page + capped count, ${ilikeCappedMs.length} runs`, value: lc.p50 },
        ratio: lc.p50 / e.p50,
      },
    );
  }
  log(`search statements per call via engine: ${JSON.stringify(Object.fromEntries(statements))}`);
  rows.push({ scenario: 'storage-read', metric: 'search statements/call, engine (reader checked in the count)', value: Math.max(...statements.keys()), unit: 'stmts' });
  return rows;
}
