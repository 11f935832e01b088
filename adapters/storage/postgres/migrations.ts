/**
 * Postgres' own migrations (merged by name into the shared list, see kysely/migrations.ts) and its
 * full-text search DDL: a `tsvector` of `simple` words with a GIN index.
 */
import { sql, type Kysely, type Migration } from 'kysely';
import type { TableNames } from '../kysely/schema.js';

/** Every printable ASCII character that is not a letter or digit, as an E'' literal (a constant, not input). */
const ASCII_PUNCTUATION = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i))
  .filter((c) => !/[A-Za-z0-9]/.test(c))
  .join('');
const PUNCTUATION = `E'${ASCII_PUNCTUATION.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const PUNCTUATION_SPACES = `'${' '.repeat(ASCII_PUNCTUATION.length)}'`;
/** The same characters as one bracket expression of ranges (! to /, : to @, [ to `, { to ~). */
const ASCII_PUNCTUATION_CLASS = '[!-/:-@[-`{-~]';

export function postgresMigrations(t: TableNames): Record<string, Migration> {
  return {
    '0004_search_index_tuning': { up: (db) => tuneSearch(db, t) },
    '0006_search_vector_trigger': { up: (db) => moveSearchVectorToTrigger(db, t) },
  };
}

export async function createPostgresSearch(db: Kysely<any>, t: TableNames): Promise<void> {
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
}

async function tuneSearch(db: Kysely<any>, t: TableNames): Promise<void> {
  // GIN's "fast update" appends new entries to a pending list that the insert which fills it
  // merges into the index — inside that insert's transaction, so a send's commit, and with it the
  // session row lock every later send of the session waits on, stalls while it runs. At the 4 MB
  // default those stalls are long and show in the sends' tail latency; at 64 kB (the minimum) the
  // merges are far smaller (bench/results). Searches gain too: every search reads the whole
  // pending list.
  await sql`alter index ${t.ref('messages_search_idx')} set (gin_pending_list_limit = 64)`.execute(db);
}

// The search vector from a trigger instead of the generated expression above: less server CPU
// per message sent, for two reasons: `translate()` looks every character up in the punctuation
// list (several times slower than the same replacement as one regular expression, which gives
// the same vector); and a stored generated column is recomputed on every
// update of the row — a reaction's change_seq, a reply count — while the trigger runs only when
// the content or the deletion flag is written. `drop expression` keeps the stored vectors (no
// table rewrite); rows written since get the same vector as before.
async function moveSearchVectorToTrigger(db: Kysely<any>, t: TableNames): Promise<void> {
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
}
