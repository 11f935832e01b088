/**
 * Keeps one user's sends into one session in the order they were made, as one Socket.io emitter
 * or one Ably connection would: a send takes a {@link SendTurn} synchronously when it is called,
 * prepares itself (rate limit, access check, parent lookup, moderation hook) concurrently with the
 * sends around it, and enqueues its write only once every earlier turn of the same user and session
 * has enqueued its own or failed. Only that step is ordered: slow preparations overlap instead of
 * adding up, and other users and other sessions never wait.
 *
 * ```ts
 * const turn = order.take(sessionId, userId); // synchronously, at call time
 * try {
 *   const message = await prepare();
 *   if (!turn.isNext) await turn.wait();
 *   pending = writes.push(message); // enqueued in call order
 * } finally {
 *   turn.release(); // also after a failed preparation: the next send does not stall
 * }
 * ```
 */
export class SendOrder {
  /** The newest turn not yet released, per user and session; a line with no turn left is deleted. */
  private readonly lines = new Map<string, SendTurn>();

  /** A new turn behind every unreleased one of `userId` in `sessionId`. */
  take(sessionId: string, userId: string): SendTurn {
    // Both are validated external ids, which cannot contain a NUL.
    const key = `${sessionId}\u0000${userId}`;
    const previous = this.lines.get(key) ?? null;
    const turn = new SendTurn(this, key, previous);
    if (previous) previous.next = turn;
    this.lines.set(key, turn);
    return turn;
  }

  /** How many user-and-session lines hold unreleased turns (for tests: idle lines are deleted). */
  get size(): number {
    return this.lines.size;
  }

  /** @internal Unlinks a released turn; the turn behind it may go when nothing is ahead of it any more. */
  release(turn: SendTurn): void {
    const { previous, next } = turn;
    if (previous) previous.next = next;
    if (next) {
      next.previous = previous;
      if (previous === null) next.wakeUp();
    } else if (previous) {
      this.lines.set(turn.key, previous);
    } else {
      this.lines.delete(turn.key);
    }
  }
}

/**
 * One send's place in its user-and-session line. Turns form a doubly linked list of the unreleased
 * ones: a released turn leaves it at once, wherever it stands, so a failure never holds up the
 * sends behind it, and a turn is next exactly when nothing is left before it. An uncontended send
 * costs this one object and no promise.
 */
export class SendTurn {
  /** @internal */ next: SendTurn | null = null;
  private waiter: (() => void) | null = null;
  private released = false;

  /** @internal */
  constructor(
    private readonly order: SendOrder,
    /** @internal */ readonly key: string,
    /** @internal */ public previous: SendTurn | null,
  ) {}

  /** Every earlier turn has been released: this send may enqueue its write now. */
  get isNext(): boolean {
    return this.previous === null;
  }

  /** Resolves once every earlier turn has been released (at once when {@link isNext}). */
  wait(): Promise<void> {
    if (this.previous === null) return Promise.resolve();
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** Gives the turn up: after the write is enqueued, or when the send failed. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.order.release(this);
  }

  /** @internal */
  wakeUp(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
}
