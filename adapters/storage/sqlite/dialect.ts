/** What SQLite does its own way: types, FTS5 search, locking, error codes. */
import type { JsonObject } from '../../../src/model.js';
import type { DbErrorInfo, SqlDialect } from '../kysely/dialect.js';
import { sqliteFlavour } from './flavour.js';
import { createSqliteSearch, sqliteMigrations } from './migrations.js';
import { sqliteWritePath } from './write-path.js';

/** SQLite result codes (primary or extended) meaning "cannot serve this now". */
const UNAVAILABLE_CODE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|PROTOCOL|NOMEM|INTERRUPT)/;

export const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  types: { text: 'text', integer: 'integer', bigint: 'integer', timestamp: 'text', json: 'text', boolean: 'integer' },
  // The FTS5 external-content table joins on an integer rowid that VACUUM never renumbers: an
  // INTEGER PRIMARY KEY (`ord`).
  messagesNeedRowKey: true,

  // ISO-8601 UTC strings sort chronologically and come back unchanged.
  toDate: (date) => date.toISOString(),
  toBool: (value) => (value ? 1 : 0),
  fromDate: (value) => (typeof value === 'string' ? value : new Date(value as number).toISOString()),
  fromBool: (value) => value === 1 || value === true || value === 1n,
  fromJson: (value) => (value == null ? null : (JSON.parse(value as string) as JsonObject)),

  createSearch: createSqliteSearch,

  addKeyColumns(table, { id, ord }) {
    // `ord` is an alias of the rowid: increasing, so it gives insertion order for free.
    const withOrd = ord ? table.addColumn('ord', 'integer', (c) => c.primaryKey()) : table;
    return id ? withOrd.addColumn('id', 'text', (c) => (ord ? c.notNull().unique() : c.notNull().primaryKey())) : withOrd;
  },

  // Transactions start with BEGIN IMMEDIATE (see SqliteStorage): the database lock is taken up
  // front, so sessions need no row locks and read-then-write never fails half-way.
  async lockSessions() {},

  flavour: sqliteFlavour,
  migrations: sqliteMigrations,
  writePath: sqliteWritePath,

  classifyError(error): DbErrorInfo | null {
    if (typeof error !== 'object' || error === null) return null;
    const e = error as { code?: unknown; message?: unknown };
    const code = typeof e.code === 'string' ? e.code : '';
    const message = typeof e.message === 'string' ? e.message : '';
    if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return { kind: 'unique', detail: message };
    if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return { kind: 'foreign_key', detail: message };
    if (UNAVAILABLE_CODE.test(code)) return { kind: 'unavailable' };
    // better-sqlite3 after close(), a database that went away, or a file it cannot open (its
    // directory is missing: a TypeError without a code).
    if (/database connection is not open|database is locked|driver has already been destroyed|cannot open database/i.test(message)) return { kind: 'unavailable' };
    return null;
  },
};
