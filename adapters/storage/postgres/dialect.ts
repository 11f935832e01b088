/** What Postgres does its own way: types, full-text search, row locks, error codes. */
import type { JsonObject } from '../../../src/model.js';
import type { DbErrorInfo, SqlDialect } from '../kysely/dialect.js';
import { postgresFlavour } from './flavour.js';
import { createPostgresSearch, postgresMigrations } from './migrations.js';
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

  createSearch: createPostgresSearch,

  addKeyColumns(table, { id, ord }) {
    const withId = id ? table.addColumn('id', 'text', (c) => c.primaryKey()) : table;
    // `ord` only orders rows (join order, reaction order); it is the key only where there is no id.
    return ord ? withId.addColumn('ord', 'bigint', (c) => (id ? c.generatedByDefaultAsIdentity().notNull() : c.generatedByDefaultAsIdentity().primaryKey())) : withId;
  },

  async lockSessions(trx, t, sessionIds) {
    // FOR UPDATE locks rows as the sorted scan returns them: ascending id, the order every writer uses.
    await trx.selectFrom(t.as('sessions', 's')).select('s.id').where('s.id', 'in', sessionIds).orderBy('s.id').forUpdate().execute();
  },

  flavour: postgresFlavour,
  migrations: postgresMigrations,
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
