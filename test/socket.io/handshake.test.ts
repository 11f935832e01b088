import { SignJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { jwtAuthenticator } from 'parley-chat';
import { attachChat } from 'parley-chat/socket.io';
import { closeAll, SECRET, startChat, tokenFor } from './harness.js';

afterEach(() => {
  vi.restoreAllMocks();
  return closeAll();
});

describe('socket.io binding: handshake', () => {
  it('a valid token connects and gets connection:success { userId, socketId, serverTime }', async () => {
    const f = await startChat();
    const tab = await f.connect('alice');
    const [success] = tab.received.of('connection:success');
    expect(success).toEqual({ userId: 'alice', socketId: tab.socket.id, serverTime: expect.any(String) });
    expect(Math.abs(Date.parse(success.serverTime) - Date.now())).toBeLessThan(5000);
    // the matching userId is accepted too
    await f.connect('bob', { auth: { userId: 'bob' } });
  });

  it.each([
    ['no token', async () => ({})],
    ['a token that is not a string', async () => ({ token: 42 })],
    ['garbage', async () => ({ token: 'not.a.jwt' })],
    ['a token signed with another key', async () => ({ token: await new SignJWT({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 60 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('x'.repeat(40))) })],
    ['an expired token', async () => ({ token: await tokenFor('alice', { expiresInSec: -60 }) })],
    ['a userId that disagrees with the token', async () => ({ token: await tokenFor('alice'), userId: 'bob' })],
    ['a userId of the wrong type', async () => ({ token: await tokenFor('alice'), userId: ['alice'] })],
  ])('refuses %s with connect_error data.code UNAUTHORIZED', async (_name, auth) => {
    const f = await startChat();
    const error = await f.refused(await auth());
    expect(error.data).toMatchObject({ code: 'UNAUTHORIZED', message: expect.any(String) });
  });

  it('says when the token expired', async () => {
    const f = await startChat();
    const error = await f.refused({ token: await tokenFor('alice', { expiresInSec: -60 }) });
    expect(error.data).toMatchObject({ code: 'UNAUTHORIZED', message: 'Token expired' });
    expect(error.message).toBe('Token expired');
  });

  it('throttles handshakes per verified user, with retryAfterMs, without touching other users', async () => {
    const f = await startChat({ engineOptions: { rateLimits: { handshake: { points: 2, durationMs: 60_000 } } } });
    await f.connect('alice');
    await f.connect('alice');
    const error = await f.refused({ token: await tokenFor('alice') });
    expect(error.data).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: expect.any(Number) });
    await f.connect('bob');
    // failed verifications spend nobody's budget
    for (let i = 0; i < 3; i++) await f.refused({ token: 'garbage' });
    await f.connect('bob');
  });

  it('never logs or echoes a token', async () => {
    const logged: unknown[] = [];
    for (const method of ['log', 'error', 'warn', 'info', 'debug'] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void logged.push(...args));
    }
    const f = await startChat({ attach: { onError: undefined as never } });
    const expired = await tokenFor('alice', { expiresInSec: -60 });
    const mismatched = await tokenFor('alice');
    const errors = [await f.refused({ token: expired }), await f.refused({ token: mismatched, userId: 'bob' }), await f.refused({ token: 'not.a.jwt' })];
    const tab = await f.connect('alice');
    (tab.socket as any).emit('error', { token: mismatched });
    await tab.call('session:join', { sessionId: 'nope' });
    const everything = JSON.stringify([logged.map(String), errors.map((e) => [e.message, e.data]), f.reported.map(String)]);
    for (const token of [expired, mismatched]) {
      expect(everything).not.toContain(token);
      expect(everything).not.toContain(token.split('.')[2]!); // not even the signature
    }
  });

  it('after engine.close() new connections are refused with UNAVAILABLE and events answer UNAVAILABLE', async () => {
    const f = await startChat();
    const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice' });
    const alice = await f.connect('alice');
    await f.engine.close();
    expect(await alice.call('session:join', { sessionId })).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
    expect((await f.refused({ token: await tokenFor('bob') })).data).toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('refuses bad options and a second attach to the same namespace', async () => {
    const f = await startChat();
    expect(() => attachChat(f.io, f.engine, { authenticate: jwtAuthenticator({ secret: SECRET }) })).toThrow(/already has a chat/);
    expect(() => attachChat(f.io, f.engine, {} as never)).toThrow(/authenticate/);
    expect(() => attachChat(f.io, f.engine, { authenticate: async () => ({ userId: 'x' }), namespace: 'chat' })).toThrow(/namespace/);
    expect(() => attachChat(f.io, f.engine, { authenticate: async () => ({ userId: 'x' }), namespace: '/other', typingTimeoutMs: -1 })).toThrow(/typingTimeoutMs/);
  });

  it('a host authenticate that returns a bad user id, or throws something else, is a refusal, not a crash', async () => {
    const f = await startChat({
      attach: {
        authenticate: async (token) => {
          if (token === 'boom') throw new Error('database down: secret stuff');
          return { userId: 'not a valid id!' };
        },
      },
    });
    expect((await f.refused({ token: 'boom' })).data).toEqual({ code: 'UNAUTHORIZED', message: 'Invalid token' });
    expect((await f.refused({ token: 'x' })).data).toMatchObject({ code: 'UNAUTHORIZED' });
  });
});
