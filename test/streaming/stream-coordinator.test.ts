import { ChatEngine, MemoryStorage, ScriptedProvider, type ChatEngineOptions, type StreamStatus } from 'parley-chat';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveStreamOptions } from '../../src/streams/stream-options.js';
import { StreamSlots } from '../../src/streams/stream-slots.js';
import { expectChatError, NO_RATE_LIMITS } from '../support/engine.js';

/** The stream coordinator's rules as the engine's callers meet them: caps, slots, shutdown, defaults. */

const EVERY_STATUS: StreamStatus[] = ['pending', 'streaming', 'completed', 'stopped', 'error'];

const engines: ChatEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

async function setup(options: Partial<ChatEngineOptions> = {}) {
  const storage = new MemoryStorage();
  // Slow answers: every stream started in a test is still running when the test looks.
  const engine = new ChatEngine({ storage, rateLimits: NO_RATE_LIMITS, llm: new ScriptedProvider({ tokensPerSecond: 5 }), ...options });
  engines.push(engine);
  await engine.init();
  const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob', 'carol', 'dave'] });
  return { engine, storage, sessionId: session.id };
}

describe('caps hold for requests arriving together', () => {
  it('one user asking five times at once gets maxStreamsPerUser answers; the rest are refused and store nothing', async () => {
    const { engine, storage, sessionId } = await setup({ maxStreamsPerUser: 2 });
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => engine.requestStream({ sessionId, prompt: `p${i}`, userId: 'alice' })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    for (const r of results.filter((r) => r.status === 'rejected')) expect(r.reason).toMatchObject({ code: 'LIMIT_EXCEEDED' });
    expect(engine.activeStreamCount).toBe(2);
    expect(await storage.listStreams(sessionId, EVERY_STATUS)).toHaveLength(2);
    const prompts = (await engine.getMessageHistory(sessionId, 'alice')).messages.filter((m) => m.role === 'user');
    expect(prompts).toHaveLength(2);
  });

  it('users asking at once get at most maxConcurrentStreams answers on the node', async () => {
    const { engine, storage, sessionId } = await setup({ maxConcurrentStreams: 3 });
    const users = ['alice', 'bob', 'carol', 'dave', 'alice', 'bob'];
    const results = await Promise.allSettled(users.map((userId) => engine.requestStream({ sessionId, prompt: 'x', userId })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    for (const r of results.filter((r) => r.status === 'rejected')) expect(r.reason).toMatchObject({ code: 'LIMIT_EXCEEDED' });
    expect(await storage.listStreams(sessionId, EVERY_STATUS)).toHaveLength(3);
  });

  it('a request refused after the cap check gives its slot back', async () => {
    const { engine, sessionId } = await setup({
      maxStreamsPerUser: 1,
      moderation: { beforeMessage: ({ content }) => (content === 'refuse me' ? { reject: 'no' } : undefined) },
    });
    await expectChatError(engine.requestStream({ sessionId, prompt: 'x', userId: 'alice', agentId: 'nobody' }), 'NOT_FOUND');
    await expectChatError(engine.requestStream({ sessionId, prompt: 'refuse me', userId: 'alice' }), 'VALIDATION');
    await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    expect(engine.activeStreamCount).toBe(1);
  });

  it('a stream that ends gives its slot back', async () => {
    const { engine, sessionId } = await setup({ maxStreamsPerUser: 1 });
    const first = await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    await expectChatError(engine.requestStream({ sessionId, prompt: 'y', userId: 'alice' }), 'LIMIT_EXCEEDED');
    await engine.stopStream(first.streamId, 'alice');
    await engine.requestStream({ sessionId, prompt: 'y', userId: 'alice' });
    expect(engine.activeStreamCount).toBe(1);
  });
});

describe('shutdown', () => {
  it('a request still on its way when close() is called is refused with UNAVAILABLE and starts nothing', async () => {
    let entered!: () => void;
    const inHook = new Promise<void>((resolve) => (entered = resolve));
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    const { engine, storage, sessionId } = await setup({
      moderation: {
        beforeMessage: async () => {
          entered();
          await gate;
        },
      },
    });
    const asked = engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    await inHook;
    const closed = engine.close();
    letGo();
    await expectChatError(asked, 'UNAVAILABLE');
    await closed;
    expect(engine.activeStreamCount).toBe(0);
    expect(await storage.listStreams(sessionId, EVERY_STATUS)).toEqual([]);
  });
});

describe('StreamSlots', () => {
  it('counts per user and per node, and a release frees its slot once however often it is called', () => {
    const slots = new StreamSlots(3, 2);
    const a1 = slots.take('alice');
    slots.take('alice');
    expect(() => slots.take('alice')).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED' }));
    slots.take('bob');
    expect(() => slots.take('carol')).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED' }));
    a1();
    a1();
    expect(slots.size).toBe(2);
    slots.take('carol');
    expect(() => slots.take('alice')).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED' }));
    expect(slots.size).toBe(3);
  });
});

describe('resolveStreamOptions', () => {
  it('applies the documented defaults', () => {
    const resolved = resolveStreamOptions({});
    expect(resolved).toMatchObject({
      llm: null,
      delayMs: 50,
      flushIntervalMs: 1000,
      maxConcurrentStreams: 10,
      maxStreamsPerUser: 3,
      contextMessages: 20,
      maxAnswerChars: 32_000,
      allowedModels: null,
      retry: { attempts: 3, baseDelayMs: 1000, maxTotalMs: 10_000 },
      leaseMs: 30_000,
      lease: { heartbeatMs: 3000, freshMs: 6000, sweepMs: 10_000 },
    });
    expect(resolved.nodeId).toMatch(/^.+:\d+:[0-9a-f]{8}$/);
  });

  it('keeps what is given, merges a partial retry over the defaults, and turns the lease off at 0', () => {
    const resolved = resolveStreamOptions({ streamDelayMs: 0, contextMessages: 0, streamRetry: { attempts: 1 }, streamLeaseMs: 0, nodeId: 'n1', allowedModels: ['m'] });
    expect(resolved).toMatchObject({ delayMs: 0, contextMessages: 0, retry: { attempts: 1, baseDelayMs: 1000, maxTotalMs: 10_000 }, leaseMs: 0, lease: null, nodeId: 'n1', allowedModels: ['m'] });
  });
});
