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
