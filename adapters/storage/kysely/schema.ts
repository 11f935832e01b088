/**
 * Table types shared by the SQL adapters. Queries are written against these logical names
 * (`messages`, `sessions`, …); the real names carry the configured prefix (`chat_messages`), see
 * {@link tableNames}. Column value types are loose where the dialects differ (dates are `Date` in
 * Postgres and ISO strings in SQLite, booleans are 0/1 in SQLite, bigint counters may come back as
 * strings from `pg`); the dialect object converts in both directions.
 */
import { sql, type ColumnType, type Generated, type RawBuilder, type Selectable } from 'kysely';

/** A timestamp as the driver takes and returns it: `Date` (pg) or ISO string (SQLite). */
export type DbDate = Date | string;
/** `boolean` (pg) or `0 | 1` (SQLite). */
export type DbBool = boolean | number;
/** An integer column: pg returns `bigint` columns as strings. */
export type DbInt = ColumnType<number | string | bigint, number, number>;
/** JSON: jsonb in Postgres (driver parses it), TEXT in SQLite. We always write a JSON string. */
export type DbJson = ColumnType<unknown, string | null, string | null>;

export interface SessionsTable {
  id: string;
  title: string | null;
  created_by: string;
  metadata: DbJson;
  last_seq: DbInt;
  message_count: DbInt;
  created_at: DbDate;
}

export interface SessionMembersTable {
  /** Insertion order: the tie-breaker for "members in join order". */
  ord: Generated<number | string>;
  session_id: string;
  user_id: string;
  role: string;
  last_read_seq: DbInt;
  last_delivered_seq: DbInt;
  last_seen_at: DbDate | null;
  joined_at: DbDate;
}

export interface MessagesTable {
  id: string;
  session_id: string;
  user_id: string | null;
  agent_id: string | null;
  role: string;
  content: string;
  metadata: DbJson;
  /** An answer's parts as a JSON array (migration `0008_message_parts`); null when it has none. */
  parts: DbJson;
  tokens: number | null;
  parent_message_id: string | null;
  reply_count: DbInt;
  seq: DbInt;
  change_seq: DbInt;
  client_message_id: string | null;
  is_edited: DbBool;
  edited_at: DbDate | null;
  is_deleted: DbBool;
  deleted_at: DbDate | null;
  created_at: DbDate;
  updated_at: DbDate;
}

export interface MessageReactionsTable {
  ord: Generated<number | string>;
  id: string;
  message_id: string;
  user_id: string;
  emoji: string;
  created_at: DbDate;
}

export interface MessageAttachmentsTable {
  ord: Generated<number | string>;
  id: string;
  message_id: string;
  file_name: string;
  file_url: string;
  mime_type: string;
  file_size: DbInt;
  metadata: DbJson;
  created_at: DbDate;
}

/** One LLM stream (migration `0002_streams`): status, finish reason and metrics, readable from any node. */
export interface StreamsTable {
  id: string;
  session_id: string;
  message_id: string;
  prompt_message_id: string;
  user_id: string;
  agent_id: string | null;
  model: string | null;
  status: string;
  finish_reason: string | null;
  max_tokens: number | null;
  tokens_generated: number;
  prompt_tokens: number | null;
  bytes_emitted: DbInt;
  errors: number;
  error_message: string | null;
  node_id: string | null;
  started_at: DbDate;
  first_token_at: DbDate | null;
  completed_at: DbDate | null;
  updated_at: DbDate;
}

/** A user's display profile (migration `0007_users`). */
export interface UsersTable {
  id: string;
  name: string | null;
  avatar_url: string | null;
  updated_at: DbDate;
}

/** The logical schema; real table names are `prefix + key`. */
export interface ChatDatabase {
  sessions: SessionsTable;
  session_members: SessionMembersTable;
  messages: MessagesTable;
  message_reactions: MessageReactionsTable;
  message_attachments: MessageAttachmentsTable;
  streams: StreamsTable;
  users: UsersTable;
}

export type TableName = keyof ChatDatabase;

/** The message columns every read selects (never Postgres' `search_vector` nor SQLite's `ord`). */
export const MESSAGE_COLUMNS = [
  'id', 'session_id', 'user_id', 'agent_id', 'role', 'content', 'metadata', 'tokens', 'parent_message_id', 'reply_count',
  'seq', 'change_seq', 'client_message_id', 'is_edited', 'edited_at', 'is_deleted', 'deleted_at', 'created_at', 'updated_at', 'parts',
] as const satisfies readonly (keyof MessagesTable)[];

export const SESSION_COLUMNS = [
  'id', 'title', 'created_by', 'metadata', 'last_seq', 'message_count', 'created_at',
] as const satisfies readonly (keyof SessionsTable)[];

export const MEMBER_COLUMNS = [
  'session_id', 'user_id', 'role', 'last_read_seq', 'last_delivered_seq', 'last_seen_at', 'joined_at',
] as const satisfies readonly (keyof SessionMembersTable)[];

export const ATTACHMENT_COLUMNS = [
  'id', 'message_id', 'file_name', 'file_url', 'mime_type', 'file_size', 'metadata', 'created_at',
] as const satisfies readonly (keyof MessageAttachmentsTable)[];

export const STREAM_COLUMNS = [
  'id', 'session_id', 'message_id', 'prompt_message_id', 'user_id', 'agent_id', 'model', 'status', 'finish_reason', 'max_tokens',
  'tokens_generated', 'prompt_tokens', 'bytes_emitted', 'errors', 'error_message', 'node_id', 'started_at', 'first_token_at', 'completed_at', 'updated_at',
] as const satisfies readonly (keyof StreamsTable)[];

export type MessageRow = Pick<Selectable<MessagesTable>, (typeof MESSAGE_COLUMNS)[number]>;
export type SessionRow = Pick<Selectable<SessionsTable>, (typeof SESSION_COLUMNS)[number]>;
export type MemberRow = Pick<Selectable<SessionMembersTable>, (typeof MEMBER_COLUMNS)[number]>;
export type AttachmentRow = Pick<Selectable<MessageAttachmentsTable>, (typeof ATTACHMENT_COLUMNS)[number]>;
export type StreamRow = Pick<Selectable<StreamsTable>, (typeof STREAM_COLUMNS)[number]>;

/** Prefixes must be plain identifiers: they end up in DDL (trigger bodies, index names). */
const PREFIX_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,30}$/;

export function assertValidPrefix(prefix: string): void {
  if (prefix !== '' && !PREFIX_PATTERN.test(prefix)) {
    throw new TypeError(`tablePrefix must match ${PREFIX_PATTERN} (got ${JSON.stringify(prefix)})`);
  }
}

/**
 * Real table names, typed as their logical names so Kysely checks columns against
 * {@link ChatDatabase} while the SQL uses the prefixed name.
 */
export interface TableNames {
  readonly prefix: string;
  /** `name` with the prefix, typed as the logical name. */
  table<T extends TableName>(name: T): T;
  /** `"<prefix><name> as <alias>"`, typed as `"<name> as <alias>"`. */
  as<T extends TableName, A extends string>(name: T, alias: A): `${T} as ${A}`;
  /** A raw name (FTS table, index, trigger) with the prefix. */
  raw(name: string): string;
  /** A table reference for raw SQL (`sql\`…\``), schema-qualified when there is a schema: the `withSchema` plugin does not reach inside raw SQL. */
  ref(name: string): RawBuilder<unknown>;
  /** The same reference as SQL text (`"schema"."chat_messages"`), for the fixed-text statements. Prefix and schema are validated identifiers. */
  quoted(name: string): string;
}

export function tableNames(prefix: string, schema?: string): TableNames {
  assertValidPrefix(prefix);
  return {
    prefix,
    ref: (name: string) => sql.table(schema ? `${schema}.${prefix}${name}` : `${prefix}${name}`),
    table: <T extends TableName>(name: T) => `${prefix}${name}` as T,
    as: <T extends TableName, A extends string>(name: T, alias: A) => `${prefix}${name} as ${alias}` as `${T} as ${A}`,
    raw: (name: string) => `${prefix}${name}`,
    quoted: (name: string) => (schema ? `"${schema}"."${prefix}${name}"` : `"${prefix}${name}"`),
  };
}
