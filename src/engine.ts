import { EventEmitter } from 'eventemitter3';
import { resolvePolicy, type AuthorizeContext, type AuthorizeFn, type AuthorizePolicy, type SessionAction, type StorageCheck } from './authorization.js';
import { ChatError, isChatError, toChatError, UNAVAILABLE_RETRY_AFTER_MS, withRetryAfter } from './errors.js';
import type { ChatEventListeners, ChatEventName, ChatEvents } from './events.js';
import { newId } from './ids.js';
import type {
  Attachment,
  Message,
  MessagePage,
  NamedMember,
  SearchPage,
  PresenceEntry,
  Reaction,
  Session,
  SessionMember,
  SessionSummary,
  UserProfile,
} from './model.js';
import { ModerationPipeline, type ModerationOptions } from './moderation/pipeline.js';
import { normalizeText } from './moderation/normalize.js';
import type { InsertedMessage, NewMessage, ReaderCheck, SessionAccess, StorageAdapter } from './ports/storage.js';
import type { Transport } from './ports/transport.js';
import { RateLimiter, type RateLimitConfig, type RateLimitStoreFactory } from './rate-limits.js';
import {
  buildSchemas,
  DEFAULT_LIMITS,
  MAX_USER_LOOKUP,
  parseInput,
  type AttachmentInput,
  type CreateMessageInput,
  type CreateSessionInput,
  type EngineSchemas,
  type HistoryOptions,
  type Limits,
  type ReactionAction,
  type SearchOptions,
  type StreamConfig,
  type StreamRequestInput,
} from './schemas.js';
import { SendOrder } from './send-order.js';
import { DisplayNames, UserDirectory } from './users.js';
import { WriteBatcher, type WriteBatcherOptions } from './write-batcher.js';
import type { StreamChunk, StreamMetrics, StreamStatusView } from './streams/active-stream.js';
import { consoleLogger, isLogger, log, type Logger, type LogLevel } from './logger.js';
import { StreamCoordinator, type StreamCallbacks, type StreamLaunch, type StreamSnapshot, type StreamStart } from './streams/stream-coordinator.js';
import { resolveStreamOptions, type StreamingOptions } from './streams/stream-options.js';

export type { AgentConfig, StreamingOptions } from './streams/stream-options.js';
export type { StreamCallbacks, StreamSnapshot, StreamStart } from './streams/stream-coordinator.js';

/** The engine's options; the LLM streaming ones are {@link StreamingOptions}. */
export interface ChatEngineOptions extends StreamingOptions {
  storage: StorageAdapter;
  /** Who may do what in a session: `'members'` (default), `'open'`, or your own function. */
  authorize?: AuthorizePolicy;
  /** Profanity filter (on by default) and a `beforeMessage` hook. */
  moderation?: ModerationOptions;
  /** Per-action budgets; merged over the defaults (see `DEFAULT_RATE_LIMITS`). */
  rateLimits?: RateLimitConfig;
  /** Where rate-limit counters live (memory by default; Redis for several nodes). */
  rateLimitStore?: RateLimitStoreFactory;
  /** Prefix of rate-limit counter keys (default `'parley'`): apps sharing one Redis keep apart. */
  rateLimitKeyPrefix?: string;
  limits?: Partial<Limits>;
  /** Group commit of concurrent sends: batch size, storage calls in flight, the queue's bound. */
  writeBatching?: WriteBatcherOptions;
  /** Clock, for tests. */
  now?: () => Date;

  /**
   * Where failures nobody else hears about go — an upstream that cannot be reached, a storage
   * write that failed, a listener that threw — with their detail (members get only a code and a
   * generic message). pino-shaped: `{ error(obj, msg?), warn(obj, msg?), info?(obj, msg?) }`;
   * default: `console`. The Express router and the Socket.io binding log here too unless told
   * otherwise.
   */
  logger?: Logger;
}

export interface CallOptions {
  /**
   * A trusted server call (a bot, a job, an import): skips authorization and rate limits but not
   * validation or moderation. Never set it from a request handler.
   */
  trusted?: boolean;
}

/** One replayed change: a message created after the cursor, or an older one changed or deleted since. */
export interface ReplayItem {
  type: 'created' | 'changed' | 'deleted';
  /** The message's current state (content, reactions, attachments). */
  message: Message;
}

export interface JoinResult {
  session: Session;
  /** With their display names. */
  members: NamedMember[];
  /** The joining user's membership (null in an `'open'` session they are not a member of). */
  member: SessionMember | null;
  replay: ReplayItem[];
  /** The seq the client is caught up to after the replay. */
  seq: number;
  /** More changed than was replayed: page history. */
  gap: boolean;
}

export interface SeenReceipt {
  sessionId: string;
  userId: string;
  messageId: string;
  seq: number;
}

/** Most replies `getThreadMessages` returns (the latest ones); page longer threads with `getMessageHistory`. */
export const THREAD_PAGE_LIMIT = 500;
/** Most changes replayed on join; past it the client pages history. */
export const REPLAY_LIMIT = 100;
/** Most words a search query may have. */
const MAX_SEARCH_TERMS = 16;

/**
 * The core of Parley: every rule — validation, authorization, moderation, rate limits, ordering —
 * lives here; the Socket.io and Express bindings only translate. Method names and signatures are
 * those of the familiar ChatService API (`createMessage`, `getMessageHistory`, …). A trailing `userId` means "act as this user" (access is checked); without it
 * the call is a trusted server call. Every failure is a {@link ChatError}. Every committed change
 * emits one domain event (see {@link ChatEvents}).
 *
 * ```ts
 * const engine = new ChatEngine({ storage: new SqliteStorage({ filename: 'chat.db' }) });
 * await engine.init();
 * const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
 * engine.on('message.created', ({ message }) => console.log(message.content));
 * await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'Hello!' });
 * ```
 */
export class ChatEngine extends EventEmitter<ChatEventListeners> {
  // The storage, rate limiter and moderation are the engine's own: a caller that reached them could
  // write around every rule (no validation, no seq, no event). Bindings use the public methods.
  private readonly storage: StorageAdapter;
  /** The limits in force (the `limits` option over `DEFAULT_LIMITS`), frozen: the schemas are built from them. */
  readonly limits: Readonly<Limits>;
  /** The input schemas for these limits (bindings validate payloads and document routes with them), frozen. */
  readonly schemas: Readonly<EngineSchemas>;
  private readonly rateLimiter: RateLimiter;
  private readonly moderation: ModerationPipeline;
  private readonly authorizeFn: AuthorizeFn;
  private readonly writes: WriteBatcher<NewMessage, InsertedMessage>;
  /** Keeps each user's sends into a session in call order (sends and stream prompts). */
  private readonly sendOrder = new SendOrder();
  /** User profiles: written when they change, read in batches. */
  private readonly users: UserDirectory;
  /** Their names on members, presence, typing and message authors. */
  private readonly display: DisplayNames;
  private readonly now: () => Date;
  private transport: Transport | null = null;
  private closed = false;
  /** LLM streaming: the caps, the running streams, their lease and their stops. */
  private readonly streams: StreamCoordinator;
  /** This process's id in `chat_streams` (the `nodeId` option). */
  readonly nodeId: string;
  /** Where the engine reports failures (the `logger` option, else `console`); bindings default to it. */
  readonly logger: Logger;

  constructor(options: ChatEngineOptions) {
    super();
    if (!options?.storage) throw new ChatError('VALIDATION', 'ChatEngine needs a `storage` adapter');
    this.storage = options.storage;
    this.limits = Object.freeze({ ...DEFAULT_LIMITS, ...options.limits });
    this.schemas = Object.freeze(buildSchemas(this.limits));
    this.authorizeFn = resolvePolicy(options.authorize);
    this.rateLimiter = new RateLimiter(options.rateLimits, options.rateLimitStore, options.rateLimitKeyPrefix);
    this.moderation = new ModerationPipeline(options.moderation, this.limits.maxContentLength);
    this.writes = new WriteBatcher((batch) => this.storage.insertMessages(batch), options.writeBatching, { keyOf: (message) => message.sessionId });
    this.now = options.now ?? (() => new Date());
    this.users = new UserDirectory(this.storage, this.now);
    this.display = new DisplayNames(this.users, (error) => this.report(error, 'user profiles could not be read', 'warn'));
    if (options.logger !== undefined && !isLogger(options.logger)) {
      throw new ChatError('VALIDATION', 'ChatEngine: `logger` needs `error` and `warn` methods');
    }
    this.logger = options.logger ?? consoleLogger;
    const streamOptions = resolveStreamOptions(options);
    this.nodeId = streamOptions.nodeId;
    this.streams = new StreamCoordinator(streamOptions, {
      storage: this.storage,
      moderation: this.moderation,
      now: this.now,
      logger: this.logger,
      publish: (event, payload) => this.publish(event, payload),
      report: (error, context, level) => this.report(error, context, level),
      transport: () => this.transport,
      displayNames: (userIds) => this.display.names(userIds),
    });
  }

  /** Runs the storage migrations and closes streams abandoned by dead processes. Idempotent; call it on every start. */
  async init(): Promise<void> {
    await this.run(() => this.storage.init());
    await this.streams.start();
  }

  /**
   * Closes streams whose process died (their lease ran out): status `error`, partial text kept,
   * `stream.error` emitted. Safe on several nodes at once: each stream is committed once.
   * Returns how many this call closed.
   */
  recoverAbandonedStreams(): Promise<number> {
    return this.run(() => this.streams.recoverAbandoned());
  }

  /**
   * Stops running answers (they keep their partial text: status `stopped`, finish reason
   * `shutdown`), waits for queued writes, closes the transport and the storage. Later calls fail
   * with UNAVAILABLE.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.streams.close();
    await this.writes.drain();
    await this.transport?.close?.();
    await this.storage.close();
  }

  /** Registers how events reach people (done by `attachChat`); the engine asks it for presence. */
  useTransport(transport: Transport): void {
    this.transport = transport;
  }

  // ---- sessions ------------------------------------------------------------------------------

  /**
   * Creates a session; `createdBy` becomes its owner and `memberIds` its members.
   * ```ts
   * const session = await engine.createSession({ title: 'Support', createdBy: 'alice', memberIds: ['bob'] });
   * ```
   */
  createSession(input: CreateSessionInput, options: CallOptions = {}): Promise<Session> {
    return this.run(async () => {
      const data = parseInput(this.schemas.createSession, input, 'session');
      if (!options.trusted) await this.rateLimiter.consume('session:create', data.createdBy);
      const memberIds = [...new Set(data.memberIds ?? [])].filter((id) => id !== data.createdBy);
      const session = await this.storage.createSession({
        id: data.id ?? newId(),
        title: data.title ?? null,
        createdBy: data.createdBy,
        metadata: data.metadata ?? null,
        memberIds,
        at: this.now(),
      });
      this.publish('session.created', { session });
      this.publish('member.joined', { sessionId: session.id, userId: data.createdBy, role: 'owner', byUserId: null });
      for (const userId of memberIds) {
        this.publish('member.joined', { sessionId: session.id, userId, role: 'member', byUserId: data.createdBy });
      }
      return session;
    });
  }

  /** The session, if `userId` may read it. */
  getSession(sessionId: string, userId?: string): Promise<Session> {
    return this.run(async () => (await this.access(sessionId, userId, 'session:read')).session);
  }

  /** The sessions `userId` belongs to, most recently active first, with unread counts. */
  listSessions(userId: string): Promise<SessionSummary[]> {
    return this.run(async () => this.storage.listSessions(this.userIdOf(userId)));
  }

  /** The members in join order, each with their display name and avatar. */
  listMembers(sessionId: string, userId?: string): Promise<NamedMember[]> {
    return this.run(async () => {
      await this.access(sessionId, userId, 'session:read');
      return this.display.members(await this.storage.listMembers(sessionId));
    });
  }

  /** Adds `userId` as a member; with `byUserId`, only an owner may. Idempotent. */
  addMember(sessionId: string, userId: string, byUserId?: string): Promise<SessionMember> {
    return this.run(async () => {
      const target = this.userIdOf(userId);
      if (byUserId !== undefined) await this.rateLimiter.consume('member:add', this.userIdOf(byUserId));
      await this.access(sessionId, byUserId, 'member:add', { targetUserId: target });
      const { member, added } = await this.storage.addMember(sessionId, target, 'member', this.now());
      if (added) this.publish('member.joined', { sessionId, userId: target, role: 'member', byUserId: byUserId ?? null });
      return member;
    });
  }

  /**
   * Removes `userId` from the session; with `byUserId`, only an owner or the member themselves
   * (leaving). The last owner may leave: members keep reading and writing, nobody manages members.
   */
  removeMember(sessionId: string, userId: string, byUserId?: string): Promise<{ removed: boolean }> {
    return this.run(async () => {
      const target = this.userIdOf(userId);
      if (byUserId !== undefined) await this.rateLimiter.consume('member:remove', this.userIdOf(byUserId));
      await this.access(sessionId, byUserId, 'member:remove', { targetUserId: target });
      const removed = await this.storage.removeMember(sessionId, target);
      if (removed) this.publish('member.left', { sessionId, userId: target, byUserId: byUserId ?? null });
      return { removed };
    });
  }

  /** Every member with their online status (from the transport; offline when none is attached). */
  getPresence(sessionId: string, userId?: string): Promise<PresenceEntry[]> {
    return this.run(async () => {
      await this.access(sessionId, userId, 'session:read');
      const members = await this.display.members(await this.storage.listMembers(sessionId));
      const online = (await this.transport?.getPresence?.(members.map((m) => m.userId))) ?? new Map();
      return members.map((m) => {
        const live = online.get(m.userId);
        return { userId: m.userId, name: m.name, status: live?.status ?? 'offline', lastSeenAt: live?.lastSeenAt ?? m.lastSeenAt };
      });
    });
  }

  /**
   * Marks everything up to `messageId` as seen by `userId` (the read cursor never moves back) and
   * emits `receipt.seen` when it moved.
   */
  markSeen(sessionId: string, messageId: string, userId: string): Promise<SeenReceipt> {
    return this.run(async () => {
      const reader = this.userIdOf(userId);
      const id = parseInput(this.schemas.uuid, messageId, 'messageId');
      await this.rateLimiter.consume('message:seen', reader);
      const { member } = await this.access(sessionId, reader, 'message:seen');
      const message = await this.storage.getMessage(id);
      if (!message || message.sessionId !== sessionId) throw new ChatError('NOT_FOUND', 'Message not found in this session');
      const updated = await this.storage.setReadCursor(sessionId, reader, message.seq, this.now());
      const receipt = { sessionId, userId: reader, messageId: id, seq: message.seq };
      if (updated && (member === null || member.lastReadSeq < message.seq)) this.publish('receipt.seen', receipt);
      return receipt;
    });
  }

  /**
   * Says that `userId` started or stopped typing (the `typing.updated` event; the transport expires it).
   * `name` is a display name for the indicator; without one the event carries the user's profile name.
   */
  setTyping(sessionId: string, userId: string, typing: boolean, name?: string): Promise<void> {
    return this.run(async () => {
      const typist = this.userIdOf(userId);
      const displayName = name === undefined ? null : parseInput(this.schemas.displayName, name, 'name');
      if (typing) await this.rateLimiter.consume('typing:start', typist);
      await this.access(sessionId, typist, 'typing');
      const shown = displayName ?? (await this.display.names([typist])).get(typist) ?? null;
      this.publish('typing.updated', { sessionId, userId: typist, name: shown, typing });
    });
  }

  // ---- messages ------------------------------------------------------------------------------

  /**
   * Sends a message as `input.userId`. A retry with the same `clientMessageId` returns the first
   * message instead of storing a second one. One user's sends into one session are stored (in `seq`
   * order) in the order this method was called, however long each one's checks take.
   * ```ts
   * const message = await engine.createMessage({ sessionId, userId: 'alice', content: 'Hello!', clientMessageId: 'c-1' });
   * ```
   */
  createMessage(input: CreateMessageInput, options: CallOptions = {}): Promise<Message> {
    return this.run(async () => {
      const data = parseInput(this.schemas.createMessage, input, 'message');
      // Taken at call time: the user's sends into a session are stored in the order they were made.
      // The preparation below overlaps that of the sends around it; only the enqueue waits its turn.
      const turn = this.sendOrder.take(data.sessionId, data.userId);
      let inserted: Promise<InsertedMessage>;
      try {
        if (!options.trusted) await this.rateLimiter.consume('message:send', data.userId);
        // A top-level send whose policy declares a storage check is authorized by the insert itself
        // (membership checked in the batch's statement or transaction; the session's existence by
        // the insert), which saves a storage round trip per send. A reply needs its parent looked
        // up, and a beforeMessage hook must see only authorized sends, so those check first.
        const check = options.trusted || data.parentMessageId !== undefined || this.moderation.hasHook ? null : this.storageCheck('message:send');
        if (check === null) await this.access(data.sessionId, options.trusted ? undefined : data.userId, 'message:send');
        if (data.parentMessageId !== undefined) {
          const parent = await this.storage.getMessage(data.parentMessageId);
          if (!parent || parent.sessionId !== data.sessionId) {
            throw new ChatError('NOT_FOUND', 'Parent message not found in this session');
          }
        }
        const content = await this.moderation.moderate(
          { kind: 'message', sessionId: data.sessionId, userId: data.userId },
          data.content,
        );
        if (!turn.isNext) await turn.wait();
        inserted = this.writes.push({
          id: newId(),
          sessionId: data.sessionId,
          userId: data.userId,
          agentId: null,
          role: 'user',
          content,
          metadata: data.metadata ?? null,
          tokens: null,
          parentMessageId: data.parentMessageId ?? null,
          clientMessageId: data.clientMessageId ?? null,
          attachments: (data.attachments ?? []).map((a) => ({ id: newId(), ...a, metadata: a.metadata ?? null })),
          at: this.now(),
          ...(check === 'member' && { requireMembership: true }),
        });
      } finally {
        turn.release(); // enqueued, or failed: either way the next send need not wait for this one
      }
      const { message: stored, created } = await inserted;
      const message = await this.display.author(stored);
      if (created) this.publish('message.created', { sessionId: message.sessionId, seq: message.seq, message });
      return message;
    });
  }

  /**
   * A page of history in ascending order. `offset` counts from the newest (0 = the latest page);
   * `before`/`after` are seq cursors (both: the range between them, paged from `after`);
   * `parentMessageId` pages one thread.
   * ```ts
   * const { messages, total } = await engine.getMessageHistory(sessionId, 'alice', { limit: 50, offset: 0 });
   * ```
   */
  getMessageHistory(sessionId: string, userId: string | undefined, options: HistoryOptions = {}): Promise<MessagePage> {
    return this.run(async () => {
      const query = parseInput(this.schemas.historyOptions, options ?? {}, 'options');
      const page = {
        limit: query.limit,
        offset: query.offset,
        parentMessageId: query.parentMessageId ?? null,
        ...(query.before !== undefined && { before: query.before }),
        ...(query.after !== undefined && { after: query.after }),
      };
      // A top-level page whose policy declares a storage check (or a trusted call) checks its
      // reader in its own statement: one round trip per page instead of two. A thread looks its
      // parent up first.
      const authorize = query.parentMessageId === undefined ? this.readerCheck(userId) : null;
      if (authorize) return this.display.authorsOf(await this.storage.getHistory(parseInput(this.schemas.externalId, sessionId, 'sessionId'), { ...page, authorize }));
      await this.access(sessionId, userId, 'session:read');
      if (query.parentMessageId !== undefined) {
        const parent = await this.storage.getMessage(query.parentMessageId);
        if (!parent || parent.sessionId !== sessionId) throw new ChatError('NOT_FOUND', 'Parent message not found in this session');
      }
      return this.display.authorsOf(await this.storage.getHistory(sessionId, page));
    });
  }

  getMessage(messageId: string, userId?: string): Promise<Message> {
    return this.run(async () => this.display.author((await this.messageWithAccess(messageId, userId, 'session:read')).message));
  }

  /** Replaces the text of a message; only its author may (or a trusted call). */
  editMessage(messageId: string, content: string, userId?: string): Promise<Message> {
    return this.run(async () => {
      const text = parseInput(this.schemas.content, content, 'content');
      if (userId !== undefined) await this.rateLimiter.consume('message:edit', this.userIdOf(userId));
      const { message } = await this.messageWithAccess(messageId, userId, 'message:edit');
      if (message.isDeleted) throw new ChatError('CONFLICT', 'A deleted message cannot be edited');
      const moderated = await this.moderation.moderate(
        { kind: 'edit', sessionId: message.sessionId, userId: userId ?? null },
        text,
      );
      const at = this.now();
      const updated = await this.storage.updateMessage(
        message.id,
        { content: moderated, isEdited: true, editedAt: at, at },
        { bumpSeq: true },
      );
      if (!updated) throw new ChatError('NOT_FOUND', 'Message not found');
      await this.display.author(updated);
      this.publish('message.edited', { sessionId: updated.sessionId, seq: updated.changeSeq, message: updated });
      return updated;
    });
  }

  /**
   * Soft-deletes a message: the row, its place in the thread and its reactions stay; its text is
   * erased and it never matches a search again. The author or a session owner may. Idempotent.
   */
  deleteMessage(messageId: string, userId?: string): Promise<Message> {
    return this.run(async () => {
      if (userId !== undefined) await this.rateLimiter.consume('message:delete', this.userIdOf(userId));
      const { message } = await this.messageWithAccess(messageId, userId, 'message:delete');
      if (message.isDeleted) return this.display.author(message);
      const at = this.now();
      const deleted = await this.storage.updateMessage(
        message.id,
        { content: '', isDeleted: true, deletedAt: at, at },
        { bumpSeq: true },
      );
      if (!deleted) throw new ChatError('NOT_FOUND', 'Message not found');
      await this.display.author(deleted);
      this.publish('message.deleted', {
        sessionId: deleted.sessionId,
        seq: deleted.changeSeq,
        messageId: deleted.id,
        deletedAt: deleted.deletedAt ?? at.toISOString(),
        message: deleted,
      });
      return deleted;
    });
  }

  /**
   * Whole-word, case-insensitive search (every word must match), newest first; deleted messages
   * never match.
   */
  searchMessages(sessionId: string, userId: string | undefined, query: string, options: SearchOptions = {}): Promise<SearchPage> {
    return this.run(async () => {
      const text = parseInput(this.schemas.searchQuery, query, 'query');
      const page = parseInput(this.schemas.searchOptions, options ?? {}, 'options');
      const terms = searchTerms(text);
      if (terms.length === 0) throw new ChatError('VALIDATION', 'Invalid query: it has no words to search for');
      const counted = { ...page, maxCount: this.limits.maxSearchCount };
      // With a declared storage check the search checks its reader in its own count statement.
      const authorize = this.readerCheck(userId);
      if (authorize) return this.display.authorsOf(await this.storage.searchMessages(parseInput(this.schemas.externalId, sessionId, 'sessionId'), terms, { ...counted, authorize }));
      await this.access(sessionId, userId, 'session:read');
      return this.display.authorsOf(await this.storage.searchMessages(sessionId, terms, counted));
    });
  }

  /** The replies to a message, oldest first (the latest {@link THREAD_PAGE_LIMIT}). */
  getThreadMessages(parentMessageId: string, userId?: string): Promise<Message[]> {
    return this.run(async () => {
      const { message } = await this.messageWithAccess(parentMessageId, userId, 'session:read');
      const page = await this.storage.getHistory(message.sessionId, {
        limit: THREAD_PAGE_LIMIT,
        offset: 0,
        parentMessageId: message.id,
      });
      return this.display.authors(page.messages);
    });
  }

  // ---- reactions -----------------------------------------------------------------------------

  /**
   * Adds or removes `userId`'s emoji. `toggle` (the default) flips it; `add`/`remove` make a
   * retry safe.
   * ```ts
   * const { added, reactions } = await engine.toggleReaction(messageId, 'bob', '👍');
   * ```
   */
  toggleReaction(
    messageId: string,
    userId: string,
    emoji: string,
    action: ReactionAction = 'toggle',
  ): Promise<{ added: boolean; reactions: Reaction[] }> {
    return this.run(async () => {
      const reactor = this.userIdOf(userId);
      const normalizedEmoji = parseInput(this.schemas.emoji, emoji, 'emoji');
      const reactionAction = parseInput(this.schemas.reactionAction, action, 'action');
      await this.rateLimiter.consume('message:reaction', reactor);
      const { message } = await this.messageWithAccess(messageId, reactor, 'message:react');
      if (message.isDeleted) throw new ChatError('CONFLICT', 'A deleted message cannot get reactions');
      const result = await this.storage.setReaction({
        id: newId(),
        messageId: message.id,
        userId: reactor,
        emoji: normalizedEmoji,
        action: reactionAction,
        at: this.now(),
      });
      if (!result) throw new ChatError('NOT_FOUND', 'Message not found');
      if (result.changed) {
        this.publish('reaction.updated', {
          sessionId: message.sessionId,
          seq: result.message.changeSeq,
          messageId: message.id,
          reactions: result.reactions,
          userId: reactor,
          emoji: normalizedEmoji,
          added: result.added,
        });
      }
      return { added: result.added, reactions: result.reactions };
    });
  }

  getMessageReactions(messageId: string, userId?: string): Promise<Reaction[]> {
    return this.run(async () => (await this.messageWithAccess(messageId, userId, 'session:read')).message.reactions);
  }

  // ---- attachments ---------------------------------------------------------------------------

  /**
   * Attaches a file (metadata only: Parley never stores bytes) to a message; only its author may.
   * ```ts
   * await engine.addAttachment(messageId, { fileName: 'a.png', fileUrl: 'https://cdn.example.com/a.png', mimeType: 'image/png', fileSize: 1234 }, 'alice');
   * ```
   */
  addAttachment(messageId: string, input: AttachmentInput, userId?: string): Promise<Attachment> {
    return this.run(async () => {
      const data = parseInput(this.schemas.attachment, input, 'attachment');
      if (userId !== undefined) await this.rateLimiter.consume('attachment:add', this.userIdOf(userId));
      const { message } = await this.messageWithAccess(messageId, userId, 'attachment:add');
      if (message.isDeleted) throw new ChatError('CONFLICT', 'A deleted message cannot get attachments');
      // The request is well-formed; the message's state refuses it (as for a deleted message).
      if (message.attachments.length >= this.limits.maxAttachments) {
        throw new ChatError('CONFLICT', `The message already has ${this.limits.maxAttachments} attachments, the most it may have`);
      }
      const result = await this.storage.addAttachments(
        message.id,
        [{ id: newId(), ...data, metadata: data.metadata ?? null }],
        this.now(),
      );
      if (!result) throw new ChatError('NOT_FOUND', 'Message not found');
      this.publish('attachment.added', {
        sessionId: message.sessionId,
        seq: result.message.changeSeq,
        messageId: message.id,
        attachments: result.attachments,
      });
      return result.attachments[0]!;
    });
  }

  getAttachments(messageId: string, userId?: string): Promise<Attachment[]> {
    return this.run(async () => (await this.messageWithAccess(messageId, userId, 'session:read')).message.attachments);
  }

  /** Removes an attachment; only the message's author may. Returns what was removed. */
  deleteAttachment(attachmentId: string, userId?: string): Promise<Attachment> {
    return this.run(async () => {
      const id = parseInput(this.schemas.uuid, attachmentId, 'attachmentId');
      if (userId !== undefined) await this.rateLimiter.consume('attachment:delete', this.userIdOf(userId));
      const attachment = await this.storage.getAttachment(id);
      if (!attachment) throw new ChatError('NOT_FOUND', 'Attachment not found');
      await this.messageWithAccess(attachment.messageId, userId, 'attachment:delete');
      const result = await this.storage.deleteAttachment(id, this.now());
      if (!result) throw new ChatError('NOT_FOUND', 'Attachment not found');
      this.publish('attachment.deleted', {
        sessionId: result.message.sessionId,
        seq: result.message.changeSeq,
        messageId: result.message.id,
        attachmentId: id,
      });
      return result.attachment;
    });
  }

  // ---- LLM streaming (the rules of the stream itself are the StreamCoordinator's) --------------

  /**
   * Starts an LLM answer in a session (callback style; see also `requestStream`). Resolves with the stream id before the
   * upstream is called; from then on failures reach only `onError` and the `stream.error` event.
   * ```ts
   * const streamId = await engine.startStream(sessionId, 'Tell me a story', 'alice', 'assistant', { maxTokens: 500 },
   *   (chunk) => process.stdout.write(chunk.delta), (error) => console.error(error), () => console.log('done'));
   * ```
   */
  async startStream(
    sessionId: string,
    prompt: string,
    userId: string,
    agentId?: string,
    config?: StreamConfig,
    onChunk?: (chunk: StreamChunk) => void,
    onError?: (error: ChatError) => void,
    onComplete?: (result: { streamId: string; content: string; metrics: StreamMetrics }) => void,
  ): Promise<string> {
    const start = await this.requestStream(
      { sessionId, prompt, userId, ...(agentId !== undefined && { agentId }), ...(config !== undefined && { config }) },
      { ...(onChunk && { onChunk }), ...(onError && { onError }), ...(onComplete && { onComplete }) },
    );
    return start.streamId;
  }

  /**
   * Starts an LLM answer: stores the prompt as `userId`'s message and an empty assistant message
   * (status `streaming`), then streams into it. The `stream:request` ack is the result. The prompt
   * takes its place among the user's sends into the session like a `createMessage`; their earlier
   * sends are in the model's context.
   */
  requestStream(input: StreamRequestInput, callbacks: StreamCallbacks = {}): Promise<StreamStart> {
    return this.run(async () => {
      const data = parseInput(this.schemas.streamRequest, input, 'stream');
      // The prompt is one of the user's sends and keeps its place among them (see below).
      const turn = this.sendOrder.take(data.sessionId, data.userId);
      let launch: StreamLaunch | undefined;
      try {
        await this.rateLimiter.consume('stream:request', data.userId);
        await this.access(data.sessionId, data.userId, 'stream:request');
        launch = await this.streams.prepare(data); // caps, agent, model: refused before anything is stored
        const prompt = await this.moderation.moderate({ kind: 'message', sessionId: data.sessionId, userId: data.userId }, data.prompt);
        // The prompt is stored in its turn and after the commit of what is already queued for the
        // session, so the user's earlier sends come before it and are in the model's context (say
        // something, then ask the assistant about it). The turn is held until the prompt is stored,
        // so their later sends come after it; the prompt does not go through the write batcher.
        if (!turn.isNext) await turn.wait();
        await this.writes.whenSettled(data.sessionId);
        return await launch.start(prompt, callbacks);
      } finally {
        launch?.release();
        turn.release();
      }
    });
  }

  /**
   * Stops a stream and keeps its partial answer; the requester or a session owner may. A stream
   * running on another node is stopped there (through the transport); one whose node is gone —
   * no node claims it — is committed as stopped here, with the text it last flushed. Answers the
   * stream's status, `stopped` once it ended. Stopping a finished stream is a no-op.
   */
  stopStream(streamId: string, userId?: string): Promise<StreamStatusView> {
    return this.run(async () => {
      const record = await this.streamWithAccess(streamId, userId, 'stream:stop');
      if (userId !== undefined) await this.rateLimiter.consume('stream:stop', this.userIdOf(userId));
      return this.streams.stop(record);
    });
  }

  /** Stops a stream if this node runs it (called by the transport for a stop sent to another node). */
  stopLocalStream(streamId: string): boolean {
    return this.streams.stopLocal(streamId);
  }

  /**
   * Like {@link ChatEngine.stopLocalStream}, and resolves once the stream's final status is committed, or
   * after `maxWaitMs` if that takes longer (storage trouble): a transport answers the node that
   * asked only then, so that node can read the final status. False when this node does not run it.
   */
  stopLocalStreamAndWait(streamId: string, maxWaitMs: number): Promise<boolean> {
    return this.streams.stopLocalAndWait(streamId, maxWaitMs);
  }

  /** `{ streamId, sessionId, messageId, status, progress, tokensGenerated, finishReason?, startedAt, completedAt? }`, during and after the stream. */
  getStreamStatus(streamId: string, userId?: string): Promise<StreamStatusView> {
    return this.run(async () => this.streams.status(await this.streamWithAccess(streamId, userId, 'session:read')));
  }

  /** `{ streamId, totalTokens, tokensPerSecond, latency, bandwidth, errors }`, during and after the stream. */
  getStreamMetrics(streamId: string, userId?: string): Promise<StreamMetrics> {
    return this.run(async () => this.streams.metrics(await this.streamWithAccess(streamId, userId, 'session:read')));
  }

  /**
   * The answers streaming in a session right now, with their text so far — what a socket joining
   * mid-stream receives as `stream:snapshot`. Streams of other nodes answer from storage (text as of
   * their last flush), and only while their row is fresh (their node may be gone).
   */
  getStreamSnapshots(sessionId: string, userId?: string): Promise<StreamSnapshot[]> {
    return this.run(async () => {
      await this.access(sessionId, userId, 'session:read');
      return this.streams.snapshots(sessionId);
    });
  }

  /** Streams running on this node. */
  get activeStreamCount(): number {
    return this.streams.runningCount;
  }

  private async streamWithAccess(streamId: string, userId: string | undefined, action: SessionAction) {
    const id = parseInput(this.schemas.uuid, streamId, 'streamId');
    const record = await this.storage.getStream(id);
    if (!record) throw new ChatError('NOT_FOUND', 'Stream not found');
    await this.access(record.sessionId, userId, action, { authorId: record.userId });
    return record;
  }

  /**
   * A failure nobody awaits: to the logger with its detail (the error under `err`), and to `error`
   * listeners. Never to members: they get a code and a generic message.
   */
  private report(error: unknown, context: string, level: LogLevel = 'error', event = context): void {
    log(this.logger, level, { err: error }, context);
    if (this.listenerCount('error') > 0) {
      try {
        this.emit('error', { event, error });
      } catch (listenerError) {
        log(this.logger, 'error', { err: listenerError }, 'a listener of error threw');
      }
    }
  }

  // ---- joining and replay ----------------------------------------------------------------------

  /**
   * What a client joining a session needs: the session, its members, and what changed after its
   * cursor, in seq order — at most {@link REPLAY_LIMIT} changes; `gap: true` means more was missed
   * and the client should page history. The cursor is `lastSeq` when given, else the member's stored
   * delivery cursor (see {@link ChatEngine.markDelivered}); a member who never received anything (cursor 0)
   * gets no replay, only `gap` when the session has history. `seq` is how far the client is now
   * caught up: the cursor to send next time.
   */
  joinSession(sessionId: string, userId: string, options: { lastSeq?: number } = {}): Promise<JoinResult> {
    return this.run(async () => {
      const user = this.userIdOf(userId);
      const explicit = options.lastSeq === undefined ? undefined : parseInput(this.schemas.seqCursor, options.lastSeq, 'lastSeq');
      await this.rateLimiter.consume('session:join', user, sessionId);
      const { session, member } = await this.access(sessionId, user, 'session:join');
      const members = await this.display.members(await this.storage.listMembers(session.id));
      const cursor = Math.min(explicit ?? member?.lastDeliveredSeq ?? 0, session.lastSeq);
      if (cursor === 0 && explicit === undefined) {
        return { session, members, member, replay: [], seq: session.lastSeq, gap: session.lastSeq > 0 };
      }
      const changes = await this.display.authors(await this.storage.getChangesSince(session.id, cursor, REPLAY_LIMIT + 1));
      const gap = changes.length > REPLAY_LIMIT;
      const replay: ReplayItem[] = changes.slice(0, REPLAY_LIMIT).map((message) => ({
        type: message.seq > cursor ? 'created' : message.isDeleted ? 'deleted' : 'changed',
        message,
      }));
      // A change may commit between reading the session and reading the changes: take the higher.
      const lastReplayed = replay[replay.length - 1]?.message.changeSeq ?? cursor;
      const seq = gap ? lastReplayed : Math.max(session.lastSeq, lastReplayed);
      return { session, members, member, replay, seq, gap };
    });
  }

  /**
   * Stores how far `userId` has received a session (never moves back): the replay cursor used when
   * the user re-joins without `lastSeq`. Bindings call it when a user's last socket leaves.
   */
  markDelivered(sessionId: string, userId: string, seq: number): Promise<void> {
    return this.run(async () => {
      const cursor = parseInput(this.schemas.seqCursor, seq, 'seq');
      await this.storage.setDeliveredCursor(
        parseInput(this.schemas.externalId, sessionId, 'sessionId'),
        this.userIdOf(userId),
        cursor,
      );
    });
  }

  // ---- user profiles -------------------------------------------------------------------------

  /**
   * Keeps the profile an authentication returned (`name`, `avatarUrl`), so members, presence,
   * typing and messages carry the name. Bindings call it for every authenticated connection and
   * request; it writes only when the profile differs from the one this process saw last. An
   * identity with neither field leaves the stored profile alone; otherwise both fields are replaced
   * (a missing one is cleared).
   * ```ts
   * await engine.rememberUser({ userId: 'alice', name: 'Alice Martin', avatarUrl: 'https://cdn.example.com/a.png' });
   * ```
   */
  rememberUser(user: { userId: string; name?: string | undefined; avatarUrl?: string | undefined }): Promise<void> {
    return this.run(async () => {
      const data = parseInput(this.schemas.profile, user, 'user');
      if (data.name === undefined && data.avatarUrl === undefined) return;
      await this.users.remember({ id: data.userId, name: data.name ?? null, avatarUrl: data.avatarUrl ?? null });
    });
  }

  /**
   * The profiles of up to {@link MAX_USER_LOOKUP} users, in the order asked; ids without a stored
   * profile are left out (the host never gave them a name). Any user may read any profile.
   * ```ts
   * const [alice] = await engine.getUsers(['alice']); // { id: 'alice', name: 'Alice Martin', avatarUrl: null }
   * ```
   */
  getUsers(ids: readonly string[]): Promise<UserProfile[]> {
    return this.run(async () => {
      const wanted = [...new Set(parseInput(this.schemas.userIds, ids, 'ids'))];
      const found = await this.users.lookup(wanted);
      return wanted.flatMap((id) => {
        const profile = found.get(id);
        return profile ? [{ ...profile }] : [];
      });
    });
  }

  // ---- for bindings --------------------------------------------------------------------------

  /**
   * Checks that `userId` may do `action` in the session and returns the session with the user's
   * membership. Bindings use it for checks of their own (e.g. a socket joining a session room).
   */
  authorizeSession(sessionId: string, userId: string, action: SessionAction): Promise<SessionAccess> {
    return this.run(() => this.access(sessionId, this.userIdOf(userId), action));
  }

  /** Spends one point of the engine's budget (for binding-level events such as a handshake). */
  consumeRateLimit(action: string, userId: string, scope?: string): Promise<void> {
    return this.run(() => this.rateLimiter.consume(action, userId, scope));
  }

  // ---- internals -----------------------------------------------------------------------------

  /** Every public method runs here: closed engines refuse, and anything thrown becomes a ChatError. */
  private async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new ChatError('UNAVAILABLE', 'The chat engine is closed', { retryAfterMs: UNAVAILABLE_RETRY_AFTER_MS });
    try {
      return await fn();
    } catch (error) {
      throw withRetryAfter(isChatError(error) ? error : toChatError(error));
    }
  }

  private userIdOf(userId: unknown): string {
    return parseInput(this.schemas.externalId, userId, 'userId');
  }

  /**
   * The single access check: NOT_FOUND for an unknown session; FORBIDDEN when the
   * policy says no. Without `userId` (a trusted call) only existence is checked.
   */
  private async access(
    sessionId: string,
    userId: string | undefined,
    action: SessionAction,
    extra: Pick<AuthorizeContext, 'authorId' | 'targetUserId'> = {},
  ): Promise<SessionAccess> {
    const id = parseInput(this.schemas.externalId, sessionId, 'sessionId');
    if (userId === undefined) {
      const session = await this.storage.getSession(id);
      if (!session) throw new ChatError('NOT_FOUND', 'Session not found');
      return { session, member: null };
    }
    const user = this.userIdOf(userId);
    const access = await this.storage.getSessionAccess(id, user);
    if (!access) throw new ChatError('NOT_FOUND', 'Session not found');
    const allowed = await this.authorizeFn({ userId: user, sessionId: id, action, role: access.member?.role ?? null, ...extra });
    if (!allowed) throw new ChatError('FORBIDDEN', `Not allowed to ${action.replace(':', ' ')} in this session`);
    return access;
  }

  /** What the policy lets storage check on its behalf for `action` (see `AuthorizeFn.storageCheck`). */
  private storageCheck(action: SessionAction): StorageCheck | null {
    return this.authorizeFn.storageCheck?.(action) ?? null;
  }

  /**
   * For a read storage can authorize in its own statement (`session:read` with a declared storage
   * check, or a trusted call): what it must check. Null when the engine must check access first.
   */
  private readerCheck(userId: string | undefined): ReaderCheck | null {
    if (userId === undefined) return { memberId: null };
    const reader = this.userIdOf(userId);
    const check = this.storageCheck('session:read');
    if (check === 'member') return { memberId: reader };
    return check === 'session' ? { memberId: null } : null;
  }

  private async messageWithAccess(
    messageId: string,
    userId: string | undefined,
    action: SessionAction,
  ): Promise<{ message: Message; access: SessionAccess }> {
    const id = parseInput(this.schemas.uuid, messageId, 'messageId');
    const message = await this.storage.getMessage(id);
    if (!message) throw new ChatError('NOT_FOUND', 'Message not found');
    const access = await this.access(message.sessionId, userId, action, { authorId: message.userId });
    return { message, access };
  }

  /** Emits after a commit; a throwing listener is reported on `error` and never fails the write. */
  private publish<K extends ChatEventName>(event: K, payload: ChatEvents[K]): void {
    try {
      (this.emit as (event: K, payload: ChatEvents[K]) => boolean)(event, payload);
    } catch (error) {
      this.report(error, `a listener of ${event} threw`, 'error', event);
    }
  }
}

/** The words of a search query: normalised, lower-cased runs of letters and digits, de-duplicated. */
export function searchTerms(query: string): string[] {
  const words = normalizeText(query).toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return [...new Set(words)].slice(0, MAX_SEARCH_TERMS);
}
