/**
 * The schema, as Kysely migrations shipped in code (no migration folder to copy around). New
 * migrations get a name sorting after the last one; a shipped migration is never edited.
 *
 * Tables (prefix `chat_` by default):
 * - `sessions`            id PK, title, created_by, metadata, last_seq (the gapless counter), message_count, created_at
 * - `session_members`     (session_id, user_id) unique, role, last_read_seq, last_delivered_seq, last_seen_at, joined_at, ord
 * - `messages`            id unique, session_id, seq, change_seq, parent_message_id, reply_count, client_message_id, …
 * - `message_reactions`   id unique, (message_id, user_id, emoji) unique, created_at, ord
 * - `message_attachments` id unique, message_id, file fields, metadata, created_at, ord
 * - `streams`             id PK, session_id, message_id, prompt_message_id, status, metrics, node_id, … (0002)
 * - `users`               id PK, name, avatar_url, updated_at (0007, kysely/users.ts)
 * - `messages.parts`      an answer's parts, JSON (0008)
 * plus the dialect's full-text index, and `migrations` / `migrations_lock` for the Migrator.
 */
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { SqlDialect } from './dialect.js';
import type { TableNames } from './schema.js';
import { usersMigration } from './users.js';

function initialMigration(d: SqlDialect, t: TableNames): Migration {
  const { text, integer, bigint, timestamp, json, boolean } = d.types;
  const no = d.toBool(false);
  return {
    async up(db: Kysely<any>) {
      await d
        .addKeyColumns(db.schema.createTable(t.raw('sessions')), { id: true, ord: false })
        .addColumn('title', text)
        .addColumn('created_by', text, (c) => c.notNull())
        .addColumn('metadata', json)
        .addColumn('last_seq', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('message_count', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .execute();

      await d
        .addKeyColumns(db.schema.createTable(t.raw('session_members')), { id: false, ord: true })
        .addColumn('session_id', text, (c) => c.notNull().references(`${t.raw('sessions')}.id`).onDelete('cascade'))
        .addColumn('user_id', text, (c) => c.notNull())
        .addColumn('role', text, (c) => c.notNull().check(sqlIn('role', ['owner', 'member'])))
        .addColumn('last_read_seq', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('last_delivered_seq', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('last_seen_at', timestamp)
        .addColumn('joined_at', timestamp, (c) => c.notNull())
        .addUniqueConstraint(t.raw('session_members_uq'), ['session_id', 'user_id'])
        .execute();
      // listSessions(userId)
      await db.schema.createIndex(t.raw('session_members_user_idx')).on(t.raw('session_members')).column('user_id').execute();

      await d
        .addKeyColumns(db.schema.createTable(t.raw('messages')), { id: true, ord: d.messagesNeedRowKey })
        .addColumn('session_id', text, (c) => c.notNull().references(`${t.raw('sessions')}.id`).onDelete('cascade'))
        .addColumn('user_id', text)
        .addColumn('agent_id', text)
        .addColumn('role', text, (c) => c.notNull().check(sqlIn('role', ['user', 'assistant', 'system'])))
        .addColumn('content', text, (c) => c.notNull())
        .addColumn('metadata', json)
        .addColumn('tokens', integer)
        .addColumn('parent_message_id', text, (c) => c.references(`${t.raw('messages')}.id`).onDelete('cascade'))
        .addColumn('reply_count', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('seq', bigint, (c) => c.notNull())
        .addColumn('change_seq', bigint, (c) => c.notNull())
        .addColumn('client_message_id', text)
        .addColumn('is_edited', boolean, (c) => c.notNull().defaultTo(no))
        .addColumn('edited_at', timestamp)
        .addColumn('is_deleted', boolean, (c) => c.notNull().defaultTo(no))
        .addColumn('deleted_at', timestamp)
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addColumn('updated_at', timestamp, (c) => c.notNull())
        .execute();
      const messages = t.raw('messages');
      // History pages: top-level (parent IS NULL) or one thread, by seq, from either end.
      await db.schema
        .createIndex(t.raw('messages_history_idx'))
        .on(messages)
        .columns(['session_id', 'parent_message_id', 'seq'])
        .execute();
      // Seq is unique per session (a safety net under the counter) and unread counts range over it.
      await db.schema.createIndex(t.raw('messages_seq_uq')).unique().on(messages).columns(['session_id', 'seq']).execute();
      // Replay (getChangesSince).
      await db.schema.createIndex(t.raw('messages_change_idx')).on(messages).columns(['session_id', 'change_seq']).execute();
      // A retried send returns the first message (NULL client ids never collide).
      await db.schema
        .createIndex(t.raw('messages_client_message_id_uq'))
        .unique()
        .on(messages)
        .columns(['session_id', 'user_id', 'client_message_id'])
        .execute();
      await d.createSearch(db, t);

      // Rows of a message (its reactions, its attachments): deleted with it.
      const ofMessage = (table: string) =>
        d
          .addKeyColumns(db.schema.createTable(t.raw(table)), { id: true, ord: true })
          .addColumn('message_id', text, (c) => c.notNull().references(`${messages}.id`).onDelete('cascade'));
      await ofMessage('message_reactions')
        .addColumn('user_id', text, (c) => c.notNull())
        .addColumn('emoji', text, (c) => c.notNull())
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .addUniqueConstraint(t.raw('message_reactions_uq'), ['message_id', 'user_id', 'emoji'])
        .execute();

      await ofMessage('message_attachments')
        .addColumn('file_name', text, (c) => c.notNull())
        .addColumn('file_url', text, (c) => c.notNull())
        .addColumn('mime_type', text, (c) => c.notNull())
        .addColumn('file_size', bigint, (c) => c.notNull())
        .addColumn('metadata', json)
        .addColumn('created_at', timestamp, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex(t.raw('message_attachments_message_idx'))
        .on(t.raw('message_attachments'))
        .column('message_id')
        .execute();
    },
  };
}

/**
 * `0002_streams`: one row per LLM stream so status and metrics answer from any node
 * and after the end. Written once at the start, once per throttled flush, once at the end.
 *
 * `session_id` is a foreign key (deleting a session removes its streams). The message ids are not:
 * the stream's messages are created in the same transaction as the row, and a foreign key on them
 * would need two more indexes (each one more write per flush) just so a cascading session delete
 * does not scan this table once per message.
 */
function streamsMigration(d: SqlDialect, t: TableNames): Migration {
  const { text, integer, bigint, timestamp } = d.types;
  return {
    async up(db: Kysely<any>) {
      const streams = t.raw('streams');
      await d
        .addKeyColumns(db.schema.createTable(streams), { id: true, ord: false })
        .addColumn('session_id', text, (c) => c.notNull().references(`${t.raw('sessions')}.id`).onDelete('cascade'))
        .addColumn('message_id', text, (c) => c.notNull())
        .addColumn('prompt_message_id', text, (c) => c.notNull())
        .addColumn('user_id', text, (c) => c.notNull())
        .addColumn('agent_id', text)
        .addColumn('model', text)
        .addColumn('status', text, (c) => c.notNull().check(sqlIn('status', ['pending', 'streaming', 'completed', 'stopped', 'error'])))
        .addColumn('finish_reason', text)
        .addColumn('max_tokens', integer)
        .addColumn('tokens_generated', integer, (c) => c.notNull().defaultTo(0))
        .addColumn('prompt_tokens', integer)
        .addColumn('bytes_emitted', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('errors', integer, (c) => c.notNull().defaultTo(0))
        .addColumn('error_message', text)
        .addColumn('node_id', text)
        .addColumn('started_at', timestamp, (c) => c.notNull())
        .addColumn('first_token_at', timestamp)
        .addColumn('completed_at', timestamp)
        .addColumn('updated_at', timestamp, (c) => c.notNull())
        .execute();
      // listStreams (a session's running streams for a late joiner); also serves the session foreign key.
      await db.schema.createIndex(t.raw('streams_session_idx')).on(streams).columns(['session_id', 'status']).execute();
      // listStaleStreams, with or without a node: `status` first keeps the finished streams (nearly
      // all rows) out of the scan, so "any node" reads only the few running ones, and "this node"
      // is a range per status.
      await db.schema.createIndex(t.raw('streams_stale_idx')).on(streams).columns(['status', 'node_id', 'updated_at']).execute();
    },
  };
}

/**
 * `0008_message_parts`: an answer's parts (text, tool calls, tool results) as a JSON array. Older
 * rows keep NULL: they are read without parts.
 */
function messagePartsMigration(d: SqlDialect, t: TableNames): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable(t.raw('messages')).addColumn('parts', d.types.json).execute();
    },
  };
}

/**
 * Steps every database has recorded under these names, each one dialect's own (see
 * `SqlDialect.migrations`) and a no-op for the others. A recorded name must stay in the list (the
 * Migrator refuses a database whose history it does not know), so they are reserved here for every
 * dialect:
 * - `0003_search_upgrade`: the full-text index rebuilt in its current form (SQLite);
 * - `0004_search_index_tuning`: its storage settings (Postgres);
 * - `0005_search_merge_schedule`: when it merges its segments (SQLite);
 * - `0006_search_vector_trigger`: who keeps the search vector (Postgres).
 */
export const RESERVED_DIALECT_STEPS = ['0003_search_upgrade', '0004_search_index_tuning', '0005_search_merge_schedule', '0006_search_vector_trigger'] as const;

const NO_OP: Migration = { async up() {} };

/** `column IN ('a', 'b')` for a CHECK constraint (constants only, never user input). */
function sqlIn(column: string, values: readonly string[]) {
  return sql.raw<boolean>(`${column} in (${values.map((v) => `'${v}'`).join(', ')})`);
}

/** The shared migrations, with the dialect's own merged in by name (Kysely runs them in name order). */
export function chatMigrations(dialect: SqlDialect, names: TableNames): Record<string, Migration> {
  const shared: Record<string, Migration> = {
    '0001_initial': initialMigration(dialect, names),
    '0002_streams': streamsMigration(dialect, names),
    ...Object.fromEntries(RESERVED_DIALECT_STEPS.map((name) => [name, NO_OP])),
    '0007_users': usersMigration(dialect, names),
    '0008_message_parts': messagePartsMigration(dialect, names),
  };
  const own = dialect.migrations(names);
  const taken = Object.keys(own).find((name) => name in shared && !(RESERVED_DIALECT_STEPS as readonly string[]).includes(name));
  if (taken !== undefined) throw new TypeError(`The ${dialect.name} dialect's migration ${taken} would replace a shared one`);
  return { ...shared, ...own };
}

export function createMigrator(db: Kysely<any>, dialect: SqlDialect, names: TableNames, schema?: string): Migrator {
  const migrations = chatMigrations(dialect, names);
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  return new Migrator({
    db,
    provider,
    migrationTableName: names.raw('migrations'),
    migrationLockTableName: names.raw('migrations_lock'),
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
}
