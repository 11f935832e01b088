import { io, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import { ChatError } from '../../src/errors.js';
import type { Message, SessionSummary, UserProfile } from '../../src/model.js';
import type { AckDataOf, AckResponse, ClientEventName, ClientToServerEvents } from '../../adapters/socket.io/events.js';
import { ExternalStore } from './external-store.js';
import { Outbox, type OutboxEntry } from './outbox.js';
import { resolvePersistence, type ChatPersistence, type PersistenceOption } from './persistence.js';
import { restGet } from './rest.js';
import { UserDirectory } from './user-directory.js';
import { SessionStore, type ChatSession, type SessionLink } from './session-store.js';
import { jwtExpiry, MIN_RENEW_MS, RENEW_AT, type TokenSource } from './token.js';
import type { ChatSocket, ClientSnapshot, ConnectionStatus } from './types.js';

export type { ChatSocket };
import { routeSessionEvents } from './routing.js';

export interface ChatClientOptions {
  /** The Socket.io origin, e.g. `https://app.example.com`; REST is at `url + restPath`. */
  url: string;
  /** A token, or a function asked on every connection and again before the token expires. */
  token: TokenSource;
  /** Where cursors and the outbox live: `'local'` (localStorage), `'memory'` (default), or your own. */
  persistence?: PersistenceOption;
  /** Where the host mounted `createChatRouter` (default `/api/chat`). */
  restPath?: string;
  /** The chat namespace (default `/chat`). */
  namespace?: string;
  /** How long to wait for an acknowledgement before treating the connection as lost (default 10 s). */
  ackTimeoutMs?: number;
  /** Passed to socket.io-client (reconnection delays, transports, path…). */
  socket?: Partial<ManagerOptions & SocketOptions>;
}


/**
 * A connection to a Parley server, and the stores a UI renders from. See docs/client.md.
 *
 * ```ts
 * const client = createChatClient({ url: 'https://app.example.com', token: () => getToken(), persistence: 'local' });
 * const room = client.session('support');
 * room.subscribe(() => render(room.getSnapshot()));
 * await room.send('Hello!');
 * ```
 */
export interface ChatClient {
  getSnapshot(): ClientSnapshot;
  subscribe(listener: () => void): () => void;
  /** The store of one session (the same object for the same id); joins it if needed. */
  session(sessionId: string): ChatSession;
  /** Reads the session list again (it is also read on every connection). */
  refreshSessions(): Promise<void>;
  /** Disconnects. Not a sign-out: the outbox and cursors stay in `persistence` for the next client. */
  close(): void;
  /** The underlying socket, for events of your own. */
  readonly socket: ChatSocket;
}

/** Creates a client and starts connecting. */
export function createChatClient(options: ChatClientOptions): ChatClient {
  return new Client(options);
}

class Client extends ExternalStore<ClientSnapshot> implements ChatClient {
  readonly socket: ChatSocket;
  private status: ConnectionStatus = 'connecting';
  private userId: string | null = null;
  private sessions: SessionSummary[] = [];
  private readonly stores = new Map<string, SessionStore>();
  private readonly persistence: ChatPersistence;
  private readonly outbox: Outbox;
  private readonly restBase: string;
  private readonly keyPrefix: string;
  private readonly ackTimeoutMs: number;
  private token: string | null = null;
  private refreshing: Promise<boolean> | null = null;
  private renewTimer: ReturnType<typeof setTimeout> | undefined;
  private authRetried = false;
  private clockSkewMs = 0;
  private closed = false;
  private readonly cursorsToSave = new Map<string, number>();
  private cursorFlushQueued = false;
  private readonly link: SessionLink;
  private readonly users = new UserDirectory(async (ids) => {
    const { users } = await this.get<{ users: UserProfile[] }>(`/users?ids=${ids.map(encodeURIComponent).join(',')}`);
    return users;
  });

  constructor(private readonly options: ChatClientOptions) {
    super();
    const origin = options.url.replace(/\/+$/, '');
    this.restBase = origin + (options.restPath ?? '/api/chat');
    this.keyPrefix = `parley:${origin}:`;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
    this.persistence = resolvePersistence(options.persistence);
    this.outbox = new Outbox(this.persistence, `${this.keyPrefix}outbox`, {
      connectedUser: () => (this.socket.connected && this.status === 'online' ? this.userId : null),
      send: (entry) => this.sendEntry(entry),
      refreshToken: () => this.refreshToken(),
      settled: (entry, message) => this.stores.get(entry.sessionId)?.settled(message),
      changed: (sessionId) => this.stores.get(sessionId)?.outboxChanged(),
    });
    this.link = {
      userId: () => this.userId,
      online: () => this.socket.connected && this.status === 'online',
      emit: (event, payload) => this.emit(event, payload),
      get: (path) => this.get(path),
      outbox: this.outbox,
      users: this.users,
      loadCursor: async (sessionId) => {
        const raw = this.userId === null ? null : await this.persistence.getItem(this.cursorKey(this.userId, sessionId));
        const seq = raw === null ? NaN : Number(raw);
        return Number.isSafeInteger(seq) ? seq : null;
      },
      saveCursor: (sessionId, seq) => this.saveCursor(sessionId, seq),
      forget: (sessionId) => this.stores.delete(sessionId),
    };
    this.socket = io(origin + (options.namespace ?? '/chat'), {
      ...options.socket,
      // Asked on every (re)connection, so a reconnect presents a fresh token.
      auth: (cb) => {
        this.fetchToken().then(
          (token) => cb({ token }),
          () => cb({}),
        );
      },
    }) as ChatSocket;
    this.users.subscribe(() => {
      for (const store of this.stores.values()) store.namesChanged();
    });
    this.listen();
    void this.outbox.load().then(() => this.outbox.kick());
  }

  session(sessionId: string): ChatSession {
    let store = this.stores.get(sessionId);
    if (!store) {
      store = new SessionStore(sessionId, this.link);
      this.stores.set(sessionId, store);
      if (this.status === 'online') void store.join();
    }
    return store;
  }

  async refreshSessions(): Promise<void> {
    const { sessions } = await this.get<{ sessions: SessionSummary[] }>('/sessions');
    this.sessions = sessions;
    this.changed();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.renewTimer);
    this.flushCursors();
    this.outbox.close();
    for (const store of this.stores.values()) store.disconnected();
    this.socket.disconnect();
    this.setStatus('offline');
  }

  protected build(): ClientSnapshot {
    return Object.freeze({ status: this.status, userId: this.userId, sessions: Object.freeze(this.sessions.slice()) });
  }

  // ---- connection ------------------------------------------------------------------------------

  private listen(): void {
    const socket = this.socket;
    socket.on('connection:success', (event) => {
      this.userId = event.userId;
      this.authRetried = false;
      this.clockSkewMs = Date.parse(event.serverTime) - Date.now() || 0;
      this.setStatus('online');
      this.flushCursors();
      if (this.token) this.scheduleRenewal(jwtExpiry(this.token));
      for (const store of this.stores.values()) void store.join();
      this.refreshSessions().catch(() => {});
      this.outbox.reconnected();
    });
    socket.on('connect_error', (error: Error & { data?: { code?: string; retryAfterMs?: number } }) => {
      const code = error.data?.code;
      if (socket.active) return void this.setStatus(this.status === 'connecting' ? 'connecting' : 'offline'); // a network failure: socket.io-client retries
      if (code === 'UNAUTHORIZED' && this.authRetried) return void this.setStatus('unauthorized');
      if (code === 'UNAUTHORIZED') this.authRetried = true; // ask token() once more: it may have been renewed meanwhile
      setTimeout(() => !this.closed && socket.connect(), code === 'UNAUTHORIZED' ? 0 : (error.data?.retryAfterMs ?? 1_000));
    });
    socket.on('disconnect', (reason) => {
      for (const store of this.stores.values()) store.disconnected();
      if (this.closed) return;
      if (this.status !== 'unauthorized') this.setStatus('offline');
      // The server closed it (an expired token past its grace): connect again with a new token.
      if (reason === 'io server disconnect' && this.status !== 'unauthorized') socket.connect();
    });
    socket.on('auth:expired', () => void this.refreshToken());
    socket.on('member:added', (event) => {
      if (event.userId === this.userId) this.refreshSessions().catch(() => {});
    });
    socket.on('member:removed', (event) => {
      if (event.userId !== this.userId) return;
      this.sessions = this.sessions.filter((s) => s.id !== event.sessionId);
      this.changed();
    });
    socket.on('message:seen:update', (event) => {
      if (event.userId === this.userId) this.readUpTo(event.sessionId, event.seq);
    });
    socket.on('message:new', (message) => this.countUnread(message));
    routeSessionEvents(socket, (sessionId) => this.stores.get(sessionId), () => this.stores.values());
  }

  private setStatus(status: ConnectionStatus): void {
    if (this.status === status) return;
    this.status = status;
    this.changed();
  }

  // ---- tokens ----------------------------------------------------------------------------------

  private async fetchToken(): Promise<string> {
    const source = this.options.token;
    this.token = typeof source === 'string' ? source : await source();
    return this.token;
  }

  private async currentToken(): Promise<string> {
    return this.token ?? this.fetchToken();
  }

  private scheduleRenewal(expiresAt: number | null): void {
    clearTimeout(this.renewTimer);
    if (expiresAt === null || typeof this.options.token === 'string') return;
    const remaining = expiresAt - (Date.now() + this.clockSkewMs);
    this.renewTimer = setTimeout(() => void this.refreshToken(), Math.max(MIN_RENEW_MS, remaining * RENEW_AT));
  }

  /** A new token from `token()`, sent as `auth:refresh`; false if none was accepted (status `unauthorized`). */
  private refreshToken(): Promise<boolean> {
    this.refreshing ??= this.renew().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async renew(): Promise<boolean> {
    let token: string;
    try {
      token = await this.fetchToken();
    } catch {
      return false;
    }
    if (!this.socket.connected) return true; // the next handshake presents it
    let response: AckResponse<AckDataOf<'auth:refresh'>>;
    try {
      response = await this.socket.timeout(this.ackTimeoutMs).emitWithAck('auth:refresh', { token });
    } catch {
      return false;
    }
    if (response.ok) {
      this.scheduleRenewal(response.data.expiresAt === null ? null : Date.parse(response.data.expiresAt));
      return true;
    }
    if (response.error.code === 'UNAUTHORIZED') {
      this.setStatus('unauthorized');
      this.socket.disconnect();
    }
    return false;
  }

  // ---- calls -----------------------------------------------------------------------------------

  private async emit<E extends ClientEventName>(event: E, payload: Parameters<ClientToServerEvents[E]>[0]): Promise<AckDataOf<E>> {
    for (let attempt = 0; ; attempt++) {
      if (!this.socket.connected) throw new ChatError('UNAVAILABLE', 'Not connected to the chat server');
      let response: AckResponse<AckDataOf<E>>;
      try {
        response = await (this.socket.timeout(this.ackTimeoutMs) as unknown as { emitWithAck(e: E, p: unknown): Promise<AckResponse<AckDataOf<E>>> }).emitWithAck(event, payload);
      } catch {
        throw new ChatError('UNAVAILABLE', 'The chat server did not answer');
      }
      if (response.ok) return response.data;
      const { code, message, details, retryAfterMs } = response.error;
      // An expired token: renew once and try again (the refused event did nothing).
      if (code === 'UNAUTHORIZED' && attempt === 0 && (await this.refreshToken())) continue;
      throw new ChatError(code, message, { details, ...(retryAfterMs !== undefined && { retryAfterMs }) });
    }
  }

  private sendEntry(entry: OutboxEntry): Promise<AckResponse<Message>> {
    if (!this.socket.connected) return Promise.reject(new Error('offline'));
    return this.socket.timeout(this.ackTimeoutMs).emitWithAck('message:send', {
      sessionId: entry.sessionId,
      content: entry.content,
      clientMessageId: entry.clientMessageId,
      ...(entry.parentMessageId !== undefined && { parentMessageId: entry.parentMessageId }),
      ...(entry.attachments !== undefined && { attachments: entry.attachments }),
    });
  }

  private async get<T>(path: string): Promise<T> {
    try {
      return await restGet<T>(this.restBase, path, await this.currentToken());
    } catch (e) {
      if (!(e instanceof ChatError) || e.code !== 'UNAUTHORIZED') throw e;
      return restGet<T>(this.restBase, path, await this.fetchToken()); // once more with a new token
    }
  }

  // ---- unread counts and cursors ---------------------------------------------------------------

  /**
   * A new message counts as unread once: a message whose seq the list already covers (a replay,
   * a duplicate after a reconnect) is not counted again.
   */
  private countUnread(message: Message): void {
    const i = this.sessions.findIndex((s) => s.id === message.sessionId);
    const summary = this.sessions[i];
    if (!summary || message.seq <= summary.lastSeq) return;
    const unread = message.userId !== this.userId && !message.isDeleted && message.seq > summary.lastReadSeq;
    this.sessions = replaceAt(this.sessions, i, {
      ...summary,
      lastSeq: message.seq,
      messageCount: summary.messageCount + (message.parentMessageId === null ? 1 : 0),
      unreadCount: summary.unreadCount + (unread ? 1 : 0),
    });
    this.changed();
  }

  private readUpTo(sessionId: string, seq: number): void {
    const i = this.sessions.findIndex((s) => s.id === sessionId);
    const summary = this.sessions[i];
    if (!summary || seq <= summary.lastReadSeq) return;
    if (seq < summary.lastSeq) {
      this.refreshSessions().catch(() => {}); // read part-way: the server counts what is left
      return;
    }
    this.sessions = replaceAt(this.sessions, i, { ...summary, lastReadSeq: seq, unreadCount: 0 });
    this.changed();
  }

  private cursorKey(userId: string, sessionId: string): string {
    return `${this.keyPrefix}cursor:${userId}:${sessionId}`;
  }

  /** Cursors are written once per burst of events, not once per event. */
  private saveCursor(sessionId: string, seq: number): void {
    this.cursorsToSave.set(sessionId, seq);
    if (this.cursorFlushQueued) return;
    this.cursorFlushQueued = true;
    queueMicrotask(() => this.flushCursors());
  }

  private flushCursors(): void {
    this.cursorFlushQueued = false;
    if (this.userId === null) return; // kept until the connection says whose they are
    for (const [sessionId, seq] of this.cursorsToSave) void this.persistence.setItem(this.cursorKey(this.userId, sessionId), String(seq));
    this.cursorsToSave.clear();
  }
}

/** A copy of `list` with item `i` replaced (the snapshot keeps the old array). */
function replaceAt<T>(list: readonly T[], i: number, item: T): T[] {
  const copy = list.slice();
  copy[i] = item;
  return copy;
}
