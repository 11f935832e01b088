import { ChatEngine, ChatError, MemoryStorage, type RateLimiterStoreOptions } from 'parley-chat';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { describe, expect, it } from 'vitest';
import { expectChatError } from '../support/engine.js';

describe('rate limits (one budget per user per action)', () => {
  it('the 31st send in a minute is refused with retryAfterMs; other users and actions are unaffected', async () => {
    const engine = new ChatEngine({ storage: new MemoryStorage() });
    const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] }, { trusted: true });
    for (let i = 0; i < 30; i++) await engine.createMessage({ sessionId: session.id, userId: 'alice', content: `m${i}` });
    const error = await expectChatError(engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'one too many' }), 'RATE_LIMITED');
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(error.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(error.toJSON()).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: error.retryAfterMs });
    await expect(engine.createMessage({ sessionId: session.id, userId: 'bob', content: 'still fine' })).resolves.toBeDefined();
    const history = await engine.getMessageHistory(session.id, 'alice', { limit: 100 });
    expect(history.total).toBe(31);
    // edits have their own budget
    await expect(engine.editMessage(history.messages[0]!.id, 'edited', 'alice')).resolves.toBeDefined();
  });

  it('uses configured budgets and the default budget for other actions', async () => {
    const engine = new ChatEngine({
      storage: new MemoryStorage(),
      rateLimits: { default: { points: 2, durationMs: 60_000 } },
    });
    const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] }, { trusted: true });
    const message = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'hi' });
    await engine.toggleReaction(message.id, 'bob', '👍');
    await engine.toggleReaction(message.id, 'bob', '👍');
    await expectChatError(engine.toggleReaction(message.id, 'bob', '👍'), 'RATE_LIMITED');
  });

  it('session:join is counted per session (5 per session per minute)', async () => {
    const engine = new ChatEngine({ storage: new MemoryStorage() });
    for (let i = 0; i < 5; i++) await engine.consumeRateLimit('session:join', 'alice', 's1');
    await expectChatError(engine.consumeRateLimit('session:join', 'alice', 's1'), 'RATE_LIMITED');
    await expect(engine.consumeRateLimit('session:join', 'alice', 's2')).resolves.toBeUndefined();
  });

  it('counters live in the pluggable store (e.g. Redis in a cluster)', async () => {
    const created: RateLimiterStoreOptions[] = [];
    const engine = new ChatEngine({
      storage: new MemoryStorage(),
      rateLimitStore: (options) => {
        created.push(options);
        return new RateLimiterMemory(options);
      },
    });
    await engine.consumeRateLimit('message:send', 'alice');
    expect(created).toEqual([{ keyPrefix: 'parley:message:send', points: 30, duration: 60 }]);
  });

  it('a store that fails surfaces as UNAVAILABLE, not as a crash', async () => {
    const engine = new ChatEngine({
      storage: new MemoryStorage(),
      rateLimitStore: (options) => {
        const limiter = new RateLimiterMemory(options);
        limiter.consume = () => Promise.reject(new Error('redis down'));
        return limiter;
      },
    });
    const error = await expectChatError(engine.consumeRateLimit('message:send', 'alice'), 'UNAVAILABLE');
    expect(error).toBeInstanceOf(ChatError);
  });
});
