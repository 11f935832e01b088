/**
 * SQLite's own migrations (merged by name into the shared list, see kysely/migrations.ts) and its
 * full-text search DDL: an FTS5 external-content index kept by triggers.
 */
import { sql, type Kysely, type Migration } from 'kysely';
import type { TableNames } from '../kysely/schema.js';

export function sqliteMigrations(t: TableNames): Record<string, Migration> {
  return {
    '0003_search_upgrade': { up: (db) => upgradeSearch(db, t) },
    '0005_search_merge_schedule': { up: (db) => scheduleSearchMerges(db, t) },
  };
}

export async function createSqliteSearch(db: Kysely<any>, t: TableNames): Promise<void> {
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
}

// `columnsize=0`: FTS5 keeps no per-row token counts (its docsize table), which only bm25()
// ranking reads — search orders by seq. That is one B-tree write less per indexed message. The
// triggers name the table, so they keep working on the new one.
async function upgradeSearch(db: Kysely<any>, t: TableNames): Promise<void> {
  const fts = t.ref('messages_fts');
  await sql`drop table ${fts}`.execute(db);
  await sql`create virtual table ${fts} using fts5(
        content, content=${sql.lit(t.raw('messages'))}, content_rowid='ord',
        tokenize="unicode61 remove_diacritics 0", columnsize=0
      )`.execute(db);
  await sql`insert into ${fts} (${fts}) values ('rebuild')`.execute(db);
}

// FTS5 merges no segments on its own any more: every write transaction does a bounded step of it
// (the write path's `transactionEnd`, sqlite/write-path.ts). The setting is stored in the index's
// config table.
async function scheduleSearchMerges(db: Kysely<any>, t: TableNames): Promise<void> {
  const fts = t.ref('messages_fts');
  await sql`insert into ${fts} (${fts}, rank) values ('automerge', 0)`.execute(db);
}
