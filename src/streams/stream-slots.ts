import { ChatError } from '../errors.js';

/**
 * The caps on answers streaming at once: per node and per user. A request takes its slot when it
 * passes the check, before it stores anything or waits for anything, and keeps it until its stream
 * ends (or the request fails first): requests arriving together cannot all pass a check that
 * counted only the streams already running.
 */
export class StreamSlots {
  private taken = 0;
  private readonly byUser = new Map<string, number>();

  constructor(
    private readonly maxPerNode: number,
    private readonly maxPerUser: number,
  ) {}

  /** Takes a slot for `userId`, or throws LIMIT_EXCEEDED. Returns its release (idempotent). */
  take(userId: string): () => void {
    if (this.taken >= this.maxPerNode) {
      throw new ChatError('LIMIT_EXCEEDED', `Too many answers streaming (at most ${this.maxPerNode} at once); try again shortly`);
    }
    const mine = this.byUser.get(userId) ?? 0;
    if (mine >= this.maxPerUser) {
      throw new ChatError('LIMIT_EXCEEDED', `You already have ${this.maxPerUser} answers streaming; stop one or wait`);
    }
    this.taken++;
    this.byUser.set(userId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.taken--;
      const left = (this.byUser.get(userId) ?? 1) - 1;
      if (left > 0) this.byUser.set(userId, left);
      else this.byUser.delete(userId);
    };
  }

  /** Slots held right now (streams running plus requests on their way to starting). */
  get size(): number {
    return this.taken;
  }
}
