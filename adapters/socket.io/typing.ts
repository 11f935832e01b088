import type { ChatEngine } from '../../src/engine.js';

interface Typist {
  key: string;
  sessionId: string;
  userId: string;
  /** The socket that last said "typing"; its disconnect ends the indicator. */
  socketId: string;
  active: boolean;
  timer: NodeJS.Timeout | undefined;
  /** Engine calls for one typist run in order, so a late "start" can never outlive a "stop". */
  chain: Promise<unknown>;
  pending: number;
}

// Stryker disable next-line ArrowFunction: `() => undefined` is the same function
const noop = () => {};
const keyOf = (sessionId: string, userId: string) => `${sessionId}\u0000${userId}`;

/**
 * Typing indicators of the users typing through this node. The engine publishes `typing.updated`
 * (delivered like any domain event); this only remembers who is typing, to end it after `timeoutMs`
 * without a refresh, when the user sends a message, or when the socket goes.
 */
export class TypingTracker {
  private readonly typists = new Map<string, Typist>();

  constructor(
    private readonly engine: ChatEngine,
    private readonly timeoutMs: number,
    private readonly onBackgroundError: (error: unknown) => void,
  ) {}

  /** `typing:start` (or a refresh): the engine checks access and spends the budget; then expiry is (re)armed. */
  start(sessionId: string, userId: string, socketId: string, name: string | undefined): Promise<void> {
    const t = this.entry(sessionId, userId, socketId);
    return this.enqueue(t, async () => {
      await this.engine.setTyping(sessionId, userId, true, name);
      t.active = true;
      clearTimeout(t.timer);
      t.timer = setTimeout(() => void this.stop(sessionId, userId).catch(this.onBackgroundError), this.timeoutMs);
      t.timer.unref();
    });
  }

  /** Ends the indicator if this node has it on (after any start still in flight). */
  stop(sessionId: string, userId: string): Promise<boolean> {
    const t = this.typists.get(keyOf(sessionId, userId));
    if (!t) return Promise.resolve(false);
    return this.enqueue(t, async () => {
      clearTimeout(t.timer);
      t.timer = undefined;
      if (!t.active) return false;
      t.active = false;
      await this.engine.setTyping(sessionId, userId, false);
      return true;
    });
  }

  /** A message from this user in this session ends their indicator. */
  messageSent(sessionId: string, userId: string): void {
    this.stop(sessionId, userId).catch(this.onBackgroundError);
  }

  /** The socket went: end what it started (in one session, or in all). */
  socketGone(socketId: string, sessionId?: string): void {
    for (const t of [...this.typists.values()]) {
      if (t.socketId === socketId && (sessionId === undefined || t.sessionId === sessionId)) {
        this.stop(t.sessionId, t.userId).catch(this.onBackgroundError);
      }
    }
  }

  /** How many typists this node remembers: those typing, or with a start or stop in flight. */
  get size(): number {
    return this.typists.size;
  }

  close(): void {
    // Stryker disable next-line BlockStatement: a timer left running is unref'd and finds no typist once the map is clear; clearing only frees it sooner
    for (const t of this.typists.values()) clearTimeout(t.timer);
    this.typists.clear();
  }

  /** The typist's entry, made on their first start; `socketId` becomes the one that last said "typing". */
  private entry(sessionId: string, userId: string, socketId: string): Typist {
    const key = keyOf(sessionId, userId);
    const t = this.typists.get(key) ?? { key, sessionId, userId, socketId, active: false, timer: undefined, chain: Promise.resolve(), pending: 0 };
    t.socketId = socketId;
    this.typists.set(key, t);
    return t;
  }

  private enqueue<T>(t: Typist, op: () => Promise<T>): Promise<T> {
    t.pending++;
    const run = t.chain.then(op).finally(() => {
      // Forget an idle typist: the map holds only those typing or with a call in flight. (An entry
      // goes only when idle, so no newer one can have taken its key meanwhile.)
      if (--t.pending === 0 && !t.active) this.typists.delete(t.key);
    });
    t.chain = run.then(noop, noop);
    return run;
  }
}
