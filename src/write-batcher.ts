import { ChatError, isChatError } from './errors.js';

export interface WriteBatcherOptions {
  /** Most items written in one storage call (default 128). */
  maxBatchSize?: number;
  /** Storage calls in flight at once (default 2). */
  concurrency?: number;
  /** Items waiting beyond those in flight before new ones are refused with UNAVAILABLE (default 10,000). */
  maxQueued?: number;
}

/** Construction options the owner of the write decides, not the host. */
export interface WriteBatcherInternals<I> {
  /**
   * Items with the same key are never in two batches in flight at once (the engine keys sends by
   * session). Two batches of one session would only queue on the session's row lock in the
   * database — each holding a pooled connection and adding the other's commit to its latency —
   * while a batch of another session could have run. Items of a busy key wait, in order, for the
   * next batch.
   */
  keyOf?: (item: I) => string;
}

interface Pending<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
  /** Called once the item is settled (see `whenSettled`). */
  onSettled?: (() => void)[];
}

/**
 * Group commit: concurrent writes are gathered into one storage call (one transaction), so
 * throughput under load is bounded by batches per second, not round trips per message. Items
 * pushed in one turn of the event loop (say, every send decoded from the sockets readable in that
 * turn) leave together at the end of the turn (`setImmediate`), so even a synchronous storage
 * such as SQLite — whose batch finishes before the next item can queue behind it — commits many
 * sends per transaction; idle, that costs one loop turn. While `concurrency` batches are in
 * flight, new items queue and leave together as the next batch. The queue is bounded: past `maxQueued` callers
 * get UNAVAILABLE at once rather than waiting behind an unbounded backlog.
 *
 * If a batch fails with anything but UNAVAILABLE, its items are retried one by one so a single bad
 * item cannot fail the others.
 */
export class WriteBatcher<I, O> {
  /**
   * Waiting items by key (all under one key without `keyOf`), each list in push order, keys in the
   * order they first queued: a batch is gathered per key, so a long backlog of one busy key is
   * skipped in one step rather than item by item.
   */
  private readonly waiting = new Map<string, Pending<I, O>[]>();
  private queued = 0;
  private inFlight = 0;
  private readonly maxBatchSize: number;
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private idleWaiters: (() => void)[] = [];
  private pumpScheduled = false;
  private readonly keyOf: ((item: I) => string) | undefined;
  /** Keys with a batch in flight, each with its last item in that batch (only with `keyOf`). */
  private readonly busyKeys = new Map<string, Pending<I, O>>();

  constructor(
    private readonly write: (items: I[]) => Promise<O[]>,
    options: WriteBatcherOptions = {},
    internals: WriteBatcherInternals<I> = {},
  ) {
    this.maxBatchSize = options.maxBatchSize ?? 128;
    this.concurrency = options.concurrency ?? 2;
    this.maxQueued = options.maxQueued ?? 10_000;
    this.keyOf = internals.keyOf;
  }

  push(item: I): Promise<O> {
    if (this.queued >= this.maxQueued) {
      return Promise.reject(new ChatError('UNAVAILABLE', 'Server busy: too many writes queued; try again shortly'));
    }
    return new Promise<O>((resolve, reject) => {
      // Stryker disable next-line StringLiteral: without keyOf every item shares one key, whatever it is
      const key = this.keyOf ? this.keyOf(item) : '';
      let list = this.waiting.get(key);
      if (list === undefined) this.waiting.set(key, (list = []));
      list.push({ item, resolve, reject });
      this.queued++;
      // Stryker disable next-line ConditionalExpression: a second scheduled pump finds nothing left to take
      if (!this.pumpScheduled) {
        this.pumpScheduled = true;
        setImmediate(() => {
          this.pumpScheduled = false;
          this.pump();
        });
      }
    });
  }

  /**
   * Resolves once every item of `key` pushed so far has been written or has failed (items pushed
   * later are not waited for). Items of one key are settled in push order, so this waits for the
   * last one only. Without `keyOf` it waits for everything, like {@link drain}.
   */
  whenSettled(key: string): Promise<void> {
    if (!this.keyOf) return this.drain();
    const last = this.waiting.get(key)?.at(-1) ?? this.busyKeys.get(key);
    if (last === undefined) return Promise.resolve();
    return new Promise((resolve) => (last.onSettled ??= []).push(resolve));
  }

  /** Resolves once nothing is queued or in flight. */
  drain(): Promise<void> {
    if (this.inFlight === 0 && this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    // Stryker disable next-line ConditionalExpression,EqualityOperator: with nothing queued, take() returns an empty batch and the loop ends there
    while (this.inFlight < this.concurrency && this.queued > 0) {
      const { batch, keys } = this.take();
      if (batch.length === 0) return; // every queued key has a batch in flight
      this.inFlight++;
      void this.run(batch, keys);
    }
  }

  /** A batch is done with its slot (and its keys): the next one can leave. */
  private release(keys: readonly string[]): void {
    this.inFlight--;
    for (const key of keys) this.busyKeys.delete(key);
    this.pump();
  }

  /** The next batch: the oldest items of each key that has no batch in flight, up to maxBatchSize. */
  private take(): { batch: Pending<I, O>[]; keys: string[] } {
    const batch: Pending<I, O>[] = [];
    // Stryker disable next-line ArrayDeclaration: a key that was never busy is deleted from busyKeys as a no-op
    const keys: string[] = [];
    for (const [key, list] of this.waiting) {
      if (this.keyOf && this.busyKeys.has(key)) continue;
      const room = this.maxBatchSize - batch.length;
      if (list.length <= room) {
        for (const p of list) batch.push(p);
        this.waiting.delete(key); // safe while iterating a Map
      } else {
        for (const p of list.splice(0, room)) batch.push(p);
      }
      // Stryker disable next-line ConditionalExpression: without keyOf nothing reads busyKeys
      if (this.keyOf) {
        this.busyKeys.set(key, batch[batch.length - 1]!);
        keys.push(key);
      }
      if (batch.length >= this.maxBatchSize) break;
    }
    this.queued -= batch.length;
    return { batch, keys };
  }

  private async run(batch: Pending<I, O>[], keys: readonly string[]): Promise<void> {
    let results: O[] | null = null;
    let failure: unknown;
    try {
      results = await this.write(batch.map((p) => p.item));
    } catch (error) {
      failure = error;
    }
    if (results !== null) {
      // The next batch leaves before this one's callers hear back: its round trip to the
      // database overlaps the work they do with their results (delivering each message to the
      // session's sockets), instead of waiting behind it. Order is kept: those callers run now,
      // the next batch's only when its own results come back.
      this.release(keys);
      batch.forEach((p, i) => p.resolve(results[i]!));
    } else {
      await this.settleFailed(batch, failure);
      this.release(keys);
    }
    for (const p of batch) if (p.onSettled) for (const notify of p.onSettled) notify();
    if (this.inFlight === 0 && this.queued === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** A failed batch: UNAVAILABLE (or a lone item) fails every item; otherwise each is retried alone, in order. */
  private async settleFailed(batch: Pending<I, O>[], error: unknown): Promise<void> {
    if (batch.length === 1 || (isChatError(error) && error.code === 'UNAVAILABLE')) {
      for (const p of batch) p.reject(error);
      return;
    }
    for (const p of batch) {
      try {
        const [result] = await this.write([p.item]);
        p.resolve(result!);
      } catch (itemError) {
        p.reject(itemError);
      }
    }
  }
}
