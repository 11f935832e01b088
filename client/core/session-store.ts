import { ChatError } from '../../src/errors.js';
import type { Message, MessagePage, PresenceEntry, SessionMember } from '../../src/model.js';
import type {
  AckDataOf,
  AttachmentAddedEvent,
  AttachmentDeletedEvent,
  ClientEventName,
  ClientToServerEvents,
  MemberAddedEvent,
  MemberRemovedEvent,
  MessageDeletedEvent,
  MessageReactionUpdateEvent,
  MessageSeenUpdateEvent,
  PresenceUpdateEvent,
  SessionSyncedEvent,
  StreamChunk,
  StreamCompleteEvent,
  StreamErrorEvent,
  StreamSnapshotEvent,
  StreamStoppedEvent,
  TypingEvent,
  UserJoinedEvent,
} from '../../adapters/socket.io/events.js';
import { ExternalStore, type Subscribable } from './external-store.js';
import { newClientMessageId } from './ids.js';
import { adopt, MessageList } from './message-list.js';
import type { Outbox, OutboxEntry } from './outbox.js';
import { pendingMessage } from './pending-message.js';
import { StreamAssembly } from './stream-assembly.js';
import type { AttachmentInput, ChatMessage, MemberView, SessionSnapshot, TypingUser } from './types.js';
import type { UserDirectory } from './user-directory.js';

/** What a session store needs from its client. */
export interface SessionLink {
  userId(): string | null;
  /** Whether the socket is connected (a failed join is then tried again). */
  online(): boolean;
  /** Emits with an ack; rejects with the ChatError of a refusal (UNAVAILABLE when offline). */
  emit<E extends ClientEventName>(event: E, payload: Parameters<ClientToServerEvents[E]>[0]): Promise<AckDataOf<E>>;
  /** A REST GET under the client's `restPath`. */
  get<T>(path: string): Promise<T>;
  readonly outbox: Outbox;
  /** Display names, shared by the client's sessions. */
  readonly users: UserDirectory;
  loadCursor(sessionId: string): Promise<number | null>;
  saveCursor(sessionId: string, seq: number): void;
  /** The store left its session: the client stops routing events to it. */
  forget(sessionId: string): void;
}

/** How many messages a page holds: the latest page after a gap, and each `loadOlder()`. */
export const PAGE_SIZE = 100;
/** A typing indicator nobody refreshed is dropped after this (the server's expiry plus slack). */
const TYPING_TTL_MS = 6_000;
/** A join that got no answer while connected is tried again after this. */
const JOIN_RETRY_MS = 2_000;
/** `typing(true)` sends at most this often: the server keeps an indicator alive for 5 s. */
const TYPING_REFRESH_MS = 3_000;

export interface SendOptions {
  parentMessageId?: string;
  attachments?: AttachmentInput[];
}

export interface AskOptions {
  agentId?: string;
  config?: { temperature?: number; maxTokens?: number; model?: string };
}

/**
 * One session as this client sees it: joined on creation and re-joined on every reconnect, replaying
 * from its cursor; the messages by seq, each applied once; the answers streaming into them; the
 * members, their presence and who is typing; and the actions. Get one with `client.session(id)`.
 *
 * ```ts
 * const room = client.session('support');
 * const off = room.subscribe(() => render(room.getSnapshot()));
 * await room.send('Hello!');
 * ```
 */
export interface ChatSession extends Subscribable<SessionSnapshot> {
  readonly sessionId: string;
  /**
   * Sends a message. It shows at once as `pending` and waits in the outbox while offline; resolves
   * with the stored message once acknowledged, or rejects with the ChatError that refused it (the
   * message then shows as `failed`).
   */
  send(content: string, options?: SendOptions): Promise<Message>;
  retry(clientMessageId: string): Promise<Message>;
  discard(clientMessageId: string): Promise<void>;
  edit(messageId: string, content: string): Promise<Message>;
  delete(messageId: string): Promise<void>;
  /** Toggles your reaction (or `add`/`remove` it: safe to retry). */
  react(messageId: string, emoji: string, action?: 'add' | 'remove' | 'toggle'): Promise<void>;
  /** Moves your read cursor to this message (never back): unread counts follow. */
  markSeen(messageId: string): Promise<void>;
  typing(active: boolean): void;
  /** Asks an agent; resolves with the stream id. The answer streams into `messages`. */
  ask(prompt: string, options?: AskOptions): Promise<string>;
  stop(streamId: string): Promise<void>;
  /** Loads the page before the oldest loaded message; false when there is nothing older. */
  loadOlder(limit?: number): Promise<boolean>;
  leave(): void;
}

/** The store behind a {@link ChatSession}: the client routes the session's events to it. */
export class SessionStore extends ExternalStore<SessionSnapshot> implements ChatSession {
  readonly sessionId: string;
  private readonly list = new MessageList();
  private readonly streams = new StreamAssembly();
  /** clientMessageIds of own sends already stored (so their outbox entry no longer shows). */
  private readonly stored = new Set<string>();
  private readonly pendingViews = new WeakMap<OutboxEntry, ChatMessage>();
  private readonly members = new Map<string, SessionMember>();
  private readonly presence = new Map<string, PresenceEntry>();
  private readonly typists = new Map<string, { user: TypingUser; timer: ReturnType<typeof setTimeout> }>();
  private state: SessionSnapshot['state'] = 'joining';
  private error: SessionSnapshot['error'] = null;
  private cursor = 0;
  private gap = false;
  private hasOlder = false;
  private loadedLatest = false;
  private replaying = false;
  private typingSentAt = 0;
  private cursorLoaded = false;
  /** This user was added while a join was in flight: a refusal of that join is already out of date. */
  private addedDuringJoin = false;

  constructor(sessionId: string, private readonly link: SessionLink) {
    super();
    this.sessionId = sessionId;
  }

  // ---- joining and replay ------------------------------------------------------------------

  /**
   * Joins (again): a fresh store first loads the latest page over REST, since nothing but the
   * cursor outlives a reload; then `session:join` replays everything after the cursor.
   */
  async join(): Promise<void> {
    if (this.state === 'left') return;
    this.addedDuringJoin = false;
    try {
      if (!this.cursorLoaded) {
        // Persisted per user, so it is read once the connection says who that is.
        const seq = await this.link.loadCursor(this.sessionId);
        if (seq !== null && seq > this.cursor) this.cursor = seq;
        this.cursorLoaded = true;
      }
      if (!this.loadedLatest) await this.loadLatest();
      this.beginReplay();
      const lastSeq = this.cursor > 0 ? this.cursor : undefined;
      const ack = await this.link.emit('session:join', { sessionId: this.sessionId, ...(lastSeq !== undefined && { lastSeq }) });
      this.members.clear(); // the join's list is current: someone removed while away is gone
      for (const member of ack.members) {
        this.link.users.learn(member.userId, member.name, member.avatarUrl);
        this.members.set(member.userId, member);
      }
      this.presence.clear();
      for (const entry of ack.presence) this.presence.set(entry.userId, entry);
      this.link.users.want(this.members.keys());
      this.error = null;
      this.changed();
    } catch (e) {
      this.endReplay();
      const error = e instanceof ChatError ? e : new ChatError('UNAVAILABLE', 'Could not join the session');
      // Offline: the next connection joins again; connected but unanswered: try again shortly.
      if (error.code === 'UNAVAILABLE' || error.code === 'RATE_LIMITED') {
        if (this.link.online()) setTimeout(() => this.link.online() && void this.join(), error.retryAfterMs ?? JOIN_RETRY_MS);
      } else if (this.addedDuringJoin) {
        void this.join(); // refused before the user was added, which happened meanwhile
      } else {
        // Refused (FORBIDDEN, NOT_FOUND): say so.
        this.state = 'error';
        this.error = error.toJSON();
        this.changed();
      }
    }
  }

  /** The connection dropped: a replay in progress will not finish. */
  disconnected(): void {
    this.endReplay();
    for (const { timer } of this.typists.values()) clearTimeout(timer);
    if (this.typists.size > 0) {
      this.typists.clear();
      this.changed();
    }
  }

  private beginReplay(): void {
    if (this.replaying) return;
    this.replaying = true;
    this.hold(); // one snapshot for the whole replay, not one per replayed event
  }

  private endReplay(): void {
    if (!this.replaying) return;
    this.replaying = false;
    this.release();
  }

  onSynced(event: SessionSyncedEvent): void {
    this.advance(event.seq);
    if (this.state !== 'left') this.state = 'joined';
    this.error = null;
    if (event.gap) {
      this.gap = true;
      void this.loadLatest().catch(() => {
        // Offline again: the next join replays and reports the gap again.
      });
    }
    this.endReplay();
    this.changed();
  }

  /**
   * The latest page over REST. Anything held that is older than that page is dropped: what lies
   * between them was never received, and a hole nobody sees is worse than a shorter history
   * (`loadOlder()` brings it back).
   */
  private async loadLatest(): Promise<void> {
    const page = await this.link.get<MessagePage>(`/sessions/${encodeURIComponent(this.sessionId)}/messages?limit=${PAGE_SIZE}&offset=0`);
    const oldest = page.messages[0]?.seq;
    if (oldest !== undefined) this.list.dropBefore(oldest);
    let latestChange = 0;
    for (const message of page.messages) {
      this.applyMessage(message);
      latestChange = Math.max(latestChange, message.changeSeq);
    }
    // A page is the state as of now: replaying from its newest change only repeats, never skips.
    if (this.cursor === 0) this.advance(latestChange);
    this.hasOlder = page.total > page.messages.length;
    this.loadedLatest = true;
    this.gap = false;
    this.changed();
  }

  // ---- server events -----------------------------------------------------------------------

  onMessage(message: Message): void {
    if (this.applyMessage(message)) this.changed();
    this.advance(message.changeSeq);
  }

  private applyMessage(message: Message): boolean {
    if (message.userId !== null) this.link.users.learn(message.userId, message.authorName);
    const chat = adopt(message);
    const stream = chat.status === 'streaming' ? this.streams.forMessage(chat.id) : undefined;
    if (stream && stream.content.length > chat.content.length) chat.content = stream.content;
    if (stream && stream.parts.length > (chat.parts?.length ?? 0)) chat.parts = stream.parts;
    if (!this.list.apply(chat)) return false;
    if (chat.clientMessageId !== null && chat.userId === this.link.userId()) this.stored.add(chat.clientMessageId);
    return true;
  }

  onDeleted(event: MessageDeletedEvent): void {
    this.update(event.messageId, event.seq, ({ parts: _parts, ...m }) => ({ ...m, content: '', isDeleted: true, deletedAt: event.deletedAt, attachments: [], reactions: [] }));
  }

  onReactions(event: MessageReactionUpdateEvent): void {
    this.update(event.messageId, event.seq, (m) => ({ ...m, reactions: event.reactions }));
  }

  onAttachmentAdded(event: AttachmentAddedEvent): void {
    this.update(event.messageId, event.seq, (m) => ({ ...m, attachments: [...m.attachments, ...event.attachments] }));
  }

  onAttachmentDeleted(event: AttachmentDeletedEvent): void {
    this.update(event.messageId, event.seq, (m) => ({ ...m, attachments: m.attachments.filter((a) => a.id !== event.attachmentId) }));
  }

  /** A change to a held message, applied only if it is newer than what is held. */
  private update(messageId: string, seq: number, change: (m: ChatMessage) => ChatMessage): void {
    this.advance(seq);
    const held = this.list.get(messageId);
    if (!held || (held.changeSeq ?? 0) >= seq) return;
    this.list.replace(held, { ...change(held), changeSeq: seq });
    this.changed();
  }

  /** A read receipt: `seq` is the reader's read cursor, which only moves forward. */
  onSeen(event: MessageSeenUpdateEvent): void {
    const member = this.members.get(event.userId);
    if (!member || member.lastReadSeq >= event.seq) return;
    this.members.set(event.userId, { ...member, lastReadSeq: event.seq });
    this.changed();
  }

  onTyping(event: TypingEvent, typing: boolean): void {
    const held = this.typists.get(event.userId);
    if (held) clearTimeout(held.timer);
    this.link.users.learn(event.userId, event.name);
    if (!typing) {
      if (held && this.typists.delete(event.userId)) this.changed();
      return;
    }
    const user: TypingUser = event.name ? { userId: event.userId, name: event.name } : { userId: event.userId };
    if (!event.name) this.link.users.want([event.userId]);
    const timer = setTimeout(() => this.onTyping(event, false), TYPING_TTL_MS);
    this.typists.set(event.userId, { user, timer });
    if (!held) this.changed();
  }

  onPresence(event: PresenceUpdateEvent): void {
    if (!this.members.has(event.userId) && !this.presence.has(event.userId)) return;
    this.link.users.learn(event.userId, event.name);
    this.presence.set(event.userId, { userId: event.userId, name: event.name ?? null, status: event.status, lastSeenAt: event.lastSeenAt });
    this.changed();
  }

  onUserJoined(event: UserJoinedEvent): void {
    this.link.users.learn(event.userId, event.name); // the directory tells the client when a name is new
  }

  /** The directory learnt or fetched names: the snapshot shows them. */
  namesChanged(): void {
    this.changed();
  }

  onMemberAdded(event: MemberAddedEvent): void {
    // Added to a session this store was refused: join it now.
    if (event.userId === this.link.userId()) {
      if (this.state === 'error') void this.join();
      else if (this.state === 'joining') this.addedDuringJoin = true;
    }
    if (this.members.has(event.userId)) return;
    const now = new Date().toISOString();
    this.members.set(event.userId, { sessionId: this.sessionId, userId: event.userId, role: event.role, lastReadSeq: 0, lastDeliveredSeq: 0, lastSeenAt: null, joinedAt: now });
    this.link.users.want([event.userId]);
    this.changed();
  }

  onMemberRemoved(event: MemberRemovedEvent): void {
    if (event.userId === this.link.userId()) {
      this.state = 'left';
      this.error = { code: 'FORBIDDEN', message: 'You were removed from this session' };
      this.link.forget(this.sessionId);
    }
    this.members.delete(event.userId);
    this.presence.delete(event.userId);
    this.changed();
  }

  onStreamSnapshot(event: StreamSnapshotEvent): void {
    this.streams.snapshot(event);
    this.showStream(event.messageId);
  }

  onStreamChunk(chunk: StreamChunk): void {
    if (chunk.index > 0 && !this.streams.forMessage(chunk.messageId)) {
      // Chunks were missed with no snapshot to cover them: start from the text held (saved about
      // once a second); the end event's content corrects it.
      const held = this.list.get(chunk.messageId);
      this.streams.snapshot({
        streamId: chunk.id,
        sessionId: chunk.sessionId,
        messageId: chunk.messageId,
        content: held?.content ?? '',
        parts: [...(held?.parts ?? [])],
        tokens: held?.tokens ?? 0,
        index: chunk.index,
      });
    }
    if (this.streams.chunk(chunk)) this.showStream(chunk.messageId);
  }

  onStreamEnd(event: StreamCompleteEvent | StreamStoppedEvent | StreamErrorEvent, status: 'completed' | 'stopped' | 'error'): void {
    this.streams.end(event.streamId);
    this.update(event.messageId, event.seq, (m) => ({
      ...m,
      content: 'content' in event ? event.content : m.content,
      // The stored parts; an end without any (an answer that could not be stored) keeps what streamed.
      ...(event.parts?.length && { parts: event.parts }),
      tokens: event.tokens ?? m.tokens,
      status,
      metadata: { ...m.metadata, status },
      ...('code' in event && { error: { code: event.code as ChatError['code'], message: event.message } }),
    }));
    this.changed();
  }

  /** The answer's text so far becomes its message's content (a new object: snapshots stay immutable). */
  private showStream(messageId: string): void {
    const stream = this.streams.forMessage(messageId);
    const held = this.list.get(messageId);
    if (held && stream && held.status === 'streaming' && (held.content !== stream.content || held.parts !== stream.parts)) {
      this.list.replace(held, { ...held, content: stream.content, parts: stream.parts, tokens: stream.tokens });
    }
    this.changed();
  }

  /** Own sends: the outbox changed, or one was stored. */
  outboxChanged(): void {
    this.changed();
  }

  settled(message: Message | null): void {
    if (message) this.onMessage(message);
  }

  private advance(seq: number): void {
    if (seq <= this.cursor) return;
    this.cursor = seq;
    this.link.saveCursor(this.sessionId, seq);
  }

  // ---- actions -----------------------------------------------------------------------------

  send(content: string, options: SendOptions = {}): Promise<Message> {
    return this.link.outbox.add({
      clientMessageId: newClientMessageId(),
      sessionId: this.sessionId,
      userId: this.link.userId(),
      content,
      ...(options.parentMessageId !== undefined && { parentMessageId: options.parentMessageId }),
      ...(options.attachments !== undefined && { attachments: options.attachments }),
      createdAt: new Date().toISOString(),
    });
  }

  retry(clientMessageId: string): Promise<Message> {
    return this.link.outbox.retry(clientMessageId);
  }

  discard(clientMessageId: string): Promise<void> {
    return this.link.outbox.discard(clientMessageId);
  }

  async edit(messageId: string, content: string): Promise<Message> {
    const message = await this.link.emit('message:edit', { messageId, content });
    this.onMessage(message);
    return message;
  }

  async delete(messageId: string): Promise<void> {
    this.onDeleted(await this.link.emit('message:delete', { messageId }));
  }

  async react(messageId: string, emoji: string, action: 'add' | 'remove' | 'toggle' = 'toggle'): Promise<void> {
    await this.link.emit('message:reaction', { messageId, emoji, action });
  }

  async markSeen(messageId: string): Promise<void> {
    const ack = await this.link.emit('message:seen', { sessionId: this.sessionId, messageId });
    this.onSeen(ack);
  }

  typing(active: boolean): void {
    const now = Date.now();
    if (active && now - this.typingSentAt < TYPING_REFRESH_MS) return;
    this.typingSentAt = active ? now : 0;
    const sent = active ? this.link.emit('typing:start', { sessionId: this.sessionId }) : this.link.emit('typing:stop', { sessionId: this.sessionId });
    sent.catch(() => {}); // an indicator is best effort
  }

  async ask(prompt: string, options: AskOptions = {}): Promise<string> {
    const { streamId } = await this.link.emit('stream:request', { sessionId: this.sessionId, prompt, ...options });
    return streamId;
  }

  async stop(streamId: string): Promise<void> {
    await this.link.emit('stream:stop', { streamId });
  }

  async loadOlder(limit = PAGE_SIZE): Promise<boolean> {
    const before = this.list.oldestSeq;
    if (before === null) {
      if (!this.loadedLatest) await this.loadLatest();
      return this.hasOlder;
    }
    const page = await this.link.get<MessagePage>(`/sessions/${encodeURIComponent(this.sessionId)}/messages?limit=${limit}&before=${before}`);
    for (const message of page.messages) this.applyMessage(message);
    this.hasOlder = page.messages.length >= limit;
    this.changed();
    return this.hasOlder;
  }

  leave(): void {
    if (this.state === 'left') return;
    this.state = 'left';
    this.link.forget(this.sessionId);
    this.link.emit('session:leave', { sessionId: this.sessionId }).catch(() => {});
    this.disconnected();
    this.changed();
  }

  // ---- snapshot ----------------------------------------------------------------------------

  protected build(): SessionSnapshot {
    const messages: ChatMessage[] = this.list.toArray();
    for (const entry of this.link.outbox.forSession(this.sessionId)) {
      if (!this.stored.has(entry.clientMessageId)) messages.push(this.pendingView(entry));
    }
    const { users } = this.link;
    const members: MemberView[] = [...this.members.values()].map((m) => ({
      ...m,
      name: users.name(m.userId) ?? m.userId,
      avatarUrl: users.avatarUrl(m.userId),
    }));
    const typing = [...this.typists.values()].map(({ user }) => {
      const name = user.name ?? users.name(user.userId);
      return name === null || name === undefined ? user : { ...user, name };
    });
    const presence = [...this.presence.values()].map((p) => ({ ...p, name: users.name(p.userId) ?? p.name ?? null }));
    return Object.freeze({
      sessionId: this.sessionId,
      state: this.state,
      error: this.error,
      messages: Object.freeze(messages),
      typing: Object.freeze(typing),
      presence: Object.freeze(presence),
      members: Object.freeze(members),
      streams: Object.freeze(this.streams.views()),
      gap: this.gap,
      hasOlder: this.hasOlder,
      cursor: this.cursor,
    });
  }

  /** An outbox entry shown as a message; the same object while the entry is unchanged. */
  private pendingView(entry: OutboxEntry): ChatMessage {
    let view = this.pendingViews.get(entry);
    if (!view) {
      view = pendingMessage(entry, this.link.userId());
      this.pendingViews.set(entry, view);
    }
    return view;
  }
}
