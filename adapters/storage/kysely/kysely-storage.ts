/**
 * The one SQL implementation of {@link StorageAdapter}, shared by `PostgresStorage` and
 * `SqliteStorage`. Queries are written once with Kysely; what differs between the databases lives
 * in the {@link SqlDialect} object each adapter passes in.
 *
 * The hot paths run fixed-text statements (kysely/statements.ts, the text per dialect in
 * postgres/statements.ts and sqlite/statements.ts) through the adapter's {@link StatementRunner}:
 * named pg statements, cached better-sqlite3 statements. Kysely builds the rest: migrations, the
 * transactions, the cold paths.
 *
 * Query budget (the contract):
 * - `getSessionAccess`, `getSession`, `getMessage`: 1 statement (the message with its reactions
 *   and attachments).
 * - `insertMessages`: Postgres — top-level messages with new client ids (what a send is): ONE
 *   autocommit statement for the whole batch (attachments included). Otherwise (replies, a client
 *   id already stored or repeated in the batch, a server message with a client id) one transaction
 *   with a fixed number of statements whatever its size: [look up client ids] [lock sessions, when
 *   several] bump sessions, insert messages, [insert attachments] [bump parents' reply counts],
 *   plus one read when duplicates must be returned. SQLite: one synchronous `BEGIN IMMEDIATE`
 *   transaction of cached statements (one per client id, session, message, attachment, parent).
 * - `getHistory`, `getChangesSince`: 1 statement (the page, its total, and the reactions and
 *   attachments of its messages only). `searchMessages`: 2 — the count, then the page (with the
 *   reactions and attachments) by the plan the count calls for; 1 when nothing matches.
 * - `createStream`: one transaction: the statements of insertMessages' transaction path for its
 *   messages (shared code), then one INSERT of the stream row.
 * - `updateStream`: metrics only: 1 statement, no transaction. With the answer (the same code as
 *   updateMessage): stream row, [session seq when `bumpSeq`], message, its reactions and
 *   attachments — 3 statements for a flush, 4 for the final commit, in one transaction.
 * - `getStream`, `listStreams`, `listStaleStreams`: 1 query each, on an index.
 */
import { CompiledQuery, sql, type Kysely } from 'kysely';
import { ChatError, isChatError } from '../../../src/errors.js';
import type {
  Attachment,
  JsonObject,
  MemberRole,
  Message,
  MessagePage,
  SearchPage,
  MessageRole,
  Reaction,
  Session,
  SessionMember,
  SessionSummary,
  StreamRecord,
  StreamStatus,
} from '../../../src/model.js';
import { assertSessionAccess } from '../../../src/ports/storage.js';
import type {
  HistoryQuery,
  SearchQuery,
  InsertedMessage,
  MessagePatch,
  NewAttachment,
  NewMessage,
  NewSession,
  NewStream,
  ReactionChange,
  ReactionResult,
  SessionAccess,
  StorageAdapter,
  StreamFlush,
  StreamPatch,
} from '../../../src/ports/storage.js';
import type { DbErrorInfo, SqlDialect } from './dialect.js';
import { classify, toStorageError } from './errors.js';
import { createMigrator } from './migrations.js';
import {
  bind,
  NOT_WHOLE,
  type ExtrasColumns,
  type HotStatementSet,
  type InsertSteps,
  type Statement,
  type StatementRunner,
  type SyncStatements,
  type Values,
} from './statements.js';
import {
  ATTACHMENT_COLUMNS,
  MEMBER_COLUMNS,
  MESSAGE_COLUMNS,
  SESSION_COLUMNS,
  STREAM_COLUMNS,
  tableNames,
  type AttachmentRow,
  type DbDate,
  type ChatDatabase,
  type MemberRow,
  type MessageRow,
  type SessionRow,
  type StreamRow,
  type TableNames,
} from './schema.js';

export interface KyselyStorageConfig {
  /** Short name for logs, e.g. `'postgres'`. */
  name: string;
  /** Already scoped to the Postgres schema, if any (`db.withSchema(schema)`). */
  db: Kysely<ChatDatabase>;
  dialect: SqlDialect;
  /** Default `'chat_'`. */
  tablePrefix?: string;
  /** Postgres schema holding the tables (and the migration tables). */
  schema?: string;
  /** Releases what the adapter opened itself; never a pool, database or Kysely the host passed in. */
  destroy?: () => Promise<void>;
  /**
   * The schema to give Kysely's Migrator when `schema` is not set (Postgres: `current_schema()`).
   * Without one the Migrator takes a `chat_migrations` table in *any* schema as its own.
   */
  defaultSchema?: (db: Kysely<any>) => Promise<string | undefined>;
  /**
   * Runs the hot statements (named pg statements on the adapter's pool, cached SQLite statements).
   * Default: the same text through `db`, unprepared (a Postgres adapter on a host's Kysely).
   */
  runner?: StatementRunner;
}

const M = MESSAGE_COLUMNS.map((c) => `m.${c}` as const);
const S = SESSION_COLUMNS.map((c) => `s.${c}` as const);
const MEM = MEMBER_COLUMNS.map((c) => `mem.${c}` as const);
const ST = STREAM_COLUMNS.map((c) => `st.${c}` as const);
/** The states of a stream that has not ended (what a crash leaves behind). */
const RUNNING: StreamStatus[] = ['pending', 'streaming'];

/** Rows per multi-row INSERT: stays under both drivers' bind-parameter limits (pg 65535, SQLite 32766). */
const INSERT_CHUNK = 1000;
/** Rows a search page may walk (the session's seq index, newest first): ~5 ms at most (1M-message bench). */
const WALK_ROWS = 10_000;
/** Attempts of a transaction that failed on a deadlock or a concurrent duplicate. */
const MAX_ATTEMPTS = 5;

type Db = Kysely<ChatDatabase>;

export class KyselyStorage implements StorageAdapter {
  readonly name: string;
  protected readonly db: Db;
  protected readonly dialect: SqlDialect;
  protected readonly names: TableNames;
  protected readonly schema: string | undefined;
  readonly #destroy: (() => Promise<void>) | undefined;
  readonly #defaultSchema: KyselyStorageConfig['defaultSchema'];
  readonly #hot: HotStatementSet;
  readonly #runner: StatementRunner;
  #closed = false;

  constructor(config: KyselyStorageConfig) {
    this.name = config.name;
    this.db = config.db;
    this.dialect = config.dialect;
    this.names = tableNames(config.tablePrefix ?? 'chat_', config.schema);
    this.schema = config.schema;
    this.#destroy = config.destroy;
    this.#defaultSchema = config.defaultSchema;
    this.#hot = config.dialect.statements(this.names);
    this.#runner = config.runner ?? kyselyRunner(config.db);
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  async init(): Promise<void> {
    await this.#run(async () => {
      const schema = this.schema ?? (await this.#defaultSchema?.(this.db as Kysely<any>));
      const migrator = createMigrator(this.db as Kysely<any>, this.dialect, this.names, schema);
      const { error, results } = await migrator.migrateToLatest();
      if (error) {
        // A lost connection stays UNAVAILABLE (via #run); anything else is a failed migration.
        if (isChatError(error) || classify(this.dialect, error)) throw error;
        const failed = results?.find((r) => r.status === 'Error')?.migrationName;
        throw new ChatError('INTERNAL', failed ? `Storage migration ${failed} failed` : 'Storage migration failed', { cause: error });
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#destroy?.();
  }

  // ---- sessions and members ------------------------------------------------------------------

  async createSession(input: NewSession): Promise<Session> {
    const d = this.dialect;
    const t = this.names;
    return this.#run(async () => {
      try {
        return await this.db.transaction().execute(async (trx) => {
          const row = await trx
            .insertInto(t.table('sessions'))
            .values({
              id: input.id,
              title: input.title,
              created_by: input.createdBy,
              metadata: json(input.metadata),
              last_seq: 0,
              message_count: 0,
              created_at: d.toDate(input.at),
            })
            .returning(SESSION_COLUMNS)
            .executeTakeFirstOrThrow();
          const userIds = [input.createdBy, ...new Set(input.memberIds)].filter((u, i) => i === 0 || u !== input.createdBy);
          await trx
            .insertInto(t.table('session_members'))
            .values(
              userIds.map((userId, i) => ({
                session_id: input.id,
                user_id: userId,
                role: i === 0 ? 'owner' : 'member',
                last_read_seq: 0,
                last_delivered_seq: 0,
                last_seen_at: null,
                joined_at: d.toDate(input.at),
              })),
            )
            .execute();
          return this.#session(row);
        });
      } catch (error) {
        if (classify(d, error)?.kind === 'unique') {
          throw new ChatError('CONFLICT', `Session ${input.id} already exists`, { cause: error });
        }
        throw error;
      }
    });
  }

  async getSession(sessionId: string): Promise<Session | null> {
    return this.#run(async () => {
      const [row] = await this.#all<SessionRow>(this.db, this.#hot.sessionById, { session: sessionId });
      return row ? this.#session(row) : null;
    });
  }

  async getSessionAccess(sessionId: string, userId: string): Promise<SessionAccess | null> {
    // Before every user call: one prepared statement (was ~300 µs of Node CPU through Kysely).
    return this.#run(async () => {
      const [row] = await this.#all<SessionRow & AccessColumns>(this.db, this.#hot.sessionAccess, { session: sessionId, user: userId });
      if (!row) return null;
      const member =
        row.mem_user_id == null
          ? null
          : this.#member({
              session_id: row.id,
              user_id: row.mem_user_id,
              role: row.mem_role!,
              last_read_seq: row.mem_last_read_seq!,
              last_delivered_seq: row.mem_last_delivered_seq!,
              last_seen_at: row.mem_last_seen_at,
              joined_at: row.mem_joined_at!,
            });
      return { session: this.#session(row), member };
    });
  }

  async getMember(sessionId: string, userId: string): Promise<SessionMember | null> {
    return this.#run(async () => {
      const row = await this.db
        .selectFrom(this.names.as('session_members', 'mem'))
        .select(MEM)
        .where('mem.session_id', '=', sessionId)
        .where('mem.user_id', '=', userId)
        .executeTakeFirst();
      return row ? this.#member(row) : null;
    });
  }

  async listMembers(sessionId: string): Promise<SessionMember[]> {
    return this.#run(async () => {
      const rows = await this.db
        .selectFrom(this.names.as('session_members', 'mem'))
        .select(MEM)
        .where('mem.session_id', '=', sessionId)
        .orderBy('mem.ord')
        .execute();
      return rows.map((r) => this.#member(r));
    });
  }

  async addMember(sessionId: string, userId: string, role: MemberRole, at: Date): Promise<{ member: SessionMember; added: boolean }> {
    const t = this.names;
    return this.#run(async () => {
      const inserted = await this.db
        .insertInto(t.table('session_members'))
        .values({
          session_id: sessionId,
          user_id: userId,
          role,
          last_read_seq: 0,
          last_delivered_seq: 0,
          last_seen_at: null,
          joined_at: this.dialect.toDate(at),
        })
        .onConflict((oc) => oc.columns(['session_id', 'user_id']).doNothing())
        .returning(MEMBER_COLUMNS)
        .executeTakeFirst();
      if (inserted) return { member: this.#member(inserted), added: true };
      const existing = await this.getMember(sessionId, userId);
      // Removed between the two statements: rare enough that reporting it as added is wrong, so retry once.
      if (!existing) return this.addMember(sessionId, userId, role, at);
      return { member: existing, added: false };
    });
  }

  async removeMember(sessionId: string, userId: string): Promise<boolean> {
    return this.#run(async () => {
      const result = await this.db
        .deleteFrom(this.names.table('session_members'))
        .where('session_id', '=', sessionId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  async listSessions(userId: string): Promise<SessionSummary[]> {
    const t = this.names;
    const d = this.dialect;
    return this.#run(async () => {
      const rows = await this.db
        .selectFrom(t.as('session_members', 'mem'))
        .innerJoin(t.as('sessions', 's'), 's.id', 'mem.session_id')
        .select(S)
        .select(['mem.role as mem_role', 'mem.last_read_seq as mem_last_read_seq'])
        .select((eb) =>
          eb
            .selectFrom(t.as('messages', 'm'))
            .select((e) => e.fn.countAll().as('n'))
            .whereRef('m.session_id', '=', 's.id')
            .whereRef('m.seq', '>', 'mem.last_read_seq')
            .where((e) => e.or([e('m.user_id', 'is', null), e('m.user_id', '!=', userId)]))
            .where('m.is_deleted', '=', d.toBool(false))
            .as('unread_count'),
        )
        .where('mem.user_id', '=', userId)
        .orderBy('s.last_seq', 'desc')
        .orderBy('s.created_at', 'desc')
        .orderBy('s.id')
        .execute();
      return rows.map((r) => ({
        ...this.#session(r),
        role: r.mem_role as MemberRole,
        lastReadSeq: Number(r.mem_last_read_seq),
        unreadCount: Number(r.unread_count ?? 0),
      }));
    });
  }

  async setReadCursor(sessionId: string, userId: string, seq: number, at: Date): Promise<SessionMember | null> {
    return this.#run(async () => {
      const row = await this.db
        .updateTable(this.names.table('session_members'))
        .set({
          last_read_seq: sql<number>`case when ${sql.ref('last_read_seq')} < ${seq} then ${seq} else ${sql.ref('last_read_seq')} end`,
          last_seen_at: this.dialect.toDate(at),
        })
        .where('session_id', '=', sessionId)
        .where('user_id', '=', userId)
        .returning(MEMBER_COLUMNS)
        .executeTakeFirst();
      return row ? this.#member(row) : null;
    });
  }

  async setDeliveredCursor(sessionId: string, userId: string, seq: number): Promise<void> {
    await this.#run(async () => {
      await this.db
        .updateTable(this.names.table('session_members'))
        .set({ last_delivered_seq: seq })
        .where('session_id', '=', sessionId)
        .where('user_id', '=', userId)
        .where('last_delivered_seq', '<', seq)
        .execute();
    });
  }

  // ---- messages ------------------------------------------------------------------------------

  async insertMessages(batch: readonly NewMessage[]): Promise<InsertedMessage[]> {
    if (batch.length === 0) return [];
    return this.#run(async () => {
      const steps = this.#hot.insertSteps;
      if (steps && this.#runner.transaction) {
        // SQLite: the whole batch as cached statements in one synchronous transaction, instead of
        // ~6 Kysely round trips through the async driver (0.38× the raw insert one at a time).
        return this.#runner.transaction((tx) => this.#insertSync(tx, steps, batch));
      }
      if (this.#hot.insertBatch && fitsOneStatement(batch)) {
        const inserted = await this.#insertOneStatement(batch);
        if (inserted) return inserted;
      }
      return this.#transaction((trx) => this.#insertBatch(trx, batch), isDuplicateClientId);
    });
  }

  /**
   * Postgres: the batch as one statement (postgres/statements.ts). Null when it wrote nothing — a
   * client id already stored, an unknown session, a deadlock: the caller then takes the
   * transaction path, which handles each of those.
   */
  async #insertOneStatement(batch: readonly NewMessage[]): Promise<InsertedMessage[] | null> {
    const hot = this.#hot;
    const first = batch[0]!;
    // One session without attachments: every batch of a busy session, and every send at low load.
    const oneSession = batch.every((m) => m.sessionId === first.sessionId && m.attachments.length === 0);
    let statement: Statement;
    let values: Values;
    if (oneSession && batch.length === 1 && hot.insertOne) {
      statement = hot.insertOne;
      values = {
        id: first.id,
        session: first.sessionId,
        user: first.userId,
        agent: first.agentId,
        role: first.role,
        content: first.content,
        metadata: json(first.metadata),
        tokens: first.tokens,
        clientId: first.clientMessageId,
        at: first.at.toISOString(),
        mustBeMember: needsMembership(first),
      };
    } else if (oneSession && hot.insertSessionBatch) {
      statement = hot.insertSessionBatch;
      values = { session: first.sessionId, count: batch.length, ...messageColumns(batch) };
    } else {
      statement = hot.insertBatch!;
      const attachments = batch.flatMap((m) => m.attachments.map((a) => ({ a, messageId: m.id })));
      values = {
        ...messageColumns(batch),
        sessions: batch.map((m) => m.sessionId),
        attIds: attachments.map(({ a }) => a.id),
        attMessageIds: attachments.map(({ messageId }) => messageId),
        attFileNames: attachments.map(({ a }) => a.fileName),
        attFileUrls: attachments.map(({ a }) => a.fileUrl),
        attMimeTypes: attachments.map(({ a }) => a.mimeType),
        attFileSizes: attachments.map(({ a }) => a.fileSize),
        attMetadata: attachments.map(({ a }) => json(a.metadata)),
      };
    }
    let rows: { id: string; seq: number | string }[];
    try {
      rows = await this.#runner.query(statement, bind(statement, values));
    } catch (error) {
      // Not stored whole (see NOT_WHOLE), a lost race (a concurrent duplicate past the look-up, a
      // deadlock): nothing was written.
      const kind = classify(this.dialect, error)?.kind;
      if (kind === 'unique' || kind === 'retry' || String((error as { message?: unknown }).message).includes(NOT_WHOLE)) return null;
      throw error;
    }
    if (rows.length !== batch.length) throw new ChatError('INTERNAL', `Stored ${rows.length} of ${batch.length} messages`);
    const seqs = new Map(rows.map((r) => [r.id, Number(r.seq)]));
    return batch.map((m) => ({ message: createdMessage(m, seqs.get(m.id)!, 0), created: true }));
  }

  /** SQLite: insertMessages inside `runner.transaction` (BEGIN IMMEDIATE: no other writer until it returns). */
  #insertSync(tx: SyncStatements, steps: InsertSteps, batch: readonly NewMessage[]): InsertedMessage[] {
    for (const m of uniqueBy(batch.filter(needsMembership), memberKey)) {
      const [row] = tx.all<{ session: number; member: number }>(steps.membership, bind(steps.membership, { session: m.sessionId, user: m.userId }));
      assertSessionAccess(m.sessionId, m.userId, Boolean(row?.session), Boolean(row?.member));
    }
    const existing = new Map<string, MessageRow>();
    for (const k of uniqueBy(
      batch.filter((m) => m.clientMessageId !== null),
      clientKey,
    )) {
      const [row] = tx.all<MessageRow>(steps.lookupClientId, bind(steps.lookupClientId, { session: k.sessionId, user: k.userId, client: k.clientMessageId }));
      if (row) existing.set(clientKey(k), row);
    }
    const plan = planBatch(batch, existing);
    const created: Message[] = [];
    if (plan.toCreate.length > 0) {
      const nextSeq = new Map<string, number>();
      for (const [id, c] of countPerSession(plan.toCreate)) {
        const [row] = tx.all<{ last_seq: number }>(steps.bumpSession, bind(steps.bumpSession, { session: id, count: c.count, top: c.topLevel }));
        if (!row) throw new ChatError('NOT_FOUND', `Session ${id} not found`);
        nextSeq.set(id, Number(row.last_seq) - c.count + 1);
      }
      const replies = replyCounts(plan.toCreate);
      for (const m of plan.toCreate) {
        const seq = nextSeq.get(m.sessionId)!;
        nextSeq.set(m.sessionId, seq + 1);
        const message = createdMessage(m, seq, replies.get(m.id) ?? 0);
        created.push(message);
        tx.run(steps.insertMessage, bind(steps.insertMessage, this.#messageValues(message)));
      }
      for (const a of created.flatMap((m) => m.attachments)) tx.run(steps.insertAttachment, bind(steps.insertAttachment, this.#attachmentValues(a)));
      const createdIds = new Set(created.map((m) => m.id));
      for (const [id, n] of replies) if (!createdIds.has(id)) tx.run(steps.bumpReplies, bind(steps.bumpReplies, { id, n }));
      if (this.#hot.searchIndexStep) tx.run(this.#hot.searchIndexStep, []);
    }
    const stored = new Map<string, Message>();
    if (existing.size > 0) {
      const rows = [...existing.values()];
      const extras = tx.all<{ id: string } & ExtrasColumns>(this.#hot.extrasOf, bind(this.#hot.extrasOf, { ids: this.#hot.list(rows.map((r) => r.id)) }));
      const byId = new Map(extras.map((e) => [e.id, e]));
      for (const row of rows) stored.set(clientKey({ sessionId: row.session_id, userId: row.user_id, clientMessageId: row.client_message_id }), this.#messageWith({ ...row, ...byId.get(row.id)! }));
    }
    return resultsOf(plan.slots, created, stored);
  }

  /** `requireMembership` items (see NewMessage): one query for the batch; a second only to tell NOT_FOUND from FORBIDDEN. */
  async #checkMembership(trx: Db, batch: readonly NewMessage[]): Promise<void> {
    const pairs = uniqueBy(batch.filter(needsMembership), memberKey);
    if (pairs.length === 0) return;
    const rows = await trx
      .selectFrom(this.names.as('session_members', 'mem'))
      .select(['mem.session_id', 'mem.user_id'])
      .where((eb) => eb.or(pairs.map((m) => eb.and([eb('mem.session_id', '=', m.sessionId), eb('mem.user_id', '=', m.userId)]))))
      .execute();
    const members = new Set(rows.map((r) => memberKey({ sessionId: r.session_id, userId: r.user_id })));
    const outsider = pairs.find((m) => !members.has(memberKey(m)));
    if (!outsider) return;
    const session = await trx.selectFrom(this.names.as('sessions', 's')).select('s.id').where('s.id', '=', outsider.sessionId).executeTakeFirst();
    assertSessionAccess(outsider.sessionId, outsider.userId, session !== undefined, false);
  }

  /**
   * The whole of insertMessages inside a transaction the caller runs (insertMessages, createStream);
   * the caller retries on {@link isDuplicateClientId}.
   */
  async #insertBatch(trx: Db, batch: readonly NewMessage[]): Promise<InsertedMessage[]> {
    const d = this.dialect;
    const t = this.names;
    const sessionIds = [...new Set(batch.map((m) => m.sessionId))].sort();
    const keyed = batch.filter((m) => m.clientMessageId !== null);
    await this.#checkMembership(trx, batch);

    // The duplicate look-up runs before the session lock (one round trip fewer on the hot path).
    // A concurrent send of the same client id that commits in between makes our INSERT hit the
    // unique index, and the whole batch runs again (see insertMessages). NULL user ids never
    // collide in that index, so for them the look-up waits for the lock instead.
    const lockBeforeLookup = keyed.some((m) => m.userId === null);
    if (lockBeforeLookup) await d.lockSessions(trx, t, sessionIds);

    const existing = new Map<string, MessageRow>();
    if (keyed.length > 0) {
      const keys = uniqueBy(keyed, clientKey);
      const rows = await trx
        .selectFrom(t.as('messages', 'm'))
        .select(M)
        .where((eb) =>
          eb.or(
            keys.map((k) =>
              eb.and([
                eb('m.session_id', '=', k.sessionId),
                k.userId === null ? eb('m.user_id', 'is', null) : eb('m.user_id', '=', k.userId),
                eb('m.client_message_id', '=', k.clientMessageId),
              ]),
            ),
          ),
        )
        .execute();
      for (const row of rows) existing.set(clientKey({ sessionId: row.session_id, userId: row.user_id, clientMessageId: row.client_message_id }), row);
    }
    // Several sessions: lock them in ascending id order, the same order every batch uses, so two
    // batches never deadlock. One session: the bump below locks it.
    if (!lockBeforeLookup && sessionIds.length > 1) await d.lockSessions(trx, t, sessionIds);

    const { slots, toCreate } = planBatch(batch, existing);
    const created: Message[] = [];
    if (toCreate.length > 0) {
      // Bump every touched session once: last_seq += created, message_count += created top-level.
      const perSession = countPerSession(toCreate);
      const bumped = await this.#bumpSessions(trx, perSession);
      const missing = [...perSession.keys()].find((id) => !bumped.has(id));
      if (missing !== undefined) throw new ChatError('NOT_FOUND', `Session ${missing} not found`);
      const nextSeq = new Map<string, number>();
      for (const [id, c] of perSession) nextSeq.set(id, bumped.get(id)! - c.count + 1);

      const replies = replyCounts(toCreate);
      for (const m of toCreate) {
        const seq = nextSeq.get(m.sessionId)!;
        nextSeq.set(m.sessionId, seq + 1);
        created.push(createdMessage(m, seq, replies.get(m.id) ?? 0)); // a reply to a message of the same batch counts
      }

      for (const chunk of chunks(created, INSERT_CHUNK)) {
        await trx
          .insertInto(t.table('messages'))
          .values(chunk.map((m) => this.#messageValues(m)))
          .execute();
      }

      const attachments = created.flatMap((m) => m.attachments);
      for (const chunk of chunks(attachments, INSERT_CHUNK)) {
        await this.#insertAttachments(trx, chunk);
      }

      // Parents outside this batch (a parent inside it was inserted with its count already).
      const createdIds = new Set(created.map((m) => m.id));
      const parentBumps = [...replies].filter(([id]) => !createdIds.has(id));
      if (parentBumps.length > 0) {
        await trx
          .updateTable(t.table('messages'))
          .set({ reply_count: sql<number>`${sql.ref('reply_count')} + ${caseById(parentBumps)}` })
          .where('id', 'in', parentBumps.map(([id]) => id))
          .execute();
      }
    }

    const stored = new Map<string, Message>();
    if (existing.size > 0) {
      for (const m of await this.#withExtras(trx, [...existing.values()])) {
        stored.set(clientKey(m), m);
      }
    }
    return resultsOf(slots, created, stored);
  }

  /** A new message's row, as both the Kysely insert and SQLite's prepared insert take it. */
  #messageValues(m: Message) {
    const d = this.dialect;
    const at = d.toDate(new Date(m.createdAt));
    return {
      id: m.id,
      session_id: m.sessionId,
      user_id: m.userId,
      agent_id: m.agentId,
      role: m.role,
      content: m.content,
      metadata: json(m.metadata),
      tokens: m.tokens,
      parent_message_id: m.parentMessageId,
      reply_count: m.replyCount,
      seq: m.seq,
      change_seq: m.changeSeq,
      client_message_id: m.clientMessageId,
      is_edited: d.toBool(false),
      edited_at: null,
      is_deleted: d.toBool(false),
      deleted_at: null,
      created_at: at,
      updated_at: at,
    };
  }

  #attachmentValues(a: Attachment) {
    return {
      id: a.id,
      message_id: a.messageId,
      file_name: a.fileName,
      file_url: a.fileUrl,
      mime_type: a.mimeType,
      file_size: a.fileSize,
      metadata: json(a.metadata),
      created_at: this.dialect.toDate(new Date(a.createdAt)),
    };
  }

  /** `UPDATE sessions SET last_seq = last_seq + n …` for several sessions in one statement; returns the new last_seq per id. */
  async #bumpSessions(trx: Db, perSession: Map<string, { count: number; topLevel: number }>): Promise<Map<string, number>> {
    const entries = [...perSession];
    const single = entries.length === 1 ? entries[0]! : null;
    const lastSeq = single
      ? sql<number>`${sql.ref('last_seq')} + ${sql.lit(single[1].count)}`
      : sql<number>`${sql.ref('last_seq')} + ${caseById(entries.map(([id, c]) => [id, c.count]))}`;
    const messageCount = single
      ? sql<number>`${sql.ref('message_count')} + ${sql.lit(single[1].topLevel)}`
      : sql<number>`${sql.ref('message_count')} + ${caseById(entries.map(([id, c]) => [id, c.topLevel]))}`;
    const rows = await trx
      .updateTable(this.names.table('sessions'))
      .set({ last_seq: lastSeq, message_count: messageCount })
      .where('id', 'in', entries.map(([id]) => id))
      .returning(['id', 'last_seq'])
      .execute();
    return new Map(rows.map((r) => [r.id, Number(r.last_seq)]));
  }

  /** Takes the next seq of one session (locking its row until commit); null if it does not exist. */
  async #nextSeq(trx: Db, sessionId: string): Promise<number | null> {
    const row = await trx
      .updateTable(this.names.table('sessions'))
      .set({ last_seq: sql<number>`${sql.ref('last_seq')} + 1` })
      .where('id', '=', sessionId)
      .returning('last_seq')
      .executeTakeFirst();
    return row ? Number(row.last_seq) : null;
  }

  async #insertAttachments(trx: Db, attachments: readonly Attachment[]): Promise<void> {
    if (attachments.length === 0) return;
    await trx
      .insertInto(this.names.table('message_attachments'))
      .values(attachments.map((a) => this.#attachmentValues(a)))
      .execute();
  }

  async getMessage(messageId: string): Promise<Message | null> {
    return this.#run(async () => {
      const [row] = await this.#all<MessageRow & ExtrasColumns>(this.db, this.#hot.messageById, { id: messageId });
      return row ? this.#messageWith(row) : null;
    });
  }

  async updateMessage(messageId: string, patch: MessagePatch, options: { bumpSeq: boolean }): Promise<Message | null> {
    return this.#run(() =>
      options.bumpSeq
        ? this.#transaction((trx) => this.#patchMessage(trx, messageId, patch, true))
        : // A streaming flush: one statement, no seq, no transaction.
          this.#patchMessage(this.db, messageId, patch, false),
    );
  }

  /**
   * The one implementation of a message update (updateMessage, updateStream): with `bumpSeq`, takes
   * the next seq of the message's session first (which locks the session row) — `db` must then be a
   * transaction. Then one UPDATE … RETURNING, then the message's reactions and attachments.
   */
  async #patchMessage(db: Db, messageId: string, patch: MessagePatch, bumpSeq: boolean): Promise<Message | null> {
    const d = this.dialect;
    const set = {
      ...(patch.content !== undefined ? { content: patch.content } : {}),
      ...(patch.metadata !== undefined ? { metadata: json(patch.metadata) } : {}),
      ...(patch.tokens !== undefined ? { tokens: patch.tokens } : {}),
      ...(patch.isEdited !== undefined ? { is_edited: d.toBool(patch.isEdited) } : {}),
      ...(patch.editedAt !== undefined ? { edited_at: patch.editedAt && d.toDate(patch.editedAt) } : {}),
      ...(patch.isDeleted !== undefined ? { is_deleted: d.toBool(patch.isDeleted) } : {}),
      ...(patch.deletedAt !== undefined ? { deleted_at: patch.deletedAt && d.toDate(patch.deletedAt) } : {}),
      updated_at: d.toDate(patch.at),
    };
    let seq: number | null = null;
    if (bumpSeq) {
      seq = await this.#nextSeqOfMessage(db, messageId);
      if (seq === null) return null;
    }
    const row = await db
      .updateTable(this.names.table('messages'))
      .set(seq === null ? set : { ...set, change_seq: seq })
      .where('id', '=', messageId)
      .returning(MESSAGE_COLUMNS)
      .executeTakeFirst();
    if (!row) {
      // Gone between the two statements (its session was deleted): do not commit the seq we took.
      if (seq !== null) throw new RetryTransaction();
      return null;
    }
    return (await this.#withExtras(db, [row]))[0]!;
  }

  /** Bumps the session of the message in one statement; null when the message does not exist. */
  async #nextSeqOfMessage(trx: Db, messageId: string): Promise<number | null> {
    const t = this.names;
    const row = await trx
      .updateTable(t.table('sessions'))
      .set({ last_seq: sql<number>`${sql.ref('last_seq')} + 1` })
      .where('id', '=', (eb) => eb.selectFrom(t.as('messages', 'm')).select('m.session_id').where('m.id', '=', messageId))
      .returning('last_seq')
      .executeTakeFirst();
    return row ? Number(row.last_seq) : null;
  }

  async getHistory(sessionId: string, query: HistoryQuery): Promise<MessagePage> {
    const { limit, offset, parentMessageId } = query;
    // `after` pages forward from the cursor (oldest first); otherwise pages go back from the newest
    // (or from `before`). With both cursors, `after` decides the direction and `before` bounds it.
    const ascending = query.after !== undefined;
    const kind = parentMessageId === null ? this.#hot.history.top : this.#hot.history.thread;
    const statement = ascending ? kind.oldest : kind.newest;
    return this.#run(async () => {
      // One statement: the total (a stored counter: O(1) whatever the session's size), the page,
      // and the reactions and attachments of the page's messages (was 3 round trips; p99 7-10 ms).
      const reader = query.authorize?.memberId ?? null;
      const rows = await this.#all<PageRow & { reader_ok: unknown }>(this.db, statement, {
        session: sessionId,
        ...(parentMessageId !== null && { parent: parentMessageId }),
        // The top-level page checks its reader in the same statement (HistoryQuery.authorize).
        ...(parentMessageId === null && { gate: this.dialect.toBool(reader !== null), reader: reader ?? '' }),
        // Open bounds when there is no cursor: one text (one prepared plan) for every page.
        before: query.before ?? Number.MAX_SAFE_INTEGER,
        after: query.after ?? -1,
        limit,
        offset,
      });
      // No row: no such session (or, for a thread, no such parent in it).
      if (query.authorize) assertSessionAccess(sessionId, reader, rows.length > 0, rows.length > 0 && this.dialect.fromBool(rows[0]!.reader_ok));
      return { messages: this.#pageMessages(rows, (a, b) => a.seq - b.seq), total: Number(rows[0]?.total ?? 0) };
    });
  }

  async searchMessages(sessionId: string, terms: readonly string[], page: SearchQuery): Promise<SearchPage> {
    const query = this.#hot.searchQuery(terms);
    if (query === null) {
      // Never reached from the engine (it refuses a query without words); still authorized.
      if (page.authorize) {
        const { memberId } = page.authorize;
        const access = await this.getSessionAccess(sessionId, memberId ?? '');
        assertSessionAccess(sessionId, memberId, access !== null, memberId === null || access?.member != null);
      }
      return { messages: [], total: 0, totalExact: true };
    }
    return this.#run(async () => {
      // Count first (the full-text index, at most maxCount + 1 hits), then the page by the plan the count calls for.
      const maxCount = Math.max(0, Math.floor(page.maxCount));
      const reader = page.authorize?.memberId ?? null;
      const [count] = await this.#all<{ total: number | string; size: number | string; reader_ok: unknown }>(this.db, this.#hot.searchCount, {
        session: sessionId,
        query,
        cap: maxCount + 1,
        gate: this.dialect.toBool(reader !== null),
        reader: reader ?? '',
      });
      if (page.authorize) assertSessionAccess(sessionId, reader, count !== undefined, count !== undefined && this.dialect.fromBool(count.reader_ok));
      const counted = Number(count?.total ?? 0);
      const totalExact = counted <= maxCount;
      const total = Math.min(counted, maxCount);
      if (totalExact && total <= page.offset) return { messages: [], total, totalExact };
      // A walk of the session's seq index reads about (offset + limit) × size / total rows (~0.5 µs
      // each; with a capped total, at most that): bounded, the page takes the planner's own plan
      // for `order by seq desc limit`, as a raw query would (the walk for words it knows to be
      // common, a bitmap for rare ones).
      // Unbounded — a word rare in this session, perhaps common elsewhere, where the planner could
      // still choose the walk and read the whole session (300 ms) — the page gathers the hits.
      const walkRows = ((page.offset + page.limit) * Number(count!.size)) / Math.max(1, total);
      const statement = walkRows <= WALK_ROWS ? this.#hot.searchWalk : this.#hot.searchGather;
      const rows = await this.#all<PageRow>(this.db, statement, { session: sessionId, query, limit: page.limit, offset: page.offset });
      return { messages: this.#pageMessages(rows, (a, b) => b.seq - a.seq), total, totalExact };
    });
  }

  async getChangesSince(sessionId: string, afterSeq: number, limit: number): Promise<Message[]> {
    return this.#run(async () => {
      const rows = await this.#all<PageRow>(this.db, this.#hot.changesSince, { session: sessionId, after: afterSeq, limit });
      return this.#pageMessages(rows, (a, b) => a.changeSeq - b.changeSeq);
    });
  }

  // ---- reactions and attachments -------------------------------------------------------------

  async setReaction(input: ReactionChange): Promise<ReactionResult | null> {
    const t = this.names;
    const d = this.dialect;
    return this.#run(() =>
      this.#transaction(
        async (trx) => {
          const target = await trx.selectFrom(t.as('messages', 'm')).select('m.session_id').where('m.id', '=', input.messageId).executeTakeFirst();
          if (!target) return null;
          // Serialise changes of this session so "does the reaction exist?" stays true until we commit.
          await d.lockSessions(trx, t, [target.session_id]);
          const existing = await trx
            .selectFrom(t.as('message_reactions', 'r'))
            .select('r.id')
            .where('r.message_id', '=', input.messageId)
            .where('r.user_id', '=', input.userId)
            .where('r.emoji', '=', input.emoji)
            .executeTakeFirst();
          const present = existing !== undefined;
          const added = input.action === 'add' ? true : input.action === 'remove' ? false : !present;
          const changed = added !== present;
          let row: MessageRow;
          if (changed) {
            if (added) {
              await trx
                .insertInto(t.table('message_reactions'))
                .values({ id: input.id, message_id: input.messageId, user_id: input.userId, emoji: input.emoji, created_at: d.toDate(input.at) })
                .execute();
            } else {
              await trx.deleteFrom(t.table('message_reactions')).where('id', '=', existing!.id).execute();
            }
            const seq = (await this.#nextSeq(trx, target.session_id))!;
            row = await this.#touchMessage(trx, input.messageId, seq);
          } else {
            row = (await this.#messageRow(trx, input.messageId))!;
          }
          const message = (await this.#withExtras(trx, [row]))[0]!;
          return { added, changed, reactions: message.reactions, message };
        },
        (info) => info?.kind === 'unique' && (info.detail ?? '').includes('reactions'),
      ),
    );
  }

  async getReactions(messageId: string): Promise<Reaction[]> {
    return this.#run(async () => {
      const [row] = await this.#extrasOf(this.db, [messageId]);
      return row ? reactionsFrom(row.reactions) : [];
    });
  }

  async addAttachments(
    messageId: string,
    attachments: readonly NewAttachment[],
    at: Date,
  ): Promise<{ attachments: Attachment[]; message: Message } | null> {
    const t = this.names;
    return this.#run(() =>
      this.#transaction(async (trx) => {
        const target = await trx.selectFrom(t.as('messages', 'm')).select('m.session_id').where('m.id', '=', messageId).executeTakeFirst();
        if (!target) return null;
        const stored = attachments.map((a) => ({ ...attachmentOf(a, messageId), createdAt: at.toISOString() }));
        let row: MessageRow;
        if (stored.length === 0) {
          row = (await this.#messageRow(trx, messageId))!;
        } else {
          const seq = (await this.#nextSeq(trx, target.session_id))!;
          for (const chunk of chunks(stored, INSERT_CHUNK)) await this.#insertAttachments(trx, chunk);
          row = await this.#touchMessage(trx, messageId, seq, at);
        }
        const message = (await this.#withExtras(trx, [row]))[0]!;
        const ids = new Set(stored.map((a) => a.id));
        return { attachments: message.attachments.filter((a) => ids.has(a.id)), message };
      }),
    );
  }

  async getAttachment(attachmentId: string): Promise<Attachment | null> {
    return this.#run(async () => {
      const row = await this.db
        .selectFrom(this.names.as('message_attachments', 'a'))
        .select(ATTACHMENT_COLUMNS.map((c) => `a.${c}` as const))
        .where('a.id', '=', attachmentId)
        .executeTakeFirst();
      return row ? this.#attachment(row) : null;
    });
  }

  async getAttachments(messageId: string): Promise<Attachment[]> {
    return this.#run(async () => {
      const [row] = await this.#extrasOf(this.db, [messageId]);
      return row ? this.#attachmentsFrom(messageId, row.attachments) : [];
    });
  }

  async deleteAttachment(attachmentId: string, at: Date): Promise<{ attachment: Attachment; message: Message } | null> {
    const t = this.names;
    return this.#run(() =>
      this.#transaction(async (trx) => {
        const row = await trx
          .selectFrom(t.as('message_attachments', 'a'))
          .innerJoin(t.as('messages', 'm'), 'm.id', 'a.message_id')
          .select(ATTACHMENT_COLUMNS.map((c) => `a.${c}` as const))
          .select('m.session_id')
          .where('a.id', '=', attachmentId)
          .executeTakeFirst();
        if (!row) return null;
        const seq = (await this.#nextSeq(trx, row.session_id))!;
        const deleted = await trx.deleteFrom(t.table('message_attachments')).where('id', '=', attachmentId).executeTakeFirst();
        if (Number(deleted.numDeletedRows) === 0) {
          // Deleted concurrently after our read: undo the seq we took.
          throw new RetryTransaction();
        }
        const messageRow = await this.#touchMessage(trx, row.message_id, seq, at);
        const message = (await this.#withExtras(trx, [messageRow]))[0]!;
        return { attachment: this.#attachment(row), message };
      }),
    );
  }

  // ---- LLM streams ---------------------------------------------------------------------------

  async createStream(input: { stream: NewStream; messages: readonly NewMessage[] }): Promise<{ stream: StreamRecord; messages: InsertedMessage[] }> {
    const { stream, messages } = input;
    const d = this.dialect;
    const t = this.names;
    return this.#run(async () => {
      try {
        return await this.#transaction(async (trx) => {
          const inserted = messages.length === 0 ? [] : await this.#insertBatch(trx, messages);
          // An input message that was a duplicate (clientMessageId) is the stored one: point the row at it.
          const stored = (id: string) => {
            const index = messages.findIndex((m) => m.id === id);
            return index === -1 ? id : inserted[index]!.message.id;
          };
          const at = d.toDate(stream.at);
          const row = await trx
            .insertInto(t.table('streams'))
            .values({
              id: stream.id,
              session_id: stream.sessionId,
              message_id: stored(stream.messageId),
              prompt_message_id: stored(stream.promptMessageId),
              user_id: stream.userId,
              agent_id: stream.agentId,
              model: stream.model,
              status: 'pending',
              finish_reason: null,
              max_tokens: stream.maxTokens,
              tokens_generated: 0,
              prompt_tokens: null,
              bytes_emitted: 0,
              errors: 0,
              error_message: null,
              node_id: stream.nodeId,
              started_at: at,
              first_token_at: null,
              completed_at: null,
              updated_at: at,
            })
            .returning(STREAM_COLUMNS)
            .executeTakeFirstOrThrow();
          return { stream: this.#stream(row), messages: inserted };
        }, isDuplicateClientId);
      } catch (error) {
        const info = isChatError(error) ? null : classify(d, error);
        if (info?.kind === 'unique' && (info.detail ?? '').includes('streams')) {
          throw new ChatError('CONFLICT', `Stream ${stream.id} already exists`, { cause: error });
        }
        throw error;
      }
    });
  }

  async updateStream(
    streamId: string,
    patch: StreamPatch,
    message?: { patch: MessagePatch; bumpSeq: boolean },
  ): Promise<{ stream: StreamRecord; message: Message | null } | null> {
    const d = this.dialect;
    const date = (value: Date | null) => (value === null ? null : d.toDate(value));
    const set = {
      ...(patch.status !== undefined ? { status: patch.status } : {}),
      ...(patch.finishReason !== undefined ? { finish_reason: patch.finishReason } : {}),
      ...(patch.tokensGenerated !== undefined ? { tokens_generated: patch.tokensGenerated } : {}),
      ...(patch.promptTokens !== undefined ? { prompt_tokens: patch.promptTokens } : {}),
      ...(patch.bytesEmitted !== undefined ? { bytes_emitted: patch.bytesEmitted } : {}),
      ...(patch.errors !== undefined ? { errors: patch.errors } : {}),
      ...(patch.errorMessage !== undefined ? { error_message: patch.errorMessage } : {}),
      ...(patch.firstTokenAt !== undefined ? { first_token_at: date(patch.firstTokenAt) } : {}),
      ...(patch.completedAt !== undefined ? { completed_at: date(patch.completedAt) } : {}),
      updated_at: d.toDate(patch.at),
    };
    const expected = patch.expectedStatuses;
    if (expected && expected.length === 0) return null;
    const updateRow = (db: Db) => {
      let query = db.updateTable(this.names.table('streams')).set(set).where('id', '=', streamId);
      if (expected) query = query.where('status', 'in', [...expected]);
      return query.returning(STREAM_COLUMNS).executeTakeFirst();
    };
    return this.#run(async () => {
      if (message === undefined) {
        // Metrics only: one statement, no transaction.
        const row = await updateRow(this.db);
        return row ? { stream: this.#stream(row), message: null } : null;
      }
      // The stream row first (it names the message, and locks the row so two updates of one stream
      // queue), then the message exactly as updateMessage does it.
      return this.#transaction(async (trx) => {
        const row = await updateRow(trx);
        if (!row) return null;
        const updated = await this.#patchMessage(trx, row.message_id, message.patch, message.bumpSeq);
        return { stream: this.#stream(row), message: updated };
      });
    });
  }

  async flushStream(streamId: string, flush: StreamFlush): Promise<boolean> {
    const { stream, message } = this.#hot.flushStream;
    const d = this.dialect;
    const values = {
      id: streamId,
      tokensGenerated: flush.tokensGenerated,
      bytesEmitted: flush.bytesEmitted,
      errors: flush.errors,
      firstTokenAt: flush.firstTokenAt === null ? null : d.toDate(flush.firstTokenAt),
      at: d.toDate(flush.at),
      content: flush.content,
      tokens: flush.tokens,
    };
    return this.#run(async () => {
      if (message) {
        // SQLite (whose runner always has synchronous transactions): both rows in one, on cached statements.
        return this.#runner.transaction!((tx): boolean => {
          if (tx.run(stream, bind(stream, values)) === 0) return false; // not running (or gone)
          tx.run(message, bind(message, values));
          if (this.#hot.searchIndexStep) tx.run(this.#hot.searchIndexStep, []);
          return true;
        });
      }
      const [row] = await this.#all<{ n: number | string }>(this.db, stream, values);
      return Number(row?.n ?? 0) > 0;
    });
  }

  async getStream(streamId: string): Promise<StreamRecord | null> {
    return this.#run(async () => {
      const row = await this.db.selectFrom(this.names.as('streams', 'st')).select(ST).where('st.id', '=', streamId).executeTakeFirst();
      return row ? this.#stream(row) : null;
    });
  }

  async listStreams(sessionId: string, statuses: readonly StreamStatus[]): Promise<StreamRecord[]> {
    if (statuses.length === 0) return [];
    return this.#run(async () => {
      const rows = await this.db
        .selectFrom(this.names.as('streams', 'st'))
        .select(ST)
        .where('st.session_id', '=', sessionId)
        .where('st.status', 'in', [...new Set(statuses)])
        .orderBy('st.started_at')
        .orderBy('st.id')
        .execute();
      return rows.map((r) => this.#stream(r));
    });
  }

  async listStaleStreams(query: { nodeId: string | null; updatedBefore: Date }): Promise<StreamRecord[]> {
    return this.#run(async () => {
      let q = this.db
        .selectFrom(this.names.as('streams', 'st'))
        .select(ST)
        .where('st.status', 'in', RUNNING)
        .where('st.updated_at', '<', this.dialect.toDate(query.updatedBefore));
      if (query.nodeId !== null) q = q.where('st.node_id', '=', query.nodeId);
      const rows = await q.orderBy('st.updated_at').orderBy('st.id').execute();
      return rows.map((r) => this.#stream(r));
    });
  }

  // ---- helpers -------------------------------------------------------------------------------

  /** Runs `fn`, turning driver errors into ChatError (UNAVAILABLE, CONFLICT, NOT_FOUND, INTERNAL). */
  async #run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new ChatError('UNAVAILABLE', 'Storage is closed');
    try {
      return await fn();
    } catch (error) {
      throw toStorageError(this.dialect, error);
    }
  }

  /**
   * One transaction, run again on a deadlock / serialization failure, or when `retryOn` says the
   * failure is a lost race that a fresh attempt resolves.
   */
  async #transaction<T>(fn: (trx: Db) => Promise<T>, retryOn?: (info: DbErrorInfo | null) => boolean): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const step = this.#hot.searchIndexStep;
        return await this.db.transaction().execute(
          step
            ? async (trx) => {
                const result = await fn(trx);
                await this.#all(trx, step, {});
                return result;
              }
            : fn,
        );
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS || isChatError(error)) throw error;
        const info = error instanceof RetryTransaction ? RETRY_INFO : classify(this.dialect, error);
        if (info?.kind === 'retry' || (retryOn?.(info) ?? false)) continue;
        throw error;
      }
    }
  }

  async #messageRow(db: Db, messageId: string): Promise<MessageRow | undefined> {
    return db.selectFrom(this.names.as('messages', 'm')).select(M).where('m.id', '=', messageId).executeTakeFirst();
  }

  /** Records a change to a message: its `changeSeq` (and `updatedAt` when given). */
  async #touchMessage(trx: Db, messageId: string, seq: number, at?: Date): Promise<MessageRow> {
    return trx
      .updateTable(this.names.table('messages'))
      .set({ change_seq: seq, ...(at ? { updated_at: this.dialect.toDate(at) } : {}) })
      .where('id', '=', messageId)
      .returning(MESSAGE_COLUMNS)
      .executeTakeFirstOrThrow();
  }

  /**
   * A hot statement: through the runner (prepared) outside a transaction; inside one (`db` is the
   * transaction) the same fixed text on its connection, through Kysely.
   */
  async #all<R>(db: Db, statement: Statement, values: Values): Promise<R[]> {
    const params = bind(statement, values);
    if (db === this.db) return this.#runner.query<R>(statement, params);
    const result = await db.executeQuery<R>(CompiledQuery.raw(statement.text, params));
    return [...result.rows];
  }

  /** Rows → messages with their reactions and attachments: one statement for the whole list. */
  async #withExtras(db: Db, rows: readonly MessageRow[]): Promise<Message[]> {
    if (rows.length === 0) return [];
    const extras = new Map((await this.#extrasOf(db, rows.map((r) => r.id))).map((e) => [e.id, e]));
    return rows.map((r) => this.#messageWith({ ...r, ...extras.get(r.id)! }));
  }

  async #extrasOf(db: Db, messageIds: readonly string[]): Promise<({ id: string } & ExtrasColumns)[]> {
    return this.#all(db, this.#hot.extrasOf, { ids: this.#hot.list([...new Set(messageIds)]) });
  }

  /** The message rows of a page (an empty page is one row of nulls, carrying the total), sorted. */
  #pageMessages(rows: readonly PageRow[], order: (a: Message, b: Message) => number): Message[] {
    const messages: Message[] = [];
    for (const row of rows) if (row.id != null) messages.push(this.#messageWith(row));
    // The statement's rows come in no guaranteed order (a page is a join); 50 rows sort in µs.
    return messages.sort(order);
  }

  #messageWith(row: MessageRow & ExtrasColumns): Message {
    return this.#message(row, reactionsFrom(row.reactions), this.#attachmentsFrom(row.id, row.attachments));
  }

  #attachmentsFrom(messageId: string, value: unknown): Attachment[] {
    const list = byOrd(parseJson(value) as [number | string, string, string, string, string, number | string, unknown, string][]);
    return list.map(([, id, fileName, fileUrl, mimeType, fileSize, metadata, createdAt]) =>
      this.#attachment({
        id,
        message_id: messageId,
        file_name: fileName,
        file_url: fileUrl,
        mime_type: mimeType,
        file_size: fileSize,
        metadata,
        created_at: createdAt,
      }),
    );
  }

  #message(row: MessageRow, reactions: Reaction[], attachments: Attachment[]): Message {
    const d = this.dialect;
    const isDeleted = d.fromBool(row.is_deleted);
    return {
      id: row.id,
      sessionId: row.session_id,
      userId: row.user_id,
      agentId: row.agent_id,
      // The contract: a deleted message never shows its old text, whatever was stored.
      content: isDeleted ? '' : row.content,
      role: row.role as MessageRole,
      metadata: d.fromJson(row.metadata),
      tokens: row.tokens == null ? null : Number(row.tokens),
      parentMessageId: row.parent_message_id,
      replyCount: Number(row.reply_count),
      seq: Number(row.seq),
      changeSeq: Number(row.change_seq),
      clientMessageId: row.client_message_id,
      isEdited: d.fromBool(row.is_edited),
      editedAt: row.edited_at == null ? null : d.fromDate(row.edited_at),
      isDeleted,
      deletedAt: row.deleted_at == null ? null : d.fromDate(row.deleted_at),
      createdAt: d.fromDate(row.created_at),
      updatedAt: d.fromDate(row.updated_at),
      attachments,
      reactions,
    };
  }

  #session(row: SessionRow): Session {
    const d = this.dialect;
    return {
      id: row.id,
      title: row.title,
      createdBy: row.created_by,
      metadata: d.fromJson(row.metadata),
      lastSeq: Number(row.last_seq),
      messageCount: Number(row.message_count),
      createdAt: d.fromDate(row.created_at),
    };
  }

  #member(row: MemberRow): SessionMember {
    const d = this.dialect;
    return {
      sessionId: row.session_id,
      userId: row.user_id,
      role: row.role as MemberRole,
      lastReadSeq: Number(row.last_read_seq),
      lastDeliveredSeq: Number(row.last_delivered_seq),
      lastSeenAt: row.last_seen_at == null ? null : d.fromDate(row.last_seen_at),
      joinedAt: d.fromDate(row.joined_at),
    };
  }

  #stream(row: StreamRow): StreamRecord {
    const d = this.dialect;
    const date = (value: unknown) => (value == null ? null : d.fromDate(value));
    return {
      id: row.id,
      sessionId: row.session_id,
      messageId: row.message_id,
      promptMessageId: row.prompt_message_id,
      userId: row.user_id,
      agentId: row.agent_id,
      model: row.model,
      status: row.status as StreamStatus,
      finishReason: row.finish_reason,
      maxTokens: row.max_tokens == null ? null : Number(row.max_tokens),
      tokensGenerated: Number(row.tokens_generated),
      promptTokens: row.prompt_tokens == null ? null : Number(row.prompt_tokens),
      bytesEmitted: Number(row.bytes_emitted),
      errors: Number(row.errors),
      errorMessage: row.error_message,
      nodeId: row.node_id,
      startedAt: d.fromDate(row.started_at),
      firstTokenAt: date(row.first_token_at),
      completedAt: date(row.completed_at),
      updatedAt: d.fromDate(row.updated_at),
    };
  }

  #attachment(row: AttachmentRow): Attachment {
    const d = this.dialect;
    return {
      id: row.id,
      messageId: row.message_id,
      fileName: row.file_name,
      fileUrl: row.file_url,
      mimeType: row.mime_type,
      fileSize: Number(row.file_size),
      metadata: d.fromJson(row.metadata),
      createdAt: d.fromDate(row.created_at),
    };
  }
}

/** The membership columns of the access check. */
interface AccessColumns {
  mem_user_id: string | null;
  mem_role: string | null;
  mem_last_read_seq: number | string | null;
  mem_last_delivered_seq: number | string | null;
  mem_last_seen_at: DbDate | null;
  mem_joined_at: DbDate | null;
}

/** A row of a page statement: the total, then (unless the page is empty) a message and its extras. */
type PageRow = MessageRow & ExtrasColumns & { total?: unknown };

/** Hot statements through Kysely, unprepared: for a Postgres adapter built on a host's Kysely (no pool to reach). */
function kyselyRunner(db: Kysely<any>): StatementRunner {
  return {
    async query<R>(statement: Statement, values: readonly unknown[]): Promise<R[]> {
      const result = await db.executeQuery<R>(CompiledQuery.raw(statement.text, [...values]));
      return [...result.rows];
    },
  };
}

/** A batch's message columns as the arrays the Postgres batch statements unnest, in input order. */
function messageColumns(batch: readonly NewMessage[]): Values {
  return {
    ids: batch.map((m) => m.id),
    users: batch.map((m) => m.userId),
    agents: batch.map((m) => m.agentId),
    roles: batch.map((m) => m.role),
    contents: batch.map((m) => m.content),
    metadata: batch.map((m) => json(m.metadata)),
    tokens: batch.map((m) => m.tokens),
    clientIds: batch.map((m) => m.clientMessageId),
    ats: batch.map((m) => m.at.toISOString()),
    mustBeMembers: batch.map(needsMembership),
  };
}

/**
 * What Postgres' one-statement insert handles: top-level messages (reply counts stay on the
 * transaction path), each client id at most once in the batch and with a user (NULL user ids never
 * meet in the unique index, so only the transaction path's lock can de-duplicate them).
 */
function fitsOneStatement(batch: readonly NewMessage[]): boolean {
  const keys = new Set<string>();
  for (const m of batch) {
    if (m.parentMessageId !== null) return false;
    if (m.clientMessageId === null) continue;
    if (m.userId === null) return false;
    const key = clientKey(m);
    if (keys.has(key)) return false;
    keys.add(key);
  }
  return true;
}

type Slot = { kind: 'create'; index: number } | { kind: 'existing'; key: string } | { kind: 'same-as'; index: number };

/** Which items are created, which return a stored message (`existing`, by client key) or an earlier item of this batch. */
function planBatch(batch: readonly NewMessage[], existing: ReadonlyMap<string, unknown>): { slots: Slot[]; toCreate: NewMessage[] } {
  const slots: Slot[] = [];
  const toCreate: NewMessage[] = [];
  const firstInBatch = new Map<string, number>();
  for (const item of batch) {
    const key = item.clientMessageId === null ? null : clientKey(item);
    if (key !== null && existing.has(key)) slots.push({ kind: 'existing', key });
    else if (key !== null && firstInBatch.has(key)) slots.push({ kind: 'same-as', index: firstInBatch.get(key)! });
    else {
      if (key !== null) firstInBatch.set(key, toCreate.length);
      slots.push({ kind: 'create', index: toCreate.length });
      toCreate.push(item);
    }
  }
  return { slots, toCreate };
}

/** Per session: messages created (seqs taken) and how many of them are top-level (messageCount). */
function countPerSession(toCreate: readonly NewMessage[]): Map<string, { count: number; topLevel: number }> {
  const perSession = new Map<string, { count: number; topLevel: number }>();
  for (const m of toCreate) {
    const c = perSession.get(m.sessionId) ?? { count: 0, topLevel: 0 };
    c.count++;
    if (m.parentMessageId === null) c.topLevel++;
    perSession.set(m.sessionId, c);
  }
  return perSession;
}

/** New replies per parent id. */
function replyCounts(toCreate: readonly NewMessage[]): Map<string, number> {
  const replies = new Map<string, number>();
  for (const m of toCreate) if (m.parentMessageId !== null) replies.set(m.parentMessageId, (replies.get(m.parentMessageId) ?? 0) + 1);
  return replies;
}

/** The message as stored for a new item with its seq. */
function createdMessage(m: NewMessage, seq: number, replyCount: number): Message {
  const at = m.at.toISOString();
  return {
    id: m.id,
    sessionId: m.sessionId,
    userId: m.userId,
    agentId: m.agentId,
    content: m.content,
    role: m.role,
    metadata: structuredClone(m.metadata), // the caller's objects stay the caller's
    tokens: m.tokens,
    parentMessageId: m.parentMessageId,
    replyCount,
    seq,
    changeSeq: seq,
    clientMessageId: m.clientMessageId,
    isEdited: false,
    editedAt: null,
    isDeleted: false,
    deletedAt: null,
    createdAt: at,
    updatedAt: at,
    attachments: m.attachments.map((a) => ({ ...attachmentOf(a, m.id), createdAt: at })),
    reactions: [],
  };
}

function resultsOf(slots: readonly Slot[], created: readonly Message[], stored: ReadonlyMap<string, Message>): InsertedMessage[] {
  return slots.map((slot) => {
    if (slot.kind === 'create') return { message: created[slot.index]!, created: true };
    if (slot.kind === 'same-as') return { message: structuredClone(created[slot.index]!), created: false };
    return { message: stored.get(slot.key)!, created: false };
  });
}

/** JSON the driver parsed (pg `json`) or left as text (SQLite, or a pg pool with json parsing off). */
function parseJson(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : (value ?? []);
}

/** Aggregated `[ord, …]` entries in `ord` order (most lists have 0 or 1 entries). */
function byOrd<T extends readonly [number | string, ...unknown[]]>(list: T[]): T[] {
  return list.length < 2 ? list : list.sort((a, b) => Number(a[0]) - Number(b[0]));
}

/** `[[ord, emoji, userId], …]` → grouped by emoji in reaction order, each group where its first reaction was. */
function reactionsFrom(value: unknown): Reaction[] {
  const groups = new Map<string, Reaction>();
  for (const [, emoji, userId] of byOrd(parseJson(value) as [number | string, string, string][])) {
    let group = groups.get(emoji);
    if (!group) groups.set(emoji, (group = { emoji, count: 0, userIds: [] }));
    group.count++;
    group.userIds.push(userId);
  }
  return [...groups.values()];
}

/**
 * A concurrent send (this process or another) may commit the same clientMessageId between our
 * look-up and our insert: the unique index refuses ours, and running the whole batch again returns
 * the stored row with `created: false`.
 */
function isDuplicateClientId(info: DbErrorInfo | null): boolean {
  return info?.kind === 'unique' && (info.detail ?? '').includes('client_message_id');
}

/** Thrown inside a transaction to roll it back and run it again. */
class RetryTransaction extends Error {}
const RETRY_INFO: DbErrorInfo = { kind: 'retry' };

function json(value: JsonObject | null): string | null {
  return value === null ? null : JSON.stringify(value);
}

function attachmentOf(a: NewAttachment, messageId: string): Omit<Attachment, 'createdAt'> {
  return {
    id: a.id,
    messageId,
    fileName: a.fileName,
    fileUrl: a.fileUrl,
    mimeType: a.mimeType,
    fileSize: a.fileSize,
    metadata: structuredClone(a.metadata),
  };
}

/** The identity of a send for duplicate detection: session + sender + client id. */
function clientKey(m: { sessionId: string; userId: string | null; clientMessageId: string | null }): string {
  return JSON.stringify([m.sessionId, m.userId, m.clientMessageId]);
}

/** A send the engine left to storage to authorize (`requireMembership`). */
function needsMembership(m: NewMessage): m is NewMessage & { userId: string } {
  return m.requireMembership === true && m.userId !== null;
}

function memberKey(m: { sessionId: string; userId: string }): string {
  return `${m.sessionId}\u0000${m.userId}`;
}

function uniqueBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) {
    const k = key(item);
    if (!seen.has(k)) seen.set(k, item);
  }
  return [...seen.values()];
}

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** `CASE id WHEN $1 THEN 3 … END`: ids are bound, the counts are our own integers (inlined so both dialects type them as integers). */
function caseById(entries: readonly (readonly [string, number])[]) {
  return sql<number>`case ${sql.ref('id')} ${sql.join(
    entries.map(([id, n]) => sql`when ${id} then ${sql.lit(n)}`),
    sql` `,
  )} else 0 end`;
}
