/**
 * The one SQL implementation of {@link StorageAdapter}, shared by `PostgresStorage` and
 * `SqliteStorage`. Queries are written once with Kysely; what differs between the databases lives
 * in the {@link SqlDialect} object each adapter passes in.
 *
 * The hot reads run fixed-text statements (kysely/read-statements.ts, written once from the
 * dialect's SQL flavour) through the adapter's {@link StatementRunner}:
 * named pg statements, cached better-sqlite3 statements. What is written most (message batches,
 * stream flushes) goes through the dialect's {@link WritePath}; a batch it declines takes the shared
 * transaction path (kysely/insert-transaction.ts). Kysely builds the rest: migrations, the
 * transactions, the cold paths.
 *
 * Query budget (the contract):
 * - `getSessionAccess`, `getSession`, `getMessage`: 1 statement (the message with its reactions
 *   and attachments).
 * - `insertMessages`: first the dialect's write path — Postgres (postgres/write-path.ts): ONE
 *   autocommit statement for a batch of top-level messages with new client ids (what a send is),
 *   attachments included; SQLite (sqlite/write-path.ts): one synchronous `BEGIN IMMEDIATE`
 *   transaction of cached statements (one per client id, session, message, attachment, parent).
 *   A batch the write path declines (Postgres: replies, a client id already stored or repeated in
 *   the batch, a server message with a client id) takes the shared path: one transaction with a
 *   fixed number of statements whatever its size: [look up client ids] [lock sessions, when
 *   several] bump sessions, insert messages, [insert attachments] [bump parents' reply counts],
 *   plus one read when duplicates must be returned.
 * - `flushStream`: the dialect's write path; both rows, in one statement (Postgres) or one
 *   synchronous transaction (SQLite).
 * - `getHistory`, `getChangesSince`: 1 statement (the page, its total, and the reactions and
 *   attachments of its messages only). `searchMessages`: 2 — the count, then the page (with the
 *   reactions and attachments) by the plan the count calls for; 1 when nothing matches.
 * - `createStream`: one transaction: the statements of insertMessages' transaction path for its
 *   messages (shared code), then one INSERT of the stream row.
 * - `updateStream`: metrics only: 1 statement, no transaction. With the answer (the same code as
 *   updateMessage): stream row, [session seq when `bumpSeq`], message, its reactions and
 *   attachments — 3 statements for a flush, 4 for the final commit, in one transaction.
 * - `getStream`, `listStreams`, `listStaleStreams`: 1 query each, on an index.
 * - `saveUser`, `getUsers`: 1 statement each (kysely/users.ts).
 */
import { CompiledQuery, sql, type Kysely } from 'kysely';
import { ChatError, isChatError } from '../../../src/errors.js';
import type { Attachment, MemberRole, Message, MessagePage, SearchPage, Reaction, Session, SessionMember, SessionSummary, StreamRecord, StreamStatus, UserProfile } from '../../../src/model.js';
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
import { attachmentOf, chunks } from './batch-plan.js';
import type { DbErrorInfo, SqlDialect, WritePath } from './dialect.js';
import { classify, toStorageError } from './errors.js';
import { INSERT_CHUNK, insertAttachments, insertInTransaction, type TransactionInsertContext } from './insert-transaction.js';
import { createMigrator } from './migrations.js';
import { readStatements } from './read-statements.js';
import { json, reactionsFrom, RowMapper } from './rows.js';
import { getUsers, saveUser } from './users.js';
import { bind, type ExtrasColumns, type HotStatementSet, type Statement, type StatementRunner, type Values } from './statements.js';
import {
  ATTACHMENT_COLUMNS,
  MEMBER_COLUMNS,
  MESSAGE_COLUMNS,
  SESSION_COLUMNS,
  STREAM_COLUMNS,
  tableNames,
  type DbDate,
  type ChatDatabase,
  type MessageRow,
  type SessionRow,
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
  readonly #rows: RowMapper;
  readonly #write: WritePath;
  readonly #insertContext: TransactionInsertContext;
  #closed = false;

  constructor(config: KyselyStorageConfig) {
    this.name = config.name;
    this.db = config.db;
    this.dialect = config.dialect;
    this.names = tableNames(config.tablePrefix ?? 'chat_', config.schema);
    this.schema = config.schema;
    this.#destroy = config.destroy;
    this.#defaultSchema = config.defaultSchema;
    this.#hot = readStatements(this.names, config.dialect.flavour);
    this.#runner = config.runner ?? kyselyRunner(config.db);
    this.#rows = new RowMapper(config.dialect);
    this.#write = config.dialect.writePath({
      names: this.names,
      runner: this.#runner,
      rows: this.#rows,
      reads: this.#hot,
      classify: (error) => classify(config.dialect, error),
    });
    this.#insertContext = { names: this.names, dialect: this.dialect, rows: this.#rows, withExtras: (trx, rows) => this.#withExtras(trx, rows) };
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
          return this.#rows.session(row);
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
      return row ? this.#rows.session(row) : null;
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
          : this.#rows.member({
              session_id: row.id,
              user_id: row.mem_user_id,
              role: row.mem_role!,
              last_read_seq: row.mem_last_read_seq!,
              last_delivered_seq: row.mem_last_delivered_seq!,
              last_seen_at: row.mem_last_seen_at,
              joined_at: row.mem_joined_at!,
            });
      return { session: this.#rows.session(row), member };
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
      return row ? this.#rows.member(row) : null;
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
      return rows.map((r) => this.#rows.member(r));
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
      if (inserted) return { member: this.#rows.member(inserted), added: true };
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
        ...this.#rows.session(r),
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
      return row ? this.#rows.member(row) : null;
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

  // ---- user profiles -------------------------------------------------------------------------

  async saveUser(profile: UserProfile, at: Date): Promise<void> {
    await this.#run(() => saveUser(this.db, this.dialect, this.names, profile, at));
  }

  async getUsers(ids: readonly string[]): Promise<UserProfile[]> {
    return this.#run(() => getUsers(this.db, this.names, ids));
  }

  // ---- messages ------------------------------------------------------------------------------

  async insertMessages(batch: readonly NewMessage[]): Promise<InsertedMessage[]> {
    if (batch.length === 0) return [];
    return this.#run(
      async () =>
        (await this.#write.insertMessages(batch)) ?? this.#transaction((trx) => insertInTransaction(trx, batch, this.#insertContext), isDuplicateClientId),
    );
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

  async getMessage(messageId: string): Promise<Message | null> {
    return this.#run(async () => {
      const [row] = await this.#all<MessageRow & ExtrasColumns>(this.db, this.#hot.messageById, { id: messageId });
      return row ? this.#rows.messageWith(row) : null;
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
    const set = this.#rows.messagePatch(patch);
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
          for (const chunk of chunks(stored, INSERT_CHUNK)) await insertAttachments(trx, this.#insertContext, chunk);
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
      return row ? this.#rows.attachment(row) : null;
    });
  }

  async getAttachments(messageId: string): Promise<Attachment[]> {
    return this.#run(async () => {
      const [row] = await this.#extrasOf(this.db, [messageId]);
      return row ? this.#rows.attachmentsFrom(messageId, row.attachments) : [];
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
        return { attachment: this.#rows.attachment(row), message };
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
          const inserted = messages.length === 0 ? [] : await insertInTransaction(trx, messages, this.#insertContext);
          // An input message that was a duplicate (clientMessageId) is the stored one: point the row at it.
          const stored = (id: string) => {
            const index = messages.findIndex((m) => m.id === id);
            return index === -1 ? id : inserted[index]!.message.id;
          };
          const row = await trx
            .insertInto(t.table('streams'))
            .values(this.#rows.newStream(stream, stored(stream.messageId), stored(stream.promptMessageId)))
            .returning(STREAM_COLUMNS)
            .executeTakeFirstOrThrow();
          return { stream: this.#rows.stream(row), messages: inserted };
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
    const set = this.#rows.streamPatch(patch);
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
        return row ? { stream: this.#rows.stream(row), message: null } : null;
      }
      // The stream row first (it names the message, and locks the row so two updates of one stream
      // queue), then the message exactly as updateMessage does it.
      return this.#transaction(async (trx) => {
        const row = await updateRow(trx);
        if (!row) return null;
        const updated = await this.#patchMessage(trx, row.message_id, message.patch, message.bumpSeq);
        return { stream: this.#rows.stream(row), message: updated };
      });
    });
  }

  async flushStream(streamId: string, flush: StreamFlush): Promise<boolean> {
    return this.#run(() => this.#write.flushStream(streamId, flush));
  }

  async getStream(streamId: string): Promise<StreamRecord | null> {
    return this.#run(async () => {
      const row = await this.db.selectFrom(this.names.as('streams', 'st')).select(ST).where('st.id', '=', streamId).executeTakeFirst();
      return row ? this.#rows.stream(row) : null;
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
      return rows.map((r) => this.#rows.stream(r));
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
      return rows.map((r) => this.#rows.stream(r));
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
        const step = this.#write.transactionEnd;
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
    return rows.map((r) => this.#rows.messageWith({ ...r, ...extras.get(r.id)! }));
  }

  async #extrasOf(db: Db, messageIds: readonly string[]): Promise<({ id: string } & ExtrasColumns)[]> {
    return this.#all(db, this.#hot.extrasOf, { ids: this.#hot.list([...new Set(messageIds)]) });
  }

  /** The message rows of a page (an empty page is one row of nulls, carrying the total), sorted. */
  #pageMessages(rows: readonly PageRow[], order: (a: Message, b: Message) => number): Message[] {
    const messages: Message[] = [];
    for (const row of rows) if (row.id != null) messages.push(this.#rows.messageWith(row));
    // The statement's rows come in no guaranteed order (a page is a join); 50 rows sort in µs.
    return messages.sort(order);
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
