import { ChatEngine, MemoryStorage, type RateLimitConfig, type RateLimiterStoreOptions } from 'parley-chat';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { afterEach, describe, expect, it } from 'vitest';
import { expectChatError } from '../support/engine.js';

const engines: ChatEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

function engineWith(options: { rateLimits?: RateLimitConfig; rateLimitKeyPrefix?: string; created?: RateLimiterStoreOptions[] } = {}) {
  const engine = new ChatEngine({
    storage: new MemoryStorage(),
    ...(options.rateLimits && { rateLimits: options.rateLimits }),
    ...(options.rateLimitKeyPrefix !== undefined && { rateLimitKeyPrefix: options.rateLimitKeyPrefix }),
    ...(options.created && {
      rateLimitStore: (store: RateLimiterStoreOptions) => (options.created!.push(store), new RateLimiterMemory(store)),
    }),
  });
  engines.push(engine);
  return engine;
}

/** Spends `points` of alice's budget for `action`, then expects the next one refused. */
async function spend(engine: ChatEngine, action: string, points: number) {
  for (let i = 0; i < points; i++) await engine.consumeRateLimit(action, 'alice');
  const error = await expectChatError(engine.consumeRateLimit(action, 'alice'), 'RATE_LIMITED');
  expect(error.details).toEqual({ action, limit: points, windowMs: 60_000 });
  expect(error.message).toBe(`Too many ${action} requests; try again later`);
}

// The default budgets per user per minute, as docs/protocol.md and docs/security.md list them.
const DOCUMENTED: [string, number][] = [
  ['session:join', 5],
  ['message:send', 30],
  ['message:edit', 20],
  ['typing:start', 100],
  ['stream:request', 10],
  ['message:seen', 120],
  ['typing:stop', 100],
  ['session:leave', 30],
  ['handshake', 30],
  ['auth:refresh', 30],
  ['message:reaction', 10],
  ['any other action', 10],
];

describe('default rate limits', () => {
  for (const [action, points] of DOCUMENTED) {
    it(`${action}: ${points} a minute`, async () => {
      await spend(engineWith(), action, points);
    });
  }

  it('a configured budget replaces only its own action; the default stays for the rest', async () => {
    const engine = engineWith({ rateLimits: { 'message:seen': { points: 2, durationMs: 60_000 } } });
    await spend(engine, 'message:seen', 2);
    await spend(engine, 'typing:stop', 100);
  });

  it('a default configured as nothing falls back to the built-in default', async () => {
    await spend(engineWith({ rateLimits: { default: undefined } }), 'message:reaction', 10);
  });

  it('0 points turns the limit off for that action', async () => {
    const engine = engineWith({ rateLimits: { 'message:send': { points: 0, durationMs: 60_000 } } });
    for (let i = 0; i < 200; i++) await engine.consumeRateLimit('message:send', 'alice');
  });

  it('counters are keyed `<prefix>:<action>`, one limiter per action, made when first used', async () => {
    const created: RateLimiterStoreOptions[] = [];
    const engine = engineWith({ rateLimitKeyPrefix: 'app-2', created, rateLimits: { 'typing:stop': { points: 50, durationMs: 1500 } } });
    await engine.consumeRateLimit('typing:stop', 'alice');
    await engine.consumeRateLimit('typing:stop', 'bob');
    await engine.consumeRateLimit('session:join', 'alice', 's1');
    expect(created).toEqual([
      { keyPrefix: 'app-2:typing:stop', points: 50, duration: 1.5 },
      { keyPrefix: 'app-2:session:join', points: 5, duration: 60 },
    ]);
  });

  it('a scoped budget (per session) is apart from the unscoped one of the same user', async () => {
    const engine = engineWith({ rateLimits: { 'session:join': { points: 1, durationMs: 60_000 } } });
    await engine.consumeRateLimit('session:join', 'alice', 's1');
    await engine.consumeRateLimit('session:join', 'alice');
    await engine.consumeRateLimit('session:join', 'alice', 's2');
    await expectChatError(engine.consumeRateLimit('session:join', 'alice', 's1'), 'RATE_LIMITED');
    await expectChatError(engine.consumeRateLimit('session:join', 'alice'), 'RATE_LIMITED');
  });

  it('a store that cannot be reached is UNAVAILABLE, with the store’s error as the cause', async () => {
    const down = new Error('redis down');
    const engine = new ChatEngine({
      storage: new MemoryStorage(),
      rateLimitStore: (options) => Object.assign(new RateLimiterMemory(options), { consume: () => Promise.reject(down) }),
    });
    engines.push(engine);
    const error = await expectChatError(engine.consumeRateLimit('message:send', 'alice'), 'UNAVAILABLE');
    expect(error.message).toBe('Rate limit store unavailable');
    expect(error.cause).toBe(down);
  });
});
