import { ChatEngine, ScriptedProvider, type ChatEngineOptions, type Message, type StorageAdapter } from 'parley-chat';
import { afterEach, describe, expect, it } from 'vitest';
import { SendOrder } from '../../src/send-order.js';
import { expectChatError, NO_RATE_LIMITS } from '../support/engine.js';
import { testStorages } from '../support/storages.js';

/**
 * One user's sends into one session are stored in the order the engine received them, whatever
 * each send's preparation costs (a reply's parent lookup, a moderation hook), without holding up
 * anyone else.
 */
const storages = await testStorages('send-order');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise with its resolve function. */
function signal(): { promise: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => (fire = resolve));
  return { promise, fire };
}

const engines: ChatEngine[] = [];
/** Each engine's storage, read directly to see what was stored. */
const storageOf = new WeakMap<ChatEngine, StorageAdapter>();
afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
});

for (const { name, create, skip } of storages) {
  describe.skipIf(skip !== undefined)(`one user's sends into one session on ${name}${skip ? ` (${skip})` : ''}`, () => {
    async function start(options: Partial<ChatEngineOptions> = {}) {
      const storage = create();
      const engine = new ChatEngine({ storage, rateLimits: NO_RATE_LIMITS, ...options });
      engines.push(engine);
      storageOf.set(engine, storage);
      await engine.init();
      const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
      return { engine, sessionId: session.id };
    }

    /** What the session stores after `afterSeq`, in seq order: replies and top-level messages alike. */
    async function storedContents(engine: ChatEngine, sessionId: string, afterSeq: number): Promise<string[]> {
      return (await storageOf.get(engine)!.getChangesSince(sessionId, afterSeq, 100)).map((m) => m.content);
    }

    it('are stored in call order, whatever the hook latency and with replies among them', async () => {
      // A fixed shuffle of latencies: each send's hook takes a different time, as a remote check would.
      const latencies = [9, 2, 7, 0, 5, 1, 8, 3, 6, 4];
      const { engine, sessionId } = await start({
        moderation: {
          beforeMessage: async ({ content }) => {
            const n = /^send (\d+)$/.exec(content)?.[1];
            if (n !== undefined) await sleep(latencies[Number(n)]! * 2);
          },
        },
      });
      const root = await engine.createMessage({ sessionId, userId: 'alice', content: 'root' });
      const sends = latencies.map((_, i) =>
        engine.createMessage({ sessionId, userId: 'alice', content: `send ${i}`, ...(i % 3 === 1 && { parentMessageId: root.id }) }),
      );
      const messages = await Promise.all(sends);
      const expected = latencies.map((_, i) => `send ${i}`);
      expect(messages.map((m) => m.content)).toEqual(expected);
      for (let i = 1; i < messages.length; i++) expect(messages[i]!.seq).toBeGreaterThan(messages[i - 1]!.seq);
      expect(await storedContents(engine, sessionId, root.seq)).toEqual(expected);
    });

    it('are stored in call order without a hook too: replies (which look their parent up) and top-level sends mixed', async () => {
      const { engine, sessionId } = await start();
      const root = await engine.createMessage({ sessionId, userId: 'alice', content: 'root' });
      const expected = Array.from({ length: 10 }, (_, i) => `send ${i}`);
      const messages = await Promise.all(
        expected.map((content, i) => engine.createMessage({ sessionId, userId: 'alice', content, ...(i % 2 === 0 && { parentMessageId: root.id }) })),
      );
      for (let i = 1; i < messages.length; i++) expect(messages[i]!.seq).toBeGreaterThan(messages[i - 1]!.seq);
      expect(await storedContents(engine, sessionId, root.seq)).toEqual(expected);
    });

    it("do not hold up another user's send, nor the same user's send into another session", async () => {
      const bobStored = signal();
      const otherSessionStored = signal();
      const { engine, sessionId } = await start({
        moderation: {
          // Alice's first send completes its check only once the others have been stored: if they
          // waited behind it, nothing would ever be stored.
          beforeMessage: async ({ content }) => {
            if (content === 'slow') await Promise.all([bobStored.promise, otherSessionStored.promise]);
          },
        },
      });
      const other = await engine.createSession({ createdBy: 'alice' });
      engine.on('message.created', ({ message }) => {
        if (message.userId === 'bob') bobStored.fire();
        if (message.sessionId === other.id) otherSessionStored.fire();
      });
      const slow = engine.createMessage({ sessionId, userId: 'alice', content: 'slow' });
      const behind = engine.createMessage({ sessionId, userId: 'alice', content: 'behind it' });
      const bob = engine.createMessage({ sessionId, userId: 'bob', content: 'from bob' });
      const elsewhere = engine.createMessage({ sessionId: other.id, userId: 'alice', content: 'elsewhere' });
      const [first, second, fromBob] = await Promise.all([slow, behind, bob, elsewhere]);
      expect(fromBob!.seq).toBeLessThan(first!.seq);
      expect(first!.seq).toBeLessThan(second!.seq);
    });

    it('a send that fails its preparation gives its turn up at once: the next one is stored after those before it', async () => {
      const badRefused = signal();
      const { engine, sessionId } = await start({
        moderation: {
          beforeMessage: async ({ content }) => {
            if (content === 'bad') return { reject: 'not this one' };
            // The first send is still being checked when the bad one has already failed.
            if (content === 'first') await badRefused.promise;
            return undefined;
          },
        },
      });
      const start0 = (await engine.getSession(sessionId)).lastSeq;
      const first = engine.createMessage({ sessionId, userId: 'alice', content: 'first' });
      const bad = engine.createMessage({ sessionId, userId: 'alice', content: 'bad' });
      const third = engine.createMessage({ sessionId, userId: 'alice', content: 'third' });
      const refused = expectChatError(bad, 'VALIDATION').finally(badRefused.fire);
      const [a, c] = await Promise.all([first, third, refused]) as [Message, Message, unknown];
      expect(a.seq).toBeLessThan(c.seq);
      expect(await storedContents(engine, sessionId, start0)).toEqual(['first', 'third']);

      // The first in line failing late: the ones behind it go on, in order.
      const hold = signal();
      const { engine: second, sessionId: s2 } = await start({
        moderation: {
          beforeMessage: async ({ content }) => {
            if (content === 'late failure') {
              await hold.promise;
              throw new Error('the moderation service is down');
            }
            return undefined;
          },
        },
      });
      const failing = expectChatError(second.createMessage({ sessionId: s2, userId: 'alice', content: 'late failure' }), 'INTERNAL');
      const next = second.createMessage({ sessionId: s2, userId: 'alice', content: 'next' });
      const last = second.createMessage({ sessionId: s2, userId: 'alice', content: 'last' });
      hold.fire();
      await failing;
      const [n, l] = await Promise.all([next, last]);
      expect(n.seq).toBeLessThan(l.seq);
    });

    it('a retry with the same clientMessageId still returns the first message', async () => {
      const { engine, sessionId } = await start();
      const send = () => engine.createMessage({ sessionId, userId: 'alice', content: 'once', clientMessageId: 'c-1' });
      const [a, b] = await Promise.all([send(), send()]);
      const c = await send();
      expect(b.id).toBe(a.id);
      expect(c.id).toBe(a.id);
      expect(await storedContents(engine, sessionId, 0)).toEqual(['once']);
    });

    it("a stream request's prompt keeps its place: after the user's earlier sends, which the model sees, and before the later ones", async () => {
      const promptChecked = signal();
      const contexts: string[][] = [];
      const { engine, sessionId } = await start({
        llm: new ScriptedProvider({
          tokensPerSecond: 0,
          reply: (request) => {
            contexts.push(request.messages.map((m) => m.content));
            return 'Your name is Ada.';
          },
        }),
        moderation: {
          beforeMessage: async ({ content }) => {
            // The earlier send is still being checked when the prompt is ready to be stored.
            if (content === 'My name is Ada.') await promptChecked.promise;
            if (content === 'What is my name?') promptChecked.fire();
          },
        },
      });
      const completed = new Promise((resolve) => engine.once('stream.completed', resolve));
      const earlier = engine.createMessage({ sessionId, userId: 'alice', content: 'My name is Ada.' });
      const stream = engine.requestStream({ sessionId, userId: 'alice', prompt: 'What is my name?' });
      const later = engine.createMessage({ sessionId, userId: 'alice', content: 'Thanks!' });
      const [before, started, after] = await Promise.all([earlier, stream, later]);
      const prompt = await engine.getMessage(started.promptMessageId);
      expect(before.seq).toBeLessThan(prompt.seq);
      expect(prompt.seq).toBeLessThan(after.seq);
      await completed;
      expect(contexts).toEqual([['My name is Ada.', 'What is my name?']]);
    });
  });
}

describe('SendOrder', () => {
  it('an uncontended send is next at once and leaves nothing behind', () => {
    const order = new SendOrder();
    const turn = order.take('s', 'alice');
    expect(turn.isNext).toBe(true);
    turn.release();
    turn.release(); // idempotent
    expect(order.size).toBe(0);
  });

  it('a turn is next once every earlier one is released, whatever order they are released in', async () => {
    const order = new SendOrder();
    const [a, b, c] = [order.take('s', 'alice'), order.take('s', 'alice'), order.take('s', 'alice')];
    expect([a.isNext, b.isNext, c.isNext]).toEqual([true, false, false]);
    const woken: string[] = [];
    void b.wait().then(() => woken.push('b'));
    void c.wait().then(() => woken.push('c'));
    b.release(); // failed while a was still preparing: c now waits for a alone
    await Promise.resolve();
    expect(c.isNext).toBe(false);
    expect(woken).toEqual([]);
    a.release();
    await Promise.resolve();
    expect(c.isNext).toBe(true);
    expect(woken).toEqual(['c']);
    c.release();
    expect(order.size).toBe(0);
  });

  it('a send taken after the newest turn failed still waits for the earlier ones', async () => {
    const order = new SendOrder();
    const [a, b, c] = [order.take('s', 'alice'), order.take('s', 'alice'), order.take('s', 'alice')];
    c.release(); // the newest send failed while a and b were still preparing
    const d = order.take('s', 'alice');
    expect(d.isNext).toBe(false);
    let woken = false;
    void d.wait().then(() => (woken = true));
    a.release();
    b.release();
    await Promise.resolve();
    expect(woken).toBe(true);
    d.release();
    expect(order.size).toBe(0);
  });

  it('wait() on a turn that is already next resolves at once', async () => {
    const order = new SendOrder();
    const turn = order.take('s', 'alice');
    let resolved = false;
    void turn.wait().then(() => (resolved = true));
    await Promise.resolve();
    expect(resolved).toBe(true);
  });

  it('releasing a turn again, after the turns around it went, changes nothing', () => {
    const order = new SendOrder();
    const [a, b] = [order.take('s', 'alice'), order.take('s', 'alice')];
    b.release();
    a.release();
    b.release(); // a send's cleanup may release twice
    expect(order.size).toBe(0);
    expect(order.take('s', 'alice').isNext).toBe(true);
  });

  it('lines are per user and session', () => {
    const order = new SendOrder();
    const turns = [order.take('s1', 'alice'), order.take('s1', 'bob'), order.take('s2', 'alice')];
    expect(turns.map((t) => t.isNext)).toEqual([true, true, true]);
    expect(order.size).toBe(3);
    for (const t of turns) t.release();
    expect(order.size).toBe(0);
  });

  it('keeps no state for idle lines, whichever turn is released last', () => {
    const order = new SendOrder();
    for (let round = 0; round < 100; round++) {
      const turns = Array.from({ length: 5 }, () => order.take(`s${round}`, 'alice'));
      const releaseOrder = [3, 0, 4, 1, 2].map((i) => turns[(i + round) % 5]!);
      for (const t of releaseOrder) t.release();
    }
    expect(order.size).toBe(0);
  });
});
