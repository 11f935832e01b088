import { ChatEngine, ChatError, configFromEnv, MemoryStorage } from 'parley-chat';
import { describe, expect, it } from 'vitest';

describe('configFromEnv', () => {
  it('has the documented defaults', () => {
    const config = configFromEnv({});
    expect(config).toMatchObject({ port: 3000, corsOrigin: '*', streamDelayMs: 50, maxConcurrentStreams: 10 });
    expect(config.rateLimits.default).toEqual({ points: 10, durationMs: 60_000 });
    expect(config.rateLimits['message:send']).toEqual({ points: 30, durationMs: 60_000 });
  });

  it('reads every documented variable', () => {
    const config = configFromEnv({
      WEBSOCKET_PORT: '4000',
      CORS_ORIGIN: 'https://a.example, https://b.example',
      WS_THROTTLE_TTL: '30000',
      WS_THROTTLE_LIMIT: '7',
      STREAM_DELAY: '20',
      MAX_CONCURRENT_STREAMS: '3',
      JWT_SECRET: 's'.repeat(32),
    });
    expect(config).toMatchObject({
      port: 4000,
      corsOrigin: ['https://a.example', 'https://b.example'],
      rateLimits: { default: { points: 7, durationMs: 30_000 } },
      streamDelayMs: 20,
      maxConcurrentStreams: 3,
      jwtSecret: 's'.repeat(32),
    });
  });

  it.each([
    ['WEBSOCKET_PORT', 'abc'],
    ['WEBSOCKET_PORT', '70000'],
    ['WS_THROTTLE_LIMIT', '-1'],
    ['WS_THROTTLE_TTL', '0'],
    ['STREAM_DELAY', '1.5'],
    ['MAX_CONCURRENT_STREAMS', '0'],
    ['JWT_SECRET', 'short'],
  ])('a bad %s (%s) stops start-up with a message naming it', (name, value) => {
    let error: unknown;
    try {
      configFromEnv({ [name]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ChatError);
    expect((error as ChatError).code).toBe('VALIDATION');
    expect((error as ChatError).message).toContain(name);
  });

  it('spreads into ChatEngine unchanged, and WS_THROTTLE_LIMIT becomes the default budget', async () => {
    const engine = new ChatEngine({ storage: new MemoryStorage(), ...configFromEnv({ WS_THROTTLE_LIMIT: '1' }) });
    const session = await engine.createSession({ createdBy: 'alice' });
    const message = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'hi' });
    await engine.toggleReaction(message.id, 'alice', '👍');
    await expect(engine.toggleReaction(message.id, 'alice', '👍')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });
});
