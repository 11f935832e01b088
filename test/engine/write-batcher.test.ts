import { ChatError } from 'parley-chat';
import { WriteBatcher } from '../../src/write-batcher.js';
import { describe, expect, it } from 'vitest';

describe('WriteBatcher (group commit)', () => {
  it('groups what is pushed in one loop turn, and what arrives while a batch is in flight', async () => {
    const batches: number[][] = [];
    const batcher = new WriteBatcher<number, number>(
      async (items) => {
        batches.push(items);
        await new Promise((r) => setTimeout(r, 5));
        return items.map((i) => i * 2);
      },
      { concurrency: 1, maxBatchSize: 50 },
    );
    const results = await Promise.all(Array.from({ length: 101 }, (_, i) => batcher.push(i)));
    expect(results).toEqual(Array.from({ length: 101 }, (_, i) => i * 2));
    expect(batches.map((b) => b.length)).toEqual([50, 50, 1]);

    // Pushed one at a time (each in its own turn) while a batch is in flight: they wait and leave together.
    batches.length = 0;
    const first = batcher.push(1000);
    await new Promise((r) => setImmediate(r));
    const later = [];
    for (let i = 0; i < 5; i++) {
      later.push(batcher.push(i));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all([first, ...later]);
    expect(batches.map((b) => b.length)).toEqual([1, 5]);
  });

  it("the next batch leaves before the previous batch's callers hear back (its round trip overlaps their work), in order", async () => {
    const started: number[][] = [];
    const releases: (() => void)[] = [];
    const batcher = new WriteBatcher<number, number>(
      (items) => {
        started.push(items);
        return new Promise((resolve) => releases.push(() => resolve(items)));
      },
      { concurrency: 1 },
    );
    const seen: string[] = [];
    const first = batcher.push(1).then((v) => seen.push(`result ${v}; batches started: ${started.length}`));
    await new Promise((r) => setImmediate(r));
    const second = batcher.push(2).then((v) => seen.push(`result ${v}; batches started: ${started.length}`));
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([[1]]); // one slot: 2 waits
    releases[0]!();
    await first;
    // When 1's caller ran, 2's batch had already left.
    expect(seen).toEqual(['result 1; batches started: 2']);
    releases[1]!();
    await second;
    expect(seen).toEqual(['result 1; batches started: 2', 'result 2; batches started: 2']);
    await batcher.drain();
  });

  it('a synchronous storage still gets batches: the items of one loop turn commit together', async () => {
    const batches: number[][] = [];
    const batcher = new WriteBatcher<number, number>((items) => {
      batches.push(items);
      return Promise.resolve(items); // finishes before anything else can queue, like better-sqlite3
    });
    await Promise.all(Array.from({ length: 40 }, (_, i) => batcher.push(i)));
    expect(batches.map((b) => b.length)).toEqual([40]);
  });

  it('never has two batches of one key in flight, while other keys use the free slot, each key in order', async () => {
    type Item = { key: string; n: number };
    const inFlightKeys = new Map<string, number>();
    let overlap = 0;
    const batches: string[][] = [];
    const batcher = new WriteBatcher<Item, Item>(
      async (items) => {
        const keys = [...new Set(items.map((i) => i.key))];
        for (const k of keys) {
          if (inFlightKeys.get(k)) overlap++;
          inFlightKeys.set(k, (inFlightKeys.get(k) ?? 0) + 1);
        }
        batches.push(items.map((i) => `${i.key}${i.n}`));
        await new Promise((r) => setTimeout(r, 5));
        for (const k of keys) inFlightKeys.set(k, inFlightKeys.get(k)! - 1);
        return items;
      },
      { concurrency: 2, maxBatchSize: 3 },
      { keyOf: (item) => item.key },
    );
    const done: string[] = [];
    const push = (key: string, n: number) => batcher.push({ key, n }).then((i) => done.push(`${i.key}${i.n}`));
    // Seven of session a, then one of session b, all in one turn.
    await Promise.all([...Array.from({ length: 7 }, (_, n) => push('a', n)), push('b', 0)]);
    expect(overlap).toBe(0);
    // Without keys the second slot would take a3-a5 and wait on a0-a2's row lock; with them b0 goes at once.
    expect(batches).toEqual([['a0', 'a1', 'a2'], ['b0'], ['a3', 'a4', 'a5'], ['a6']]);
    expect(done.filter((d) => d.startsWith('a'))).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6']);
    await batcher.drain();
  });

  it('a long backlog of one busy key does not hold up another key (nor overflow the call stack)', async () => {
    const seen: string[] = [];
    const batcher = new WriteBatcher<string, string>(
      async (items) => {
        seen.push(items[0]!);
        await new Promise((r) => setImmediate(r));
        return items;
      },
      { concurrency: 2, maxQueued: 300_000 },
      { keyOf: (item) => item },
    );
    const all = [...Array.from({ length: 200_000 }, () => batcher.push('a')), batcher.push('b')];
    await Promise.all(all);
    expect(seen.slice(0, 2)).toEqual(['a', 'b']); // b leaves with the second slot, not after 200,000 a's
    expect(seen.length).toBe(Math.ceil(200_000 / 128) + 1);
  });

  it('refuses with UNAVAILABLE instead of queueing without bound', async () => {
    const batcher = new WriteBatcher<number, number>((items) => new Promise((r) => setTimeout(() => r(items), 20)), {
      concurrency: 1,
      maxQueued: 10,
    });
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => batcher.push(i)));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused.length).toBe(10); // 10 queued for the end of the turn, the rest refused at once
    expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('one bad item fails alone; an outage fails the batch without retries', async () => {
    let calls = 0;
    const batcher = new WriteBatcher<number, number>(
      async (items) => {
        calls++;
        await new Promise((r) => setTimeout(r, 1));
        if (items.includes(13)) throw new Error('bad item');
        return items;
      },
      { concurrency: 1 },
    );
    const results = await Promise.allSettled([batcher.push(1), batcher.push(12), batcher.push(13), batcher.push(14)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);

    calls = 0;
    const down = new WriteBatcher<number, number>(async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 1));
      throw new ChatError('UNAVAILABLE', 'db down');
    }, { concurrency: 1 });
    const outage = await Promise.allSettled([down.push(1), down.push(2), down.push(3)]);
    expect(outage.every((r) => r.status === 'rejected')).toBe(true);
    expect(calls).toBe(1); // [1,2,3] in one batch: no per-item retries during an outage
  });
  it('whenSettled(key) waits for the items of that key pushed so far, queued or in flight, and for nothing else', async () => {
    type Item = { key: string; n: number };
    const releases: (() => void)[] = [];
    const batcher = new WriteBatcher<Item, Item>(
      (items) => new Promise((resolve) => releases.push(() => resolve(items))),
      { concurrency: 2 },
      { keyOf: (item) => item.key },
    );
    const log: string[] = [];
    const push = (key: string, n: number) => void batcher.push({ key, n }).then(() => log.push(`${key}${n}`));
    push('a', 0);
    await new Promise((r) => setImmediate(r)); // a0 in flight
    push('a', 1); // queued behind it
    push('b', 0);
    const settled = batcher.whenSettled('a').then(() => log.push('a settled'));
    push('a', 2); // pushed after the call: not waited for
    expect(await Promise.race([batcher.whenSettled('c').then(() => 'at once'), new Promise((r) => setImmediate(() => r('later')))])).toBe('at once');
    await new Promise((r) => setImmediate(r)); // b0 leaves with the free slot
    releases.shift()!(); // a0 commits; a1 and a2 leave
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['a0']);
    releases.shift()!(); // b0
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['a0', 'b0']);
    releases.shift()!(); // a1 and a2, one batch
    await settled;
    expect(log).toEqual(['a0', 'b0', 'a1', 'a2', 'a settled']);
    await batcher.drain();
  });
});
