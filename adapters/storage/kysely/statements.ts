/**
 * The hot statements: fixed SQL text (built once per storage: the reads in
 * `kysely/read-statements.ts`, the writes in each dialect's `write-path.ts`), run without Kysely's
 * per-call compile and, where the driver allows, as prepared statements.
 *
 * Why: through Kysely every call compiles its query afresh and Postgres parses and plans it as an
 * unnamed statement, several times the cost of the same SQL as a named pg statement; on SQLite a
 * cached better-sqlite3 statement is an order of magnitude cheaper (bench/results). The statements
 * are the ones every send, page and search runs; everything else (and every transaction) stays on
 * Kysely.
 */
import { createHash } from 'node:crypto';

/** A statement whose text never changes, with the names of its parameters in bind order. */
export interface Statement {
  readonly text: string;
  /** Value names, one per positional parameter (Postgres `$n`, SQLite `?`). */
  readonly params: readonly string[];
  /**
   * Postgres: the server-side prepared-statement name (`parley_<hash of the text>`: one per text, so
   * two schemas or prefixes never collide on a shared pool). `''` = unnamed: planned with its values
   * every time (search, where the best plan depends on how common the words are).
   */
  readonly name: string;
}

export type Values = Readonly<Record<string, unknown>>;

/**
 * `style` `'numbered'` (Postgres: `$1`, a name used twice is one parameter) or `'positional'`
 * (SQLite: `?`, one per occurrence). `build` marks each parameter with `p('name')`.
 */
export function defineStatement(style: 'numbered' | 'positional', build: (p: (name: string) => string) => string, options: { prepared?: boolean } = {}): Statement {
  const params: string[] = [];
  const p = (name: string): string => {
    if (style === 'positional') {
      params.push(name);
      return '?';
    }
    let index = params.indexOf(name);
    if (index === -1) index = params.push(name) - 1;
    return `$${index + 1}`;
  };
  const text = build(p).trim();
  const name = options.prepared === false ? '' : `parley_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
  return { text, params, name };
}

/** The positional values of `statement` from named ones. */
export function bind(statement: Statement, values: Values): unknown[] {
  return statement.params.map((name) => {
    const value = values[name];
    if (value === undefined) throw new TypeError(`statement parameter ${name} is missing`);
    return value;
  });
}

/**
 * Runs hot statements outside any transaction: Postgres named statements on the adapter's pool,
 * SQLite cached prepared statements. Without one (a Postgres adapter built on a host's Kysely
 * instance, which has no pool to reach) the same text goes through Kysely unprepared.
 */
export interface StatementRunner {
  /** One statement in its own (autocommit) transaction; its rows. */
  query<R>(statement: Statement, values: readonly unknown[]): Promise<R[]>;
  /**
   * SQLite: runs `fn` synchronously in one `BEGIN IMMEDIATE` transaction on cached statements
   * (committed when it returns, rolled back when it throws), holding the database file's lock.
   */
  transaction?<T>(fn: (tx: SyncStatements) => T): Promise<T>;
}

export interface SyncStatements {
  all<R>(statement: Statement, values: readonly unknown[]): R[];
  /** The number of rows changed. */
  run(statement: Statement, values: readonly unknown[]): number;
}

/** What a row of a page carries besides the message columns (the `… as reactions`, `… as attachments` subqueries). */
export interface ExtrasColumns {
  /** JSON `[[ord, emoji, userId], …]` in any order (pg parses it; SQLite returns the text); `ord` gives reaction order. */
  reactions: unknown;
  /** JSON `[[ord, id, fileName, fileUrl, mimeType, fileSize, metadata, createdAt], …]` in any order; `ord` gives insertion order. */
  attachments: unknown;
}

/**
 * The statements a dialect provides. Parameter names are given per statement; `list` values are
 * what {@link HotStatementSet.list} made of an array (pg: the array, bound as `text[]`; SQLite:
 * JSON text read with `json_each`), so the text never depends on a list's length.
 */
export interface HotStatementSet {
  /** How a list of strings is bound (`extrasOf`'s `ids`). */
  list(values: readonly unknown[]): unknown;
  /** The bound search value for the terms (tsquery / FTS5 query text); null when nothing can match. */
  searchQuery(terms: readonly string[]): string | null;

  /** `{ session }` → the session columns. */
  sessionById: Statement;
  /** `{ session, user }` → session columns + `mem_*` membership columns (null for a non-member). */
  sessionAccess: Statement;
  /** `{ id }` → message columns + extras. */
  messageById: Statement;
  /** `{ ids }` (a list) → `id` + extras, one row per id. */
  extrasOf: Statement;
  /**
   * A page of history in one statement: every row carries `total` (session messageCount, or the
   * parent's replyCount) with a message's columns + extras; an empty page is one row of nulls
   * carrying the total, and an unknown session (or parent) gives no row. Rows come in no particular
   * order. `{ session, parent (thread only), before, after, limit, offset }`, `before`/`after`
   * always bound (open bounds when the caller gave none, so one text serves every page).
   */
  history: { top: { newest: Statement; oldest: Statement }; thread: { newest: Statement; oldest: Statement } };
  /** `{ session, after, limit }` → message columns + extras, by change_seq (no particular order). */
  changesSince: Statement;
  /**
   * Search, count first: `{ session, query }` → `total` (every hit) and `size` (the session's
   * last seq: about how many rows a walk of its seq index passes per hit).
   */
  searchCount: Statement;
  /**
   * The page (message columns + extras, no particular order) as `order by seq desc limit`: the
   * database may walk the session's seq index newest first, testing each message — about
   * (offset + limit) × size / total rows — so only used when that is few.
   * `{ session, query, limit, offset }`.
   */
  searchWalk: Statement;
  /** The page by gathering every hit (full-text index) and keeping the newest: never a walk. Same values. */
  searchGather: Statement;
}

/**
 * The authorization a hot statement does itself (`requireMembership`, `HistoryQuery.authorize`,
 * `SearchQuery.authorize`): true unless `gate` (a boolean expression) is set and `user` is not a
 * member of `session`. `members` is the quoted members table.
 */
export function memberCheck(members: string, gate: string, session: string, user: string): string {
  return `(not ${gate} or exists (select 1 from ${members} mem where mem.session_id = ${session} and mem.user_id = ${user}))`;
}
