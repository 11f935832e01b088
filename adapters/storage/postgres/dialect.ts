/** What Postgres does its own way: types, full-text search, row locks, error codes. */
import { sql } from 'kysely';
import type { JsonObject } from '../../../src/model.js';
import type { DbErrorInfo, SqlDialect } from '../kysely/dialect.js';
import { postgresFlavour } from './flavour.js';
import { postgresWritePath } from './write-path.js';

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
]);

/** SQLSTATEs meaning "the server cannot serve this now" rather than "this request is wrong". */
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown (pg_terminate_backend, server stop)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, recovery)
  '57P05', // idle_session_timeout
  '57014', // query_canceled (statement_timeout)
  '25P03', // idle_in_transaction_session_timeout
  '55P03', // lock_not_available (lock_timeout)
  '53000', // insufficient_resources
  '53100', // disk_full
  '53200', // out_of_memory
  '53300', // too_many_connections
  '58000', // system_error
  '58030', // io_error
]);

// pg and Kysely report a dead connection or a missed deadline in words, without a code.
const UNAVAILABLE_MESSAGE =
  /connection terminated|connection error|not queryable|timeout exceeded when trying to connect|query read timeout|has been discarded|driver has already been destroyed|after calling end on the pool|terminating connection|the database system is|server closed the connection|socket hang up/i;

/** Every printable ASCII character that is not a letter or digit, as an E'' literal (a constant, not input). */
const ASCII_PUNCTUATION = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i))
  .filter((c) => !/[A-Za-z0-9]/.test(c))
  .join('');
const PUNCTUATION = `E'${ASCII_PUNCTUATION.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const PUNCTUATION_SPACES = `'${' '.repeat(ASCII_PUNCTUATION.length)}'`;
/** The same characters as one bracket expression of ranges (! to /, : to @, [ to `, { to ~). */
const ASCII_PUNCTUATION_CLASS = '[!-/:-@[-`{-~]';

export const postgresDialect: SqlDialect = {
  name: 'postgres',
  types: { text: 'text', integer: 'integer', bigint: 'bigint', timestamp: 'timestamptz', json: 'jsonb', boolean: 'boolean' },
  messagesNeedRowKey: false,

  toDate: (date) => date,
  toBool: (value) => value,
  fromDate: (value) => (value instanceof Date ? value : new Date(value as string)).toISOString(),
  fromBool: (value) => value === true || value === 't' || value === 'true' || value === 1,
  fromJson: (value) => {
    if (value == null) return null;
    // A host pool may have turned off jsonb parsing.
    return (typeof value === 'string' ? JSON.parse(value) : value) as JsonObject;
  },

  addKeyColumns(table, { id, ord }) {
    let t = table;
    if (id) t = t.addColumn('id', 'text', (c) => c.primaryKey());
    // `ord` only orders rows (join order, reaction order); it is the key only where there is no id.
    if (ord) t = t.addColumn('ord', 'bigint', (c) => (id ? c.generatedByDefaultAsIdentity().notNull() : c.generatedByDefaultAsIdentity().primaryKey()));
    return t;
  },

  async createSearch(db, t) {
    // A stored tsvector kept by Postgres itself: `simple` = lower-cased whole words, no stemming,
    // no stop words. A deleted message has an empty vector, so it can never match.
    // ASCII punctuation becomes spaces first, so the parser never glues words into one token
    // (`foo.bar` as a host name, `a@b.c` as an e-mail, `<b>` as a tag): words are runs of letters
    // and digits, the rule every storage shares.
    await sql`alter table ${t.ref('messages')} add column search_vector tsvector generated always as (
        case when is_deleted then ''::tsvector
        else to_tsvector('simple'::regconfig, translate(content, ${sql.raw(PUNCTUATION)}, ${sql.raw(PUNCTUATION_SPACES)})) end
      ) stored`.execute(db);
    await db.schema.createIndex(t.raw('messages_search_idx')).on(t.raw('messages')).using('gin').column('search_vector').execute();
  },

  // The search vector from a trigger instead of the generated expression above (migration 0006).
  // Measured per message, engine sends at 32 callers: Postgres CPU 97-108 µs → 65-80 µs, sends/s
  // 6.2-6.8k → 7.1-9.8k. Two causes: `translate()` looks every character up in the punctuation list
  // (22 µs for a 100-character message against 3.5 µs for the same replacement as one regular
  // expression, which gives the same vector); and a stored generated column is recomputed on every
  // update of the row — a reaction's change_seq, a reply count — while the trigger runs only when
  // the content or the deletion flag is written. `drop expression` keeps the stored vectors (no
  // table rewrite); rows written since get the same vector as before.
  async moveSearchVectorToTrigger(db, t) {
    const fn = t.ref('messages_search_vector');
    const { rows } = await sql<{ generated: boolean }>`select a.attgenerated = 's' as generated from pg_attribute a
      where a.attrelid = ${t.quoted('messages')}::regclass and a.attname = 'search_vector'`.execute(db);
    if (rows[0]?.generated) await sql`alter table ${t.ref('messages')} alter column search_vector drop expression`.execute(db);
    await sql`create or replace function ${fn}() returns trigger language plpgsql as $$
      begin
        new.search_vector := case when new.is_deleted then ''::tsvector
          else to_tsvector('simple'::regconfig, regexp_replace(new.content, ${sql.lit(ASCII_PUNCTUATION_CLASS)}, ' ', 'g')) end;
        return new;
      end $$`.execute(db);
    await sql`drop trigger if exists ${sql.id(t.raw('messages_search_vector'))} on ${t.ref('messages')}`.execute(db);
    await sql`create trigger ${sql.id(t.raw('messages_search_vector'))} before insert or update of content, is_deleted
      on ${t.ref('messages')} for each row execute function ${fn}()`.execute(db);
  },

  async tuneSearch(db, t) {
    // GIN's "fast update" appends new entries to a pending list that the insert which fills it
    // merges into the index — inside that insert's transaction, so a send's commit, and with it the
    // session row lock every later send of the session waits on, stalls while it runs. At the 4 MB
    // default that is ~20k messages' words and a 100-200 ms stall every ~10 s at 2,000 sends/s
    // (engine.createMessage p99 47 ms); at 64 kB (the minimum) the merges are ~60x smaller,
    // p99 9 ms, max 35 ms (an open loop of sends on one session, 30 s). Searches gain too: every
    // search reads the whole pending list.
    await sql`alter index ${t.ref('messages_search_idx')} set (gin_pending_list_limit = 64)`.execute(db);
  },

  async lockSessions(trx, t, sessionIds) {
    // FOR UPDATE locks rows as the sorted scan returns them: ascending id, the order every writer uses.
    await trx.selectFrom(t.as('sessions', 's')).select('s.id').where('s.id', 'in', sessionIds).orderBy('s.id').forUpdate().execute();
  },

  flavour: postgresFlavour,
  writePath: postgresWritePath,

  classifyError(error): DbErrorInfo | null {
    if (typeof error !== 'object' || error === null) return null;
    const e = error as { code?: unknown; constraint?: unknown; message?: unknown };
    const code = typeof e.code === 'string' ? e.code : '';
    if (code === '23505') return { kind: 'unique', detail: String(e.constraint ?? '') };
    if (code === '23503') return { kind: 'foreign_key', detail: String(e.constraint ?? '') };
    if (code === '40001' || code === '40P01') return { kind: 'retry' };
    if (code.startsWith('08') || UNAVAILABLE_SQLSTATES.has(code) || NETWORK_CODES.has(code)) return { kind: 'unavailable' };
    if (typeof e.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)) return { kind: 'unavailable' };
    return null;
  },
};
