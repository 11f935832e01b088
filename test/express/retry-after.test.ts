import { ChatEngine, ChatError, MemoryStorage } from 'parley-chat';
import { chatErrorHandler } from 'parley-chat/express';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { call, expectError, listen, memoryEngine, startChatApp, type ChatApp } from './harness.js';

const apps: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function app(engine: ChatEngine): Promise<ChatApp> {
  const started = await startChatApp({ engine, router: { logger: { error: () => {} } } });
  apps.push(started);
  return started;
}

describe('Retry-After', () => {
  it('a budget just spent says to come back when its window ends, in whole seconds', async () => {
    const limited = await app(await memoryEngine({ rateLimits: { ...NO_RATE_LIMITS, 'message:send': { points: 1, durationMs: 60_000 } } }));
    const dave = await limited.as('dave');
    const room = (await dave.post('/sessions', {})).body.id;
    expect((await dave.post('/messages', { sessionId: room, content: 'one' })).status).toBe(201);
    const reply = await dave.post('/messages', { sessionId: room, content: 'two' });
    expectError(reply, 429, 'RATE_LIMITED');
    expect(Number(reply.headers.get('retry-after'))).toBeGreaterThanOrEqual(55);
    expect(Number(reply.headers.get('retry-after'))).toBeLessThanOrEqual(60);
  });

  it('503 with a retry time rounds it up to whole seconds, at least 1; other statuses carry none', async () => {
    const cases: [ChatError, number, string | null][] = [
      [new ChatError('UNAVAILABLE', 'busy', { retryAfterMs: 1500 }), 503, '2'],
      [new ChatError('UNAVAILABLE', 'busy', { retryAfterMs: 2000 }), 503, '2'],
      [new ChatError('UNAVAILABLE', 'busy', { retryAfterMs: 0 }), 503, '1'],
      [new ChatError('UNAVAILABLE', 'busy'), 503, null],
      [new ChatError('VALIDATION', 'bad', { retryAfterMs: 5000 }), 400, null],
    ];
    for (const [error, status, header] of cases) {
      const host = express();
      host.post('/api/chat/x', (_req, _res, next) => next(error));
      host.use('/api/chat', chatErrorHandler({ logger: { error: () => {} } }));
      const listening = await listen(host);
      apps.push(listening);
      const reply = await call(`${listening.origin}/api/chat`, 'POST', '/x');
      expectError(reply, status, error.code);
      expect(reply.headers.get('retry-after')).toBe(header);
    }
  });

  it('the engine’s retryAfterMs is the time left in the window, not a token millisecond', async () => {
    const engine = new ChatEngine({ storage: new MemoryStorage(), rateLimits: { 'stream:stop': { points: 1, durationMs: 30_000 } } });
    await engine.consumeRateLimit('stream:stop', 'alice');
    const error = await engine.consumeRateLimit('stream:stop', 'alice').catch((e: ChatError) => e);
    expect(error).toMatchObject({ code: 'RATE_LIMITED' });
    expect((error as ChatError).retryAfterMs).toBeGreaterThan(25_000);
    expect((error as ChatError).retryAfterMs).toBeLessThanOrEqual(30_000);
    await engine.close();
  });
});
