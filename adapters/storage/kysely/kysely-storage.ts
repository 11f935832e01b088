/**
 * The one SQL implementation of {@link StorageAdapter}, shared by `PostgresStorage` and
 * `SqliteStorage`. Queries are written once with Kysely; what differs between the databases lives
 * in the {@link SqlDialect} object each adapter passes in.
 *
 * Query budget (DESIGN §4, the contract):
 * - `insertMessages`: one transaction per batch and a fixed number of statements whatever its size:
 *   [look up client ids] [lock sessions, when several] bump sessions, insert messages,
 *   [insert attachments] [bump parents' reply counts] — plus two reads only when duplicates must
 *   be returned. Typical send: 3–4 statements between BEGIN and COMMIT.
 * - `getHistory`: 3 queries (page with its total, reactions of the page, attachments of the page).
 * - `searchMessages`: 3 queries (matches with `count(*) over ()`, reactions, attachments).
 * - `createStream`: one transaction: the statements of insertMessages for its messages (shared
 *   code), then one INSERT of the stream row. Typical start (prompt with a clientMessageId, empty
 *   answer): 4 statements; without a clientMessageId: 3.
 * - `updateStream`: metrics only: 1 statement, no transaction. With the answer (the same code as
 *   updateMessage): stream row, [session seq when `bumpSeq`], message, reactions, attachments —
 *   4 statements for a flush, 5 for the final commit, in one transaction.
 * - `getStream`, `listStreams`, `listStaleStreams`: 1 query each, on an index.
 */
import { sql, type Kysely } from 'kysely';
import { ChatError, isChatError } from '../../../src/errors.js';
import type {
  Attachment,
  JsonObject,
  MemberRole,
  Message,
  MessagePage,
  MessageRole,
  Reaction,
  Session,
  SessionMember,
  SessionSummary,
  StreamRecord,
  StreamStatus,
} from '../../../src/model.js';
import type {
  HistoryQuery,
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
  StreamPatch,
} from '../../../src/ports/storage.js';
import type { DbErrorInfo, SqlDialect } from './dialect.js';
import { classify, toStorageError } from './errors.js';
import { createMigrator } from './migrations.js';
import {
  ATTACHMENT_COLUMNS,
  MEMBER_COLUMNS,
  MESSAGE_COLUMNS,
  SESSION_COLUMNS,
  STREAM_COLUMNS,
  tableNames,
  type AttachmentRow,
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
}

const M = MESSAGE_COLUMNS.map((c) => `m.${c}` as const);
const S = SESSION_COLUMNS.map((c) => `s.${c}` as const);
const MEM = MEMBER_COLUMNS.map((c) => `mem.${c}` as const);
const ST = STREAM_COLUMNS.map((c) => `st.${c}` as const);
/** The states of a stream that has not ended (what a crash leaves behind). */
const RUNNING: StreamStatus[] = ['pending', 'streaming'];

/** Rows per multi-row INSERT: stays under both drivers' bind-parameter limits (pg 65535, SQLite 32766). */
const INSERT_CHUNK = 1000;
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
  #closed = false;

  constructor(config: KyselyStorageConfig) {
    this.name = config.name;
    this.db = config.db;
    this.dialect = config.dialect;
    this.names = tableNames(config.tablePrefix ?? 'chat_', config.schema);
    this.schema = config.schema;
    this.#destroy = config.destroy;
    this.#defaultSchema = config.defaultSchema;
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
      const row = await this.db.selectFrom(this.names.as('sessions', 's')).select(S).where('s.id', '=', sessionId).executeTakeFirst();
      return row ? this.#session(row) : null;
    });
  }

  async getSessionAccess(sessionId: string, userId: string): Promise<SessionAccess | null> {
    const t = this.names;
    return this.#run(async () => {
      const row = await this.db
        .selectFrom(t.as('sessions', 's'))
        .leftJoin(t.as('session_members', 'mem'), (j) => j.onRef('mem.session_id', '=', 's.id').on('mem.user_id', '=', userId))
        .select(S)
        .select([
          'mem.user_id as mem_user_id',
          'mem.role as mem_role',
          'mem.last_read_seq as mem_last_read_seq',
          'mem.last_delivered_seq as mem_last_delivered_seq',
          'mem.last_seen_at as mem_last_seen_at',
          'mem.joined_at as mem_joined_at',
        ])
        .where('s.id', '=', sessionId)
        .executeTakeFirst();
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
    return this.#run(() => this.#transaction((trx) => this.#insertBatch(trx, batch), isDuplicateClientId));
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

    // Plan: which items are created, which return a stored message or an earlier item of this batch.
    type Slot = { kind: 'create'; index: number } | { kind: 'existing'; key: string } | { kind: 'same-as'; index: number };
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

    const created: Message[] = [];
    if (toCreate.length > 0) {
      // Bump every touched session once: last_seq += created, message_count += created top-level.
      const perSession = new Map<string, { count: number; topLevel: number }>();
      for (const m of toCreate) {
        const c = perSession.get(m.sessionId) ?? { count: 0, topLevel: 0 };
        c.count++;
        if (m.parentMessageId === null) c.topLevel++;
        perSession.set(m.sessionId, c);
      }
      const bumped = await this.#bumpSessions(trx, perSession);
      const missing = [...perSession.keys()].find((id) => !bumped.has(id));
      if (missing !== undefined) throw new ChatError('NOT_FOUND', `Session ${missing} not found`);
      const nextSeq = new Map<string, number>();
      for (const [id, c] of perSession) nextSeq.set(id, bumped.get(id)! - c.count + 1);

      const replies = new Map<string, number>();
      for (const m of toCreate) if (m.parentMessageId !== null) replies.set(m.parentMessageId, (replies.get(m.parentMessageId) ?? 0) + 1);

      for (const m of toCreate) {
        const seq = nextSeq.get(m.sessionId)!;
        nextSeq.set(m.sessionId, seq + 1);
        const at = m.at.toISOString();
        created.push({
          id: m.id,
          sessionId: m.sessionId,
          userId: m.userId,
          agentId: m.agentId,
          content: m.content,
          role: m.role,
          metadata: structuredClone(m.metadata), // the caller's objects stay the caller's
          tokens: m.tokens,
          parentMessageId: m.parentMessageId,
          replyCount: replies.get(m.id) ?? 0, // a reply to a message of the same batch
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
        });
      }

      for (const chunk of chunks(created, INSERT_CHUNK)) {
        await trx
          .insertInto(t.table('messages'))
          .values(
            chunk.map((m) => ({
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
              created_at: d.toDate(new Date(m.createdAt)),
              updated_at: d.toDate(new Date(m.createdAt)),
            })),
          )
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
    return slots.map((slot) => {
      if (slot.kind === 'create') return { message: created[slot.index]!, created: true };
      if (slot.kind === 'same-as') return { message: structuredClone(created[slot.index]!), created: false };
      return { message: stored.get(slot.key)!, created: false };
    });
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
    const d = this.dialect;
    await trx
      .insertInto(this.names.table('message_attachments'))
      .values(
        attachments.map((a) => ({
          id: a.id,
          message_id: a.messageId,
          file_name: a.fileName,
          file_url: a.fileUrl,
          mime_type: a.mimeType,
          file_size: a.fileSize,
          metadata: json(a.metadata),
          created_at: d.toDate(new Date(a.createdAt)),
        })),
      )
      .execute();
  }

  async getMessage(messageId: string): Promise<Message | null> {
    return this.#run(async () => {
      const row = await this.#messageRow(this.db, messageId);
      return row ? (await this.#withExtras(this.db, [row]))[0]! : null;
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
    const t = this.names;
    const { limit, offset, parentMessageId } = query;
    // `after` pages forward from the cursor (oldest first); otherwise pages go back from the newest
    // (or from `before`). With both cursors, `after` decides the direction and `before` bounds it.
    const ascending = query.after !== undefined;
    return this.#run(async () => {
      // The selection's size is a stored counter: O(1) whatever the session's size.
      const total =
        parentMessageId === null
          ? this.db.selectFrom(t.as('sessions', 'ts')).select('ts.message_count as n').where('ts.id', '=', sessionId)
          : this.db
              .selectFrom(t.as('messages', 'tp'))
              .select('tp.reply_count as n')
              .where('tp.id', '=', parentMessageId)
              .where('tp.session_id', '=', sessionId);
      let q = this.db
        .selectFrom(t.as('messages', 'm'))
        .select(M)
        .select(total.as('total'))
        .where('m.session_id', '=', sessionId)
        .where('m.parent_message_id', parentMessageId === null ? 'is' : '=', parentMessageId);
      if (query.before !== undefined) q = q.where('m.seq', '<', query.before);
      if (query.after !== undefined) q = q.where('m.seq', '>', query.after);
      const rows = await q
        .orderBy('m.seq', ascending ? 'asc' : 'desc')
        .limit(limit)
        .offset(offset)
        .execute();
      if (rows.length === 0) {
        // Empty page (past the end, or nothing yet): the total alone.
        const row = await total.executeTakeFirst();
        return { messages: [], total: Number(row?.n ?? 0) };
      }
      if (!ascending) rows.reverse();
      return { messages: await this.#withExtras(this.db, rows), total: Number(rows[0]!.total ?? 0) };
    });
  }

  async searchMessages(sessionId: string, terms: readonly string[], page: { limit: number; offset: number }): Promise<MessagePage> {
    const t = this.names;
    const d = this.dialect;
    const matches = d.searchCondition(t, terms);
    if (matches === null) return { messages: [], total: 0 };
    return this.#run(async () => {
      const hits = this.db
        .selectFrom(t.as('messages', 'm'))
        .where('m.session_id', '=', sessionId)
        .where('m.is_deleted', '=', d.toBool(false))
        .where(matches);
      // The matches are collected first (a MATERIALIZED CTE is an optimisation fence): written as
      // one `ORDER BY seq DESC LIMIT n` query, Postgres walks the session's seq index backwards
      // and tests every message, ignoring the GIN index (300 ms for a rare word in a 1M-message
      // session instead of 1 ms). Only (id, seq) are collected; the page joins back for the rest.
      const rows = await this.db
        .with(
          (w) => w('hits').materialized(),
          () => hits.select(['m.id', 'm.seq']),
        )
        .with('page', (db) =>
          db
            .selectFrom('hits')
            .select(['hits.id', 'hits.seq', sql<number | string>`count(*) over ()`.as('total')])
            .orderBy('hits.seq', 'desc')
            .limit(page.limit)
            .offset(page.offset),
        )
        .selectFrom('page')
        .innerJoin(t.as('messages', 'm'), 'm.id', 'page.id')
        .select(M)
        .select('page.total')
        .orderBy('page.seq', 'desc')
        .execute();
      if (rows.length === 0) {
        // Past the last match (or none): the count alone.
        const row = await hits.select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
        return { messages: [], total: Number(row?.n ?? 0) };
      }
      return { messages: await this.#withExtras(this.db, rows), total: Number(rows[0]!.total) };
    });
  }

  async getChangesSince(sessionId: string, afterSeq: number, limit: number): Promise<Message[]> {
    return this.#run(async () => {
      const rows = await this.db
        .selectFrom(this.names.as('messages', 'm'))
        .select(M)
        .where('m.session_id', '=', sessionId)
        .where('m.change_seq', '>', afterSeq)
        .orderBy('m.change_seq')
        .limit(limit)
        .execute();
      return this.#withExtras(this.db, rows);
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
    return this.#run(async () => (await this.#reactionsOf(this.db, [messageId])).get(messageId) ?? []);
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
    return this.#run(async () => (await this.#attachmentsOf(this.db, [messageId])).get(messageId) ?? []);
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
        return await this.db.transaction().execute(fn);
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

  /** Rows → messages with their reactions and attachments: two queries for the whole list. */
  async #withExtras(db: Db, rows: readonly MessageRow[]): Promise<Message[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    // Outside a transaction the two reads go out together (two pool connections, one round trip
    // of latency); inside one they must queue on its connection.
    const [reactions, attachments] =
      db === this.db
        ? await Promise.all([this.#reactionsOf(db, ids), this.#attachmentsOf(db, ids)])
        : [await this.#reactionsOf(db, ids), await this.#attachmentsOf(db, ids)];
    return rows.map((r) => this.#message(r, reactions.get(r.id) ?? [], attachments.get(r.id) ?? []));
  }

  async #reactionsOf(db: Db, messageIds: readonly string[]): Promise<Map<string, Reaction[]>> {
    const rows = await db
      .selectFrom(this.names.as('message_reactions', 'r'))
      .select(['r.message_id', 'r.emoji', 'r.user_id'])
      .where('r.message_id', 'in', [...new Set(messageIds)])
      .orderBy('r.ord')
      .execute();
    // Rows come in reaction order, so each emoji's group is created at its first reaction.
    const byMessage = new Map<string, Map<string, Reaction>>();
    for (const row of rows) {
      let groups = byMessage.get(row.message_id);
      if (!groups) byMessage.set(row.message_id, (groups = new Map()));
      let group = groups.get(row.emoji);
      if (!group) groups.set(row.emoji, (group = { emoji: row.emoji, count: 0, userIds: [] }));
      group.count++;
      group.userIds.push(row.user_id);
    }
    return new Map([...byMessage].map(([id, groups]) => [id, [...groups.values()]]));
  }

  async #attachmentsOf(db: Db, messageIds: readonly string[]): Promise<Map<string, Attachment[]>> {
    const rows = await db
      .selectFrom(this.names.as('message_attachments', 'a'))
      .select(ATTACHMENT_COLUMNS.map((c) => `a.${c}` as const))
      .where('a.message_id', 'in', [...new Set(messageIds)])
      .orderBy('a.ord')
      .execute();
    const byMessage = new Map<string, Attachment[]>();
    for (const row of rows) {
      const list = byMessage.get(row.message_id) ?? [];
      list.push(this.#attachment(row));
      byMessage.set(row.message_id, list);
    }
    return byMessage;
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

function uniqueBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) if (!seen.has(key(item))) seen.set(key(item), item);
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
