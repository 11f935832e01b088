import { ChatError } from '../../src/errors.js';
import type { Message } from '../../src/model.js';
import type { AckResponse } from '../../adapters/socket.io/events.js';
import { readJson, type ChatPersistence } from './persistence.js';
import type { AttachmentInput, ChatErrorBody } from './types.js';

/** An unsent message, as kept in `persistence` until the server acknowledges it. */
export interface OutboxEntry {
  clientMessageId: string;
  sessionId: string;
  /** Whose send it is (null: typed before the first connection said who the token belongs to). */
  userId: string | null;
  content: string;
  parentMessageId?: string;
  attachments?: AttachmentInput[];
  createdAt: string;
  /** Set when the server refused it for good; it stays (shown as `failed`) until retried or discarded. */
  failed?: ChatErrorBody;
}

/** What the outbox needs from the client. */
export interface OutboxLink {
  /** The connected user, or null while offline. */
  connectedUser(): string | null;
  /** Emits `message:send`; rejects when the ack does not come (the connection dropped). */
  send(entry: OutboxEntry): Promise<AckResponse<Message>>;
  /** Gets a new token and sends `auth:refresh`; false when no valid token could be had. */
  refreshToken(): Promise<boolean>;
  /** A send was stored (from the ack), or refused for good. */
  settled(entry: OutboxEntry, message: Message | null): void;
  /** The outbox's entries changed (a store shows its pending sends from them). */
  changed(sessionId: string): void;
}

/** Codes worth waiting out; anything else but UNAUTHORIZED refuses the send for good. */
const TRANSIENT = new Set(['RATE_LIMITED', 'UNAVAILABLE', 'LIMIT_EXCEEDED', 'INTERNAL']);
const MAX_BACKOFF_MS = 30_000;

/**
 * Sends each message once, in the order typed, with its `clientMessageId`. The list lives in
 * `persistence`, so it survives reconnects, server restarts and reloads; a send interrupted before
 * its ack is sent again with the same id, which the server answers with the message it stored the
 * first time. One send is in flight at a time: that is what keeps the order typed.
 */
export class Outbox {
  private entries: OutboxEntry[] = [];
  private readonly waiters = new Map<string, { resolve: (m: Message) => void; reject: (e: ChatError) => void }>();
  private running = false;
  private closed = false;
  private wake: (() => void) | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly persistence: ChatPersistence,
    private readonly key: string,
    private readonly link: OutboxLink,
  ) {}

  async load(): Promise<void> {
    const stored = await readJson<OutboxEntry[]>(this.persistence, this.key, []);
    // Entries added before the load finished go after the stored ones: they were typed later.
    const known = new Set(stored.map((e) => e.clientMessageId));
    this.entries = [...stored.filter(isEntry), ...this.entries.filter((e) => !known.has(e.clientMessageId))];
    for (const sessionId of new Set(this.entries.map((e) => e.sessionId))) this.link.changed(sessionId);
  }

  /** The entries of one session, in the order typed. */
  forSession(sessionId: string): OutboxEntry[] {
    return this.entries.filter((e) => e.sessionId === sessionId);
  }

  /** Queues a send; resolves with the stored message, rejects with the ChatError that refused it. */
  async add(entry: OutboxEntry): Promise<Message> {
    this.entries.push(entry);
    const settled = this.waitFor(entry.clientMessageId);
    this.link.changed(entry.sessionId); // shown as pending at once, before the (maybe async) write
    await this.save();
    this.kick();
    return settled;
  }

  /** Sends a failed entry again (same clientMessageId). */
  async retry(clientMessageId: string): Promise<Message> {
    const entry = this.entries.find((e) => e.clientMessageId === clientMessageId);
    if (!entry) throw new ChatError('NOT_FOUND', 'No such unsent message');
    const retried: OutboxEntry = { ...entry };
    delete retried.failed;
    // A retried message goes to the end: it is sent after what was typed before the retry.
    this.entries = [...this.entries.filter((e) => e !== entry), retried];
    const settled = this.waitFor(clientMessageId);
    await this.save();
    this.link.changed(entry.sessionId);
    this.kick();
    return settled;
  }

  /** Forgets an unsent or failed entry. */
  async discard(clientMessageId: string): Promise<void> {
    const entry = this.entries.find((e) => e.clientMessageId === clientMessageId);
    if (!entry) return;
    this.entries = this.entries.filter((e) => e !== entry);
    this.waiters.get(clientMessageId)?.reject(new ChatError('CONFLICT', 'The message was discarded before it was sent'));
    this.waiters.delete(clientMessageId);
    await this.save();
    this.link.changed(entry.sessionId);
  }

  /** Starts sending, if there is a connection and anything to send. Safe to call at any time. */
  kick(): void {
    if (this.running || this.closed) return;
    this.running = true;
    void this.run().finally(() => {
      this.running = false;
    });
  }

  /** The connection is back: a send waiting out a dropped connection goes now. */
  reconnected(): void {
    this.endPause();
    this.kick();
  }

  close(): void {
    this.closed = true;
    this.endPause();
  }

  private endPause(): void {
    const wake = this.wake;
    if (!wake) return;
    this.wake = null;
    clearTimeout(this.timer);
    wake();
  }

  private async run(): Promise<void> {
    let backoff = 0;
    while (!this.closed) {
      const userId = this.link.connectedUser();
      if (userId === null) return;
      const entry = this.entries.find((e) => !e.failed && (e.userId === null || e.userId === userId));
      if (!entry) return;
      if (entry.userId === null) entry.userId = userId;
      let response: AckResponse<Message>;
      try {
        response = await this.link.send(entry);
      } catch {
        // No ack: the connection dropped (or is too slow). Send it again once connected.
        backoff = await this.pause(backoff, undefined);
        continue;
      }
      if (response.ok) {
        backoff = 0;
        await this.remove(entry, response.data);
        continue;
      }
      const error = response.error;
      if (error.code === 'UNAUTHORIZED') {
        if (!(await this.link.refreshToken())) return; // the client is now 'unauthorized'; the outbox is kept
        continue;
      }
      if (TRANSIENT.has(error.code)) {
        backoff = await this.pause(backoff, error.retryAfterMs);
        continue;
      }
      await this.fail(entry, error);
    }
  }

  /** Waits `retryAfterMs` (or a growing backoff); a reconnect cuts the wait short. */
  private async pause(backoff: number, retryAfterMs: number | undefined): Promise<number> {
    const next = Math.min(MAX_BACKOFF_MS, backoff === 0 ? 500 : backoff * 2);
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, retryAfterMs ?? next);
    });
    return next;
  }

  private async remove(entry: OutboxEntry, message: Message): Promise<void> {
    this.entries = this.entries.filter((e) => e.clientMessageId !== entry.clientMessageId);
    await this.save();
    this.link.settled(entry, message);
    this.link.changed(entry.sessionId);
    this.waiters.get(entry.clientMessageId)?.resolve(message);
    this.waiters.delete(entry.clientMessageId);
  }

  private async fail(entry: OutboxEntry, error: ChatErrorBody): Promise<void> {
    const failed: OutboxEntry = { ...entry, failed: { code: error.code, message: error.message } };
    this.entries = this.entries.map((e) => (e === entry ? failed : e));
    await this.save();
    this.link.settled(failed, null);
    this.link.changed(entry.sessionId);
    this.waiters.get(entry.clientMessageId)?.reject(new ChatError(error.code, error.message, { details: error.details }));
    this.waiters.delete(entry.clientMessageId);
  }

  private waitFor(clientMessageId: string): Promise<Message> {
    return new Promise<Message>((resolve, reject) => this.waiters.set(clientMessageId, { resolve, reject }));
  }

  private async save(): Promise<void> {
    if (this.entries.length === 0) await this.persistence.removeItem(this.key);
    else await this.persistence.setItem(this.key, JSON.stringify(this.entries));
  }
}

function isEntry(value: unknown): value is OutboxEntry {
  const e = value as OutboxEntry;
  return typeof e === 'object' && e !== null && typeof e.clientMessageId === 'string' && typeof e.sessionId === 'string' && typeof e.content === 'string';
}
