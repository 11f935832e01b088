/**
 * The few things Postgres and SQLite do differently, in one small object per database
 * (`adapters/storage/postgres/dialect.ts`, `adapters/storage/sqlite/dialect.ts`): value
 * conversions, DDL, its own named migrations, the SQL flavour of the read statements, and the write
 * path of what is written most. Everything else — the queries, the shared migrations, the row
 * mapping, batch planning — is shared (kysely/); see docs/storage.md for adding a database.
 */
import type { CreateTableBuilder, Kysely, Migration } from 'kysely';
import type { InsertedMessage, NewMessage, StreamFlush } from '../../../src/ports/storage.js';
import type { SqlFlavour } from './read-statements.js';
import type { RowMapper, ValueCodec } from './rows.js';
import type { ChatDatabase, TableNames } from './schema.js';
import type { HotStatementSet, Statement, StatementRunner } from './statements.js';

/** Column types for the DDL. */
export interface DialectTypes {
  text: 'text';
  integer: 'integer';
  /** Counters that may outgrow 2^31 (seq, sizes). */
  bigint: 'bigint' | 'integer';
  timestamp: 'timestamptz' | 'text';
  json: 'jsonb' | 'text';
  boolean: 'boolean' | 'integer';
}

/** What went wrong, as far as the shared code needs to know. */
export type DbErrorKind =
  /** Connection lost, server gone, pool closed, database busy or unwritable: `UNAVAILABLE`. */
  | 'unavailable'
  /** A unique constraint; `detail` names the constraint or its columns. */
  | 'unique'
  /** A foreign key points nowhere (unknown session or parent): `NOT_FOUND`. */
  | 'foreign_key'
  /** Deadlock or serialization failure: the transaction may simply be run again. */
  | 'retry';

export interface DbErrorInfo {
  kind: DbErrorKind;
  detail?: string;
}

export interface SqlDialect extends ValueCodec {
  readonly name: 'postgres' | 'sqlite';
  readonly types: DialectTypes;
  /**
   * Whether `messages` needs an integer row key (`ord`). SQLite's FTS5 external-content table
   * joins on a stable integer rowid; Postgres needs none.
   */
  readonly messagesNeedRowKey: boolean;


  /**
   * Adds the key columns: `id` (text, unique) and/or `ord` (an increasing integer giving insertion
   * order). Which of them is the primary key is the dialect's business.
   */
  addKeyColumns<T extends string, C extends string>(
    table: CreateTableBuilder<T, C>,
    keys: { id: boolean; ord: boolean },
  ): CreateTableBuilder<T, C>;
  /** DDL for full-text search on `messages.content` (inside the initial migration). */
  createSearch(db: Kysely<any>, names: TableNames): Promise<void>;
  /**
   * This database's own migrations by name, merged into the shared list (kysely/migrations.ts) and
   * run in name order with it. A name may fill one of the shared list's reserved steps (a no-op
   * elsewhere) or be new, sorting after every name already shipped; it never replaces a shared
   * migration.
   */
  migrations(names: TableNames): Record<string, Migration>;
  /**
   * Locks the session rows, in the given (ascending) order, until the transaction ends. SQLite
   * needs nothing: its transactions start with `BEGIN IMMEDIATE`, which takes the database lock.
   */
  lockSessions(trx: Kysely<ChatDatabase>, names: TableNames, sessionIds: readonly string[]): Promise<void>;

  /** How its SQL text differs, for the hot read statements written once in kysely/read-statements.ts. */
  readonly flavour: SqlFlavour;

  /** How this database writes what is written most: message batches and stream flushes. */
  writePath(context: WritePathContext): WritePath;

  /** Null for an error the shared code does not treat specially (it becomes `INTERNAL`). */
  classifyError(error: unknown): DbErrorInfo | null;
}

/**
 * The writes a database does its own way. The shared code asks for nothing else: it never asks
 * which database it runs on, only whether the write path took the work.
 */
export interface WritePath {
  /**
   * Stores the batch with `StorageAdapter.insertMessages`' contract, or returns null for "take the
   * shared transaction path" (kysely-storage.ts), which handles every batch. Null only when
   * nothing was written.
   */
  insertMessages(batch: readonly NewMessage[]): Promise<InsertedMessage[] | null>;
  /** `StorageAdapter.flushStream`: both rows or neither; true when the stream was running. */
  flushStream(streamId: string, flush: StreamFlush): Promise<boolean>;
  /**
   * Run at the end of every write transaction, the shared path's included (no parameters): bounded
   * upkeep of the database's own (SQLite: a step of FTS5 segment merging).
   */
  readonly transactionEnd?: Statement;
}

/** What a write path is built from: the storage's tables, statement runner, row mapper and read statements. */
export interface WritePathContext {
  names: TableNames;
  runner: StatementRunner;
  rows: RowMapper;
  /** For what a write returns besides what it wrote (a stored duplicate's reactions and attachments). */
  reads: HotStatementSet;
  classify(error: unknown): DbErrorInfo | null;
}

/**
 * A search term the SQL side accepts: one word by the rule every storage shares (a run of Unicode
 * letters and digits). Anything else cannot be a whole word of any message, so it matches nothing.
 */
export const SEARCH_TERM = /^[\p{L}\p{N}]+$/u;
