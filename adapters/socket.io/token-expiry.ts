import { ChatError } from '../../src/errors.js';
import type { SocketState } from './sockets.js';

/** What happens to a socket whose identity expired: told at once, dropped after the grace. */
export interface ExpiryHooks {
  /** The identity expired (sent `auth:expired`); called once per expiry. */
  expired(state: SocketState): void;
  /** The grace passed without a successful `auth:refresh`. */
  graceOver(state: SocketState): void;
}

/** setTimeout's longest delay; a longer one would fire at once. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * Token expiry of every socket of one binding, on one shared timer.
 *
 * A socket's expiry lives on its `SocketState` (read at every client event, so refusing never waits
 * for a timer); the timer only sends `auth:expired` and, after the grace, disconnects. Sockets
 * are kept in buckets by the second they are due, and the timer is armed for the earliest bucket:
 * one timer per binding instead of one per socket, and a socket costs one entry in a set.
 */
export class TokenExpiry {
  private readonly buckets = new Map<number, Set<SocketState>>();
  private timer: NodeJS.Timeout | null = null;
  /** The bucket the timer is armed for (Infinity: none). */
  private armedFor = Number.POSITIVE_INFINITY;

  constructor(
    private readonly graceMs: number,
    private readonly hooks: ExpiryHooks,
  ) {}

  /** Starts watching a socket's identity, or replaces its expiry after a refresh (ending any grace). */
  set(state: SocketState, expiresAt: number): void {
    this.unschedule(state);
    state.authExpiresAt = expiresAt;
    state.authExpiryNotified = false;
    this.schedule(state);
  }

  /**
   * Null while the socket's identity is valid; past its expiry, the refusal every client event but
   * `auth:refresh` gets. The first refusal also sends `auth:expired` if the timer has not yet.
   */
  refusal(state: SocketState): ChatError | null {
    if (Date.now() < state.authExpiresAt) return null;
    if (!state.authExpiryNotified) this.notify(state);
    return new ChatError('UNAUTHORIZED', 'Token expired: send auth:refresh with a new token', {
      details: { expiredAt: new Date(state.authExpiresAt).toISOString() },
    });
  }

  /** The socket went: stop watching it. */
  forget(state: SocketState): void {
    this.unschedule(state);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    this.buckets.clear();
  }

  /** When the socket next needs the timer: its expiry, or the end of its grace once told. */
  private dueOf(state: SocketState): number {
    return state.authExpiryNotified ? state.authExpiresAt + this.graceMs : state.authExpiresAt;
  }

  private schedule(state: SocketState): void {
    const due = this.dueOf(state);
    if (!Number.isFinite(due)) return;
    const bucket = Math.ceil(due / 1000);
    let states = this.buckets.get(bucket);
    if (!states) this.buckets.set(bucket, (states = new Set()));
    states.add(state);
    if (bucket < this.armedFor) this.arm(bucket);
  }

  private unschedule(state: SocketState): void {
    const due = this.dueOf(state);
    if (!Number.isFinite(due)) return;
    const bucket = Math.ceil(due / 1000);
    const states = this.buckets.get(bucket);
    if (states?.delete(state) && states.size === 0) this.buckets.delete(bucket);
  }

  private notify(state: SocketState): void {
    this.unschedule(state);
    state.authExpiryNotified = true;
    this.schedule(state);
    this.hooks.expired(state);
  }

  private arm(bucket: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = bucket;
    this.timer = setTimeout(() => this.sweep(), Math.min(MAX_DELAY_MS, Math.max(0, bucket * 1000 - Date.now())));
    this.timer.unref();
  }

  private sweep(): void {
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = Date.now();
    const due: Set<SocketState>[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const [bucket, states] of this.buckets) {
      if (bucket * 1000 <= now) {
        due.push(states);
        this.buckets.delete(bucket);
      } else if (bucket < next) {
        next = bucket;
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
    for (const states of due) {
      for (const state of states) {
        if (!state.socket.connected) continue;
        if (state.authExpiryNotified) this.hooks.graceOver(state);
        else this.notify(state);
      }
    }
  }
}
