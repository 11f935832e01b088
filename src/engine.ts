import { EventEmitter } from 'eventemitter3';
import { resolvePolicy, type AuthorizeContext, type AuthorizeFn, type AuthorizePolicy, type SessionAction } from './authorization.js';
import { ChatError, isChatError, toChatError } from './errors.js';
import type { ChatEventListeners, ChatEventName, ChatEvents } from './events.js';
import { newId } from './ids.js';
import type {
  Attachment,
  Message,
  MessagePage,
  PresenceEntry,
  Reaction,
  Session,
  SessionMember,
  SessionSummary,
} from './model.js';
import { ModerationPipeline, type ModerationOptions } from './moderation/pipeline.js';
import { normalizeText } from './moderation/normalize.js';
import type { InsertedMessage, NewMessage, SessionAccess, StorageAdapter } from './ports/storage.js';
import type { Transport } from './ports/transport.js';
import { RateLimiter, type RateLimitConfig, type RateLimitStoreFactory } from './rate-limits.js';
import {
  buildSchemas,
  DEFAULT_LIMITS,
  parseInput,
  type AttachmentInput,
  type CreateMessageInput,
  type CreateSessionInput,
  type EngineSchemas,
  type HistoryOptions,
  type Limits,
  type ReactionAction,
  type SearchOptions,
} from './schemas.js';
import { WriteBatcher, type WriteBatcherOptions } from './write-batcher.js';

export interface ChatEngineOptions {
  storage: StorageAdapter;
  /** Who may do what in a session: `'members'` (default), `'open'`, or your own function. */
  authorize?: AuthorizePolicy;
  /** Profanity filter (on by default) and a `beforeMessage` hook. */
  moderation?: ModerationOptions;
  /** Per-action budgets; merged over the seed's defaults (see `DEFAULT_RATE_LIMITS`). */
  rateLimits?: RateLimitConfig;
  /** Where rate-limit counters live (memory by default; Redis for several nodes). */
  rateLimitStore?: RateLimitStoreFactory;
  limits?: Partial<Limits>;
  /** Group commit of concurrent sends (see `WriteBatcher`). */
  writeBatching?: WriteBatcherOptions;
  /** Clock, for tests. */
  now?: () => Date;
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
  members: SessionMember[];
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
/** Most changes replayed on join; past it the client pages history (DESIGN §5). */
export const REPLAY_LIMIT = 100;
/** Most words a search query may have. */
const MAX_SEARCH_TERMS = 16;

/**
 * The core of Parley: every rule — validation, authorization, moderation, rate limits, ordering —
 * lives here; the Socket.io and Express bindings only translate. Method names and signatures follow
 * the seed's ChatService. A trailing `userId` means "act as this user" (access is checked); without it
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
  readonly storage: StorageAdapter;
  readonly limits: Limits;
  readonly schemas: EngineSchemas;
  readonly rateLimiter: RateLimiter;
  readonly moderation: ModerationPipeline;
  private readonly authorizeFn: AuthorizeFn;
  private readonly writes: WriteBatcher<NewMessage, InsertedMessage>;
  private readonly now: () => Date;
  private transport: Transport | null = null;
  private closed = false;

  constructor(options: ChatEngineOptions) {
    super();
    if (!options?.storage) throw new ChatError('VALIDATION', 'ChatEngine needs a `storage` adapter');
    this.storage = options.storage;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.schemas = buildSchemas(this.limits);
    this.authorizeFn = resolvePolicy(options.authorize);
    this.rateLimiter = new RateLimiter(options.rateLimits, options.rateLimitStore);
    this.moderation = new ModerationPipeline(options.moderation, this.limits.maxContentLength);
    this.writes = new WriteBatcher((batch) => this.storage.insertMessages(batch), options.writeBatching);
    this.now = options.now ?? (() => new Date());
  }

  /** Runs the storage migrations. Idempotent; call it on every start. */
  async init(): Promise<void> {
    await this.run(() => this.storage.init());
  }

  /** Waits for queued writes, closes the transport and the storage. Later calls fail with UNAVAILABLE. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
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

  listMembers(sessionId: string, userId?: string): Promise<SessionMember[]> {
    return this.run(async () => {
      await this.access(sessionId, userId, 'session:read');
      return this.storage.listMembers(sessionId);
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
      const members = await this.storage.listMembers(sessionId);
      const online = (await this.transport?.getPresence?.(members.map((m) => m.userId))) ?? new Map();
      return members.map((m) => {
        const live = online.get(m.userId);
        return { userId: m.userId, status: live?.status ?? 'offline', lastSeenAt: live?.lastSeenAt ?? m.lastSeenAt };
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
   * `name` is a display name for the indicator.
   */
  setTyping(sessionId: string, userId: string, typing: boolean, name?: string): Promise<void> {
    return this.run(async () => {
      const typist = this.userIdOf(userId);
      if (typing) await this.rateLimiter.consume('typing:start', typist);
      await this.access(sessionId, typist, 'typing');
      this.publish('typing.updated', { sessionId, userId: typist, name: name?.slice(0, 100) ?? null, typing });
    });
  }

  // ---- messages ------------------------------------------------------------------------------

  /**
   * Sends a message as `input.userId`. A retry with the same `clientMessageId` returns the first
   * message instead of storing a second one.
   * ```ts
   * const message = await engine.createMessage({ sessionId, userId: 'alice', content: 'Hello!', clientMessageId: 'c-1' });
   * ```
   */
  createMessage(input: CreateMessageInput, options: CallOptions = {}): Promise<Message> {
    return this.run(async () => {
      const data = parseInput(this.schemas.createMessage, input, 'message');
      if (!options.trusted) await this.rateLimiter.consume('message:send', data.userId);
      await this.access(data.sessionId, options.trusted ? undefined : data.userId, 'message:send');
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
      const { message, created } = await this.writes.push({
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
      });
      if (created) this.publish('message.created', { sessionId: message.sessionId, seq: message.seq, message });
      return message;
    });
  }

  /**
   * A page of history in ascending order. `offset` counts from the newest (0 = the latest page);
   * `before`/`after` are seq cursors; `parentMessageId` pages one thread.
   * ```ts
   * const { messages, total } = await engine.getMessageHistory(sessionId, 'alice', { limit: 50, offset: 0 });
   * ```
   */
  getMessageHistory(sessionId: string, userId: string | undefined, options: HistoryOptions = {}): Promise<MessagePage> {
    return this.run(async () => {
      const query = parseInput(this.schemas.historyOptions, options ?? {}, 'options');
      if (query.before !== undefined && query.after !== undefined) {
        throw new ChatError('VALIDATION', 'Invalid options: use either `before` or `after`, not both');
      }
      await this.access(sessionId, userId, 'session:read');
      if (query.parentMessageId !== undefined) {
        const parent = await this.storage.getMessage(query.parentMessageId);
        if (!parent || parent.sessionId !== sessionId) throw new ChatError('NOT_FOUND', 'Parent message not found in this session');
      }
      return this.storage.getHistory(sessionId, {
        limit: query.limit,
        offset: query.offset,
        parentMessageId: query.parentMessageId ?? null,
        ...(query.before !== undefined && { before: query.before }),
        ...(query.after !== undefined && { after: query.after }),
      });
    });
  }

  getMessage(messageId: string, userId?: string): Promise<Message> {
    return this.run(async () => (await this.messageWithAccess(messageId, userId, 'session:read')).message);
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
      if (message.isDeleted) return message;
      const at = this.now();
      const deleted = await this.storage.updateMessage(
        message.id,
        { content: '', isDeleted: true, deletedAt: at, at },
        { bumpSeq: true },
      );
      if (!deleted) throw new ChatError('NOT_FOUND', 'Message not found');
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
  searchMessages(sessionId: string, userId: string | undefined, query: string, options: SearchOptions = {}): Promise<MessagePage> {
    return this.run(async () => {
      const text = parseInput(this.schemas.searchQuery, query, 'query');
      const page = parseInput(this.schemas.searchOptions, options ?? {}, 'options');
      const terms = searchTerms(text);
      if (terms.length === 0) throw new ChatError('VALIDATION', 'Invalid query: it has no words to search for');
      await this.access(sessionId, userId, 'session:read');
      return this.storage.searchMessages(sessionId, terms, page);
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
      return page.messages;
    });
  }

  // ---- reactions -----------------------------------------------------------------------------

  /**
   * Adds or removes `userId`'s emoji. `toggle` (the seed's default) flips it; `add`/`remove` make a
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
      if (message.attachments.length >= this.limits.maxAttachments) {
        throw new ChatError('VALIDATION', `A message has at most ${this.limits.maxAttachments} attachments`);
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

  // ---- joining and replay (DESIGN §5) ----------------------------------------------------------

  /**
   * What a client joining a session needs: the session, its members, and what changed after its
   * cursor, in seq order — at most {@link REPLAY_LIMIT} changes; `gap: true` means more was missed
   * and the client should page history. The cursor is `lastSeq` when given, else the member's stored
   * delivery cursor (see {@link markDelivered}); a member who never received anything (cursor 0)
   * gets no replay, only `gap` when the session has history. `seq` is how far the client is now
   * caught up: the cursor to send next time.
   */
  joinSession(sessionId: string, userId: string, options: { lastSeq?: number } = {}): Promise<JoinResult> {
    return this.run(async () => {
      const user = this.userIdOf(userId);
      const explicit = options.lastSeq === undefined ? undefined : parseInput(this.schemas.seqCursor, options.lastSeq, 'lastSeq');
      await this.rateLimiter.consume('session:join', user, sessionId);
      const { session, member } = await this.access(sessionId, user, 'session:join');
      const members = await this.storage.listMembers(session.id);
      const cursor = Math.min(explicit ?? member?.lastDeliveredSeq ?? 0, session.lastSeq);
      if (cursor === 0 && explicit === undefined) {
        return { session, members, member, replay: [], seq: session.lastSeq, gap: session.lastSeq > 0 };
      }
      const changes = await this.storage.getChangesSince(session.id, cursor, REPLAY_LIMIT + 1);
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
    if (this.closed) throw new ChatError('UNAVAILABLE', 'The chat engine is closed');
    try {
      return await fn();
    } catch (error) {
      throw isChatError(error) ? error : toChatError(error);
    }
  }

  private userIdOf(userId: unknown): string {
    return parseInput(this.schemas.externalId, userId, 'userId');
  }

  /**
   * The single access check (DESIGN §10): NOT_FOUND for an unknown session; FORBIDDEN when the
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
      if (this.listenerCount('error') > 0) this.emit('error', { event, error });
      else console.error(`[parley] a listener of ${event} threw`, error);
    }
  }
}

/** The words of a search query: normalised, lower-cased runs of letters and digits, de-duplicated. */
export function searchTerms(query: string): string[] {
  const words = normalizeText(query).toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return [...new Set(words)].slice(0, MAX_SEARCH_TERMS);
}
