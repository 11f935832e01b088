/** What SQLite does its own way: types, FTS5 search, locking, error codes. */
import { sql } from 'kysely';
import type { JsonObject } from '../../../src/model.js';
import type { DbErrorInfo, SqlDialect } from '../kysely/dialect.js';
import { sqliteFlavour } from './flavour.js';
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

  addKeyColumns(table, { id, ord }) {
    let t = table;
    // `ord` is an alias of the rowid: increasing, so it gives insertion order for free.
    if (ord) t = t.addColumn('ord', 'integer', (c) => c.primaryKey());
    if (id) t = t.addColumn('id', 'text', (c) => (ord ? c.notNull().unique() : c.notNull().primaryKey()));
    return t;
  },

  async createSearch(db, t) {
    const messages = t.ref('messages');
    const fts = t.ref('messages_fts');
    // unicode61 (words = runs of letters and digits, Unicode case folding) with diacritics kept:
    // "cafe" must not find "café", as in Postgres' `simple` configuration and the memory adapter.
    await sql`create virtual table ${fts} using fts5(
        content, content=${sql.lit(t.raw('messages'))}, content_rowid='ord',
        tokenize="unicode61 remove_diacritics 0"
      )`.execute(db);
    // Triggers keep the index in step with every write, in the writer's transaction. Deleted
    // messages are not indexed at all.
    await sql`create trigger ${sql.id(t.raw('messages_fts_insert'))} after insert on ${messages}
      when new.is_deleted = 0 begin
        insert into ${fts} (rowid, content) values (new.ord, new.content);
      end`.execute(db);
    await sql`create trigger ${sql.id(t.raw('messages_fts_delete'))} after delete on ${messages}
      when old.is_deleted = 0 begin
        insert into ${fts} (${fts}, rowid, content) values ('delete', old.ord, old.content);
      end`.execute(db);
    await sql`create trigger ${sql.id(t.raw('messages_fts_update'))} after update of content, is_deleted on ${messages} begin
        insert into ${fts} (${fts}, rowid, content) select 'delete', old.ord, old.content where old.is_deleted = 0;
        insert into ${fts} (rowid, content) select new.ord, new.content where new.is_deleted = 0;
      end`.execute(db);
  },

  // `columnsize=0`: FTS5 keeps no per-row token counts (its docsize table), which only bm25()
  // ranking reads — search orders by seq. That is one B-tree write less per indexed message:
  // 41 against 53 µs of CPU per message inserted (bench: 64-message batches). The triggers name
  // the table, so they keep working on the new one.
  async upgradeSearch(db, t) {
    const fts = t.ref('messages_fts');
    await sql`drop table ${fts}`.execute(db);
    await sql`create virtual table ${fts} using fts5(
        content, content=${sql.lit(t.raw('messages'))}, content_rowid='ord',
        tokenize="unicode61 remove_diacritics 0", columnsize=0
      )`.execute(db);
    await sql`insert into ${fts} (${fts}) values ('rebuild')`.execute(db);
  },

  // FTS5 merges no segments on its own any more: every write transaction does a bounded step of it
  // (the write path's `transactionEnd`, sqlite/write-path.ts). The setting is stored in the index's config table.
  async scheduleSearchMerges(db, t) {
    const fts = t.ref('messages_fts');
    await sql`insert into ${fts} (${fts}, rank) values ('automerge', 0)`.execute(db);
  },

  // Transactions start with BEGIN IMMEDIATE (see SqliteStorage): the database lock is taken up
  // front, so sessions need no row locks and read-then-write never fails half-way.
  async lockSessions() {},

  flavour: sqliteFlavour,
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
