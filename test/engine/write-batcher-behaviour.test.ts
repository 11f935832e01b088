import { ChatEngine, ChatError, MemoryStorage } from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { WriteBatcher } from '../../src/write-batcher.js';
import { NO_RATE_LIMITS } from '../support/engine.js';

type NewMessages = Parameters<MemoryStorage['insertMessages']>[0];

/** Memory storage whose inserts take `delayMs` and are recorded (the sessions of each storage call). */
class SlowStorage extends MemoryStorage {
  readonly inserts: string[][] = [];
  closedAfterInserts: number | null = null;
  constructor(private readonly delayMs: number) {
    super();
  }
  override async insertMessages(batch: NewMessages) {
    this.inserts.push(batch.map((m) => m.sessionId));
    await new Promise((r) => setTimeout(r, this.delayMs));
    return super.insertMessages(batch);
  }
  override async close() {
    this.closedAfterInserts = this.inserts.length;
    await super.close();
  }
}

async function engineOn(storage: MemoryStorage, writeBatching = {}) {
  const engine = new ChatEngine({ storage, rateLimits: NO_RATE_LIMITS, writeBatching });
  await engine.init();
  const sessions = [];
  for (const id of ['s1', 's2', 's3']) sessions.push((await engine.createSession({ id, createdBy: 'alice' })).id);
  return { engine, sessions };
}

describe('group commit through the engine', () => {
  it('sends into several sessions made at once are stored in one storage call', async () => {
    const storage = new SlowStorage(5);
    const { engine, sessions } = await engineOn(storage);
    await Promise.all(sessions.map((sessionId) => engine.createMessage({ sessionId, userId: 'alice', content: 'hi' })));
    expect(storage.inserts).toEqual([['s1', 's2', 's3']]);
    await engine.close();
  });

  it('close() with sends in flight waits for them to be stored, then closes the storage', async () => {
    const storage = new SlowStorage(30);
    const { engine, sessions } = await engineOn(storage, { concurrency: 1 });
    const sends = sessions.flatMap((sessionId) => [1, 2].map((n) => engine.createMessage({ sessionId, userId: 'alice', content: `m${n}` })));
    await new Promise((r) => setTimeout(r, 10)); // the first batch is in flight
    await engine.close();
    const settled = await Promise.allSettled(sends);
    expect(settled.map((s) => s.status)).toEqual(Array(6).fill('fulfilled'));
    expect(storage.closedAfterInserts).toBe(storage.inserts.length);
  });
});

/** A batcher over a fake storage call that records each batch and fails the batches `fails` picks. */
function recording(options: ConstructorParameters<typeof WriteBatcher>[1], fails: (items: string[]) => unknown = () => null, delayMs = 2) {
  const calls: string[][] = [];
  const batcher = new WriteBatcher<string, string>(
    async (items) => {
      calls.push(items);
      await new Promise((r) => setTimeout(r, delayMs));
      const error = fails(items);
      if (error) throw error;
      return items.map((i) => i.toUpperCase());
    },
    options,
    { keyOf: (item) => item[0]! },
  );
  return { batcher, calls };
}

describe('WriteBatcher limits and failures', () => {
  it('gathers several keys into one batch, never more than maxBatchSize items', async () => {
    const { batcher, calls } = recording({ concurrency: 1, maxBatchSize: 3 });
    const results = await Promise.all(['a0', 'a1', 'b0', 'b1', 'c0', 'c1', 'c2'].map((i) => batcher.push(i)));
    expect(results).toEqual(['A0', 'A1', 'B0', 'B1', 'C0', 'C1', 'C2']);
    expect(calls).toEqual([['a0', 'a1', 'b0'], ['b1', 'c0', 'c1'], ['c2']]);
  });

  it('a batch of exactly maxBatchSize items leaves whole', async () => {
    const { batcher, calls } = recording({ concurrency: 1, maxBatchSize: 3 });
    await Promise.all(['a0', 'a1', 'a2', 'b0'].map((i) => batcher.push(i)));
    expect(calls).toEqual([['a0', 'a1', 'a2'], ['b0']]);
  });

  it('a lone write that fails is not sent again', async () => {
    const { batcher, calls } = recording({}, () => new Error('constraint violated'));
    await expect(batcher.push('a0')).rejects.toThrow('constraint violated');
    expect(calls).toEqual([['a0']]);
  });

  it('a failed batch is retried item by item, in order, and only the bad item fails', async () => {
    const { batcher, calls } = recording({ concurrency: 1 }, (items) => items.includes('b0') && new Error('bad item'));
    const settled = await Promise.allSettled(['a0', 'b0', 'c0'].map((i) => batcher.push(i)));
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual(['A0', 'bad item', 'C0']);
    expect(calls).toEqual([['a0', 'b0', 'c0'], ['a0'], ['b0'], ['c0']]);
  });

  it('an outage (UNAVAILABLE) fails the whole batch at once, each caller with that error', async () => {
    const outage = new ChatError('UNAVAILABLE', 'db down');
    const { batcher, calls } = recording({ concurrency: 1 }, () => outage);
    const settled = await Promise.allSettled(['a0', 'b0'].map((i) => batcher.push(i)));
    expect(settled).toEqual([
      { status: 'rejected', reason: outage },
      { status: 'rejected', reason: outage },
    ]);
    expect(calls).toHaveLength(1);
  });

  it('drain() resolves at once when idle, and otherwise only once retries are done too', async () => {
    const { batcher, calls } = recording({ concurrency: 1 }, (items) => items.length > 1 && new Error('batch failed'), 10);
    expect(await Promise.race([batcher.drain().then(() => 'at once'), new Promise((r) => setImmediate(() => r('later')))])).toBe('at once');
    const pushed = ['a0', 'b0'].map((i) => batcher.push(i));
    await new Promise((r) => setImmediate(r));
    await batcher.drain();
    expect(calls).toEqual([['a0', 'b0'], ['a0'], ['b0']]);
    expect(await Promise.all(pushed)).toEqual(['A0', 'B0']);
  });

  it('drain() waits for items still queued behind a full slot', async () => {
    const { batcher, calls } = recording({ concurrency: 1, maxBatchSize: 1 }, () => null, 5);
    const pushed = ['a0', 'b0', 'c0'].map((i) => batcher.push(i));
    await new Promise((r) => setImmediate(r));
    await batcher.drain();
    expect(calls).toHaveLength(3);
    await Promise.all(pushed);
  });
});

describe('WriteBatcher waiting', () => {
  it('refuses past maxQueued with a message that says why', async () => {
    const { batcher } = recording({ maxQueued: 1 });
    const first = batcher.push('a0');
    await expect(batcher.push('a1')).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'Server busy: too many writes queued; try again shortly' });
    await first;
  });

  it('drain() right after a push (same turn) waits for that write', async () => {
    const { batcher, calls } = recording({}, () => null, 5);
    const pushed = batcher.push('a0');
    await batcher.drain();
    expect(calls).toEqual([['a0']]);
    await pushed;
  });

  it('drain() waits for every batch in flight, not only the first to finish', async () => {
    const finished: string[] = [];
    const batcher = new WriteBatcher<string, string>(
      async (items) => {
        await new Promise((r) => setTimeout(r, items[0] === 'slow' ? 60 : 5));
        finished.push(items[0]!);
        return items;
      },
      { concurrency: 2, maxBatchSize: 1 },
      { keyOf: (item) => item },
    );
    const pushed = [batcher.push('slow'), batcher.push('fast')];
    await new Promise((r) => setImmediate(r));
    await batcher.drain();
    expect(finished).toEqual(['fast', 'slow']);
    await Promise.all(pushed);
  });

  it('whenSettled(key) waits for a batch of that key in flight, with nothing of it queued', async () => {
    const { batcher } = recording({}, () => null, 20);
    let settled = false;
    void batcher.push('a0').then(() => (settled = true));
    await new Promise((r) => setImmediate(r)); // a0 in flight
    await batcher.whenSettled('a');
    expect(settled).toBe(true);
  });

  it('without keys, whenSettled waits for everything, in flight included', async () => {
    const batches: string[][] = [];
    const batcher = new WriteBatcher<string, string>(async (items) => {
      batches.push(items);
      await new Promise((r) => setTimeout(r, 20));
      return items;
    });
    let settled = false;
    void batcher.push('x').then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    await batcher.whenSettled('anything');
    expect(settled).toBe(true);
  });

  it('a failed batch is retried item by item for any failure but an outage, a ChatError included', async () => {
    const { batcher, calls } = recording({ concurrency: 1 }, (items) => items.length > 1 && new ChatError('VALIDATION', 'one of them is bad'));
    expect(await Promise.all(['a0', 'b0'].map((i) => batcher.push(i)))).toEqual(['A0', 'B0']);
    expect(calls).toEqual([['a0', 'b0'], ['a0'], ['b0']]);
  });
});
