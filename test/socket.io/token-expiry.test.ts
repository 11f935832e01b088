import { ChatError, jwtAuthenticator, type AuthenticatedUser } from 'parley-chat';
import { describe, expect, it, type TestContext } from 'vitest';
import { storedState } from '../support/engine.js';
import { SECRET, sleep, startChat, tokenFor, until, type ChatFixture, type Tab } from './harness.js';

/**
 * A token's expiry holds on a live socket, not only at the handshake: past it every event is
 * refused, the socket hears `auth:expired` once and is dropped after a grace unless `auth:refresh`
 * brings a new token of the same user.
 *
 * Tokens are real JWTs. The authenticator has no clock tolerance, so a token expires at its `exp`
 * (whole seconds); where a test needs a precise instant, the host's `authenticate` sets
 * `expiresAt` itself, as a host with its own session lifetime would.
 *
 * The tests mostly wait for tokens to expire, so they run concurrently, each closing its own chat.
 */


const GRACE_MS = 600;
const jwt = jwtAuthenticator({ secret: SECRET, clockToleranceSec: 0 });

/** A JWT for `userId` that expires between `seconds - 1` and `seconds` from now (exp is whole seconds). */
const shortToken = (userId: string, seconds: number, name?: string) => tokenFor(userId, { expiresInSec: seconds, ...(name !== undefined && { name }) });
const expiryOf = async (token: string) => (await jwt(token)).expiresAt as number;

/** A chat whose `authenticate` is jwtAuthenticator, except that it may pin a token's expiry to a chosen instant. */
async function chat(t: TestContext, options: { graceMs?: number; rateLimits?: Record<string, { points: number; durationMs: number }> } = {}) {
  const pinned = new Map<string, number>();
  const authenticate = async (token: string): Promise<AuthenticatedUser> => {
    const user = await jwt(token);
    const at = pinned.get(token);
    return at === undefined ? user : { ...user, expiresAt: new Date(at) };
  };
  const f = await startChat({
    attach: { authenticate, authExpiryGraceMs: options.graceMs ?? GRACE_MS },
    ...(options.rateLimits && { engineOptions: { rateLimits: options.rateLimits } }),
  });
  t.onTestFinished(() => f.close());
  const { id: sessionId } = await f.engine.createSession({ id: 'expiry-room', createdBy: 'alice', memberIds: ['bob'] });
  return { f, sessionId, pinned };
}

async function joinedWith(f: ChatFixture, userId: string, sessionId: string, token?: string): Promise<Tab> {
  const tab = await f.connect(userId, token === undefined ? {} : { auth: { token } });
  expect((await tab.call('session:join', { sessionId })).ok).toBe(true);
  return tab;
}

const disconnected = (tab: Tab) => new Promise<string>((resolve) => tab.socket.once('disconnect', (reason) => resolve(reason)));
const untilPast = (at: number) => until(() => Date.now() > at, at - Date.now() + 5000, 'the expiry');

describe.concurrent('socket.io binding: token expiry on a live socket', () => {
  it('after expiry a send is refused with UNAUTHORIZED and stores nothing; the socket hears auth:expired once, then is dropped after the grace', async (t) => {
    const { f, sessionId } = await chat(t);
    const alice = await joinedWith(f, 'alice', sessionId);
    const token = await shortToken('bob', 2);
    const expiresAt = await expiryOf(token);
    const bob = await joinedWith(f, 'bob', sessionId, token);
    expect((await bob.call('message:send', { sessionId, content: 'while valid' })).ok).toBe(true);
    const gone = disconnected(bob);

    const [expired] = await bob.received.waitFor('auth:expired', 1, () => true, expiresAt - Date.now() + 3000);
    expect(expired).toEqual({ expiredAt: new Date(expiresAt).toISOString() });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
    const before = await storedState(f.engine, sessionId);
    for (const [event, payload] of [
      ['message:send', { sessionId, content: 'after expiry' }],
      ['session:leave', { sessionId }],
      ['typing:start', { sessionId }],
      ['session:join', { sessionId: 'expiry-room' }],
    ] as const) {
      expect(await bob.call(event, payload), event).toEqual({ ok: false, error: { code: 'UNAUTHORIZED', message: expect.any(String), details: { expiredAt: expired.expiredAt } } });
    }
    expect(await storedState(f.engine, sessionId)).toEqual(before);
    await sleep(50);
    expect(alice.received.of('typing:start')).toEqual([]); // nothing else done either

    expect(await gone).toBe('io server disconnect');
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt + GRACE_MS);
    expect(bob.received.of('auth:expired')).toHaveLength(1);
    // the others are unaffected, and hear that bob left
    await alice.received.waitFor('user:left', 1, (e) => e.userId === 'bob');
    expect((await alice.call('message:send', { sessionId, content: 'still here' })).ok).toBe(true);
    expect(f.reported).toEqual([]);
  });

  it('refuses at the first event past the expiry, whether or not the expiry timer has run yet', async (t) => {
    const { f, sessionId, pinned } = await chat(t, { graceMs: 1500 });
    const token = await tokenFor('bob');
    // 100 ms past a whole second: the shared timer, which runs on whole seconds, comes ~900 ms later
    const expiresAt = (Math.ceil(Date.now() / 1000) + 1) * 1000 + 100;
    pinned.set(token, expiresAt);
    const bob = await joinedWith(f, 'bob', sessionId, token);
    const before = await storedState(f.engine, sessionId);
    await untilPast(expiresAt);
    const ack = await bob.call('message:send', { sessionId, content: 'just too late' });
    expect(ack).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
    // told along with the refusal, not a second time when the timer comes round
    expect(bob.received.of('auth:expired')).toEqual([{ expiredAt: new Date(expiresAt).toISOString() }]);
    expect(await storedState(f.engine, sessionId)).toEqual(before);
    expect(await disconnected(bob)).toBe('io server disconnect');
    expect(bob.received.of('auth:expired')).toHaveLength(1);
  });

  it('auth:refresh with a new token before the expiry keeps the socket working past the old one', async (t) => {
    const { f, sessionId } = await chat(t);
    const old = await shortToken('bob', 2);
    const oldExpiry = await expiryOf(old);
    const bob = await joinedWith(f, 'bob', sessionId, old);
    const fresh = await tokenFor('bob');
    expect(await bob.call('auth:refresh', { token: fresh })).toEqual({
      ok: true,
      data: { userId: 'bob', expiresAt: new Date(await expiryOf(fresh)).toISOString() },
    });
    await untilPast(oldExpiry + GRACE_MS + 1000);
    expect(bob.socket.connected).toBe(true);
    expect(bob.received.of('auth:expired')).toEqual([]);
    expect(await bob.call('message:send', { sessionId, content: 'still me' })).toMatchObject({ ok: true, data: { userId: 'bob' } });
  });

  it('auth:refresh during the grace cancels the disconnect and lifts the refusal', async (t) => {
    const { f, sessionId } = await chat(t, { graceMs: 1500 });
    const old = await shortToken('bob', 2);
    const oldExpiry = await expiryOf(old);
    const bob = await joinedWith(f, 'bob', sessionId, old);
    await bob.received.waitFor('auth:expired', 1, () => true, oldExpiry - Date.now() + 3000);
    expect(await bob.call('message:send', { sessionId, content: 'refused' })).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
    expect(await bob.call('auth:refresh', { token: await tokenFor('bob') })).toMatchObject({ ok: true, data: { userId: 'bob' } });
    expect(await bob.call('message:send', { sessionId, content: 'back in' })).toMatchObject({ ok: true, data: { userId: 'bob', content: 'back in' } });
    await untilPast(oldExpiry + 1500 + 1200); // past the grace, and past the timer's whole second
    expect(bob.socket.connected).toBe(true);
    expect(bob.received.of('auth:expired')).toHaveLength(1);
    expect(await bob.call('typing:start', { sessionId })).toMatchObject({ ok: true });
  });

  it("another user's token is refused and changes nothing: the socket still acts, and expires, as the first user", async (t) => {
    const { f, sessionId } = await chat(t);
    const token = await shortToken('bob', 2);
    const expiresAt = await expiryOf(token);
    const bob = await joinedWith(f, 'bob', sessionId, token);
    const refused = await bob.call('auth:refresh', { token: await tokenFor('alice') });
    expect(refused).toEqual({ ok: false, error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
    expect(await bob.call('message:send', { sessionId, content: 'who am I' })).toMatchObject({ ok: true, data: { userId: 'bob' } });
    const [expired] = await bob.received.waitFor('auth:expired', 1, () => true, expiresAt - Date.now() + 3000);
    expect(expired).toEqual({ expiredAt: new Date(expiresAt).toISOString() });
    expect(await bob.call('message:send', { sessionId, content: 'too late' })).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
    // refused during the grace too, and the disconnect still comes
    expect(await bob.call('auth:refresh', { token: await tokenFor('alice') })).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
    expect(await disconnected(bob)).toBe('io server disconnect');
    expect((await f.engine.getMessageHistory(sessionId, 'alice')).messages.map((m) => [m.userId, m.content])).toEqual([['bob', 'who am I']]);
  });

  it('an invalid or expired token is refused and changes nothing', async (t) => {
    const { f, sessionId } = await chat(t);
    const token = await shortToken('bob', 2);
    const expiresAt = await expiryOf(token);
    const bob = await joinedWith(f, 'bob', sessionId, token);
    for (const bad of ['not.a.jwt', await tokenFor('bob', { expiresInSec: -60 }), token.slice(0, -4) + 'AAAA']) {
      expect(await bob.call('auth:refresh', { token: bad })).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
    }
    // and a payload that is not { token } is a validation error, like every other event's
    for (const payload of [{}, { token: '' }, { token: 42 }, { token: await tokenFor('bob'), userId: 'bob' }]) {
      expect(await bob.call('auth:refresh', payload)).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    }
    expect(await bob.call('message:send', { sessionId, content: 'fine for now' })).toMatchObject({ ok: true });
    const [expired] = await bob.received.waitFor('auth:expired', 1, () => true, expiresAt - Date.now() + 3000);
    expect(expired.expiredAt).toBe(new Date(expiresAt).toISOString());
    expect(await disconnected(bob)).toBe('io server disconnect');
  });

  it("a refreshed token's display name replaces the old one", async (t) => {
    const { f, sessionId } = await chat(t);
    const alice = await joinedWith(f, 'alice', sessionId);
    const bob = await joinedWith(f, 'bob', sessionId, await tokenFor('bob', { name: 'Bob' }));
    expect((await bob.call('auth:refresh', { token: await tokenFor('bob', { name: 'Robert' }) })).ok).toBe(true);
    expect((await bob.call('typing:start', { sessionId })).ok).toBe(true);
    const [typing] = await alice.received.waitFor('typing:start');
    expect(typing).toEqual({ sessionId, userId: 'bob', name: 'Robert' });
  });

  it('auth:refresh spends the engine budget of its own action', async (t) => {
    const { f, sessionId } = await chat(t, { rateLimits: { 'auth:refresh': { points: 2, durationMs: 60_000 } } });
    const bob = await joinedWith(f, 'bob', sessionId);
    const token = await tokenFor('bob');
    const acks = [];
    for (let i = 0; i < 3; i++) acks.push(await bob.call('auth:refresh', { token }));
    expect(acks.map((a) => a.ok)).toEqual([true, true, false]);
    expect(acks[2].error).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: expect.any(Number), details: { action: 'auth:refresh' } });
    expect(bob.socket.connected).toBe(true);
  });

  it('a host authenticate may give expiresAt as a Date or ms, or leave it out (never expires); a past one is refused at the handshake', async (t) => {
    const users: Record<string, AuthenticatedUser> = {
      'as-date': { userId: 'dora', expiresAt: new Date(Date.now() + 3_600_000) },
      'as-ms': { userId: 'mia', expiresAt: Date.now() + 3_600_000 },
      never: { userId: 'nev' },
      past: { userId: 'pat', expiresAt: Date.now() - 1 },
      garbage: { userId: 'gab', expiresAt: 'tomorrow' as never },
    };
    const f = await startChat({
      attach: {
        authenticate: async (token) => {
          const user = users[token];
          if (!user) throw new ChatError('UNAUTHORIZED', 'Invalid token');
          return user;
        },
      },
    });
    t.onTestFinished(() => f.close());
    for (const token of ['as-date', 'as-ms', 'never']) {
      const tab = await f.connect(users[token]!.userId, { auth: { token } });
      const ack = await tab.call('auth:refresh', { token });
      expect(ack, token).toEqual({
        ok: true,
        data: { userId: users[token]!.userId, expiresAt: token === 'never' ? null : new Date(users[token]!.expiresAt!).toISOString() },
      });
    }
    expect((await f.refused({ token: 'past' })).data).toMatchObject({ code: 'UNAUTHORIZED', message: 'Token expired' });
    expect((await f.refused({ token: 'garbage' })).data).toMatchObject({ code: 'UNAUTHORIZED' });
  });
});

describe.concurrent('socket.io binding: token expiry with connection state recovery', () => {
  for (const skipMiddlewares of [false, true]) {
    it(`a recovered socket expires with the token it presented on recovery (skipMiddlewares: ${skipMiddlewares})`, async (t) => {
      const f = await startChat({
        attach: { authenticate: jwt, authExpiryGraceMs: GRACE_MS },
        server: { connectionStateRecovery: { maxDisconnectionDuration: 10_000, skipMiddlewares } },
      });
      t.onTestFinished(() => f.close());
      const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
      const first = await tokenFor('bob');
      const bob = await f.connect('bob', { auth: { token: first }, client: { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50 } });
      expect((await bob.call('session:join', { sessionId })).ok).toBe(true);
      // the client's next handshake presents a token that expires soon
      const short = await shortToken('bob', 2);
      const expiresAt = await expiryOf(short);
      (bob.socket as any).auth = { token: short };
      (bob.socket as any).io.engine.close(); // the network drops
      await until(() => !bob.socket.connected, 2000, 'bob disconnected');
      await until(() => bob.socket.connected, 5000, 'bob back');
      expect(bob.socket.recovered).toBe(true);
      const [expired] = await bob.received.waitFor('auth:expired', 1, () => true, expiresAt - Date.now() + 3000);
      expect(expired).toEqual({ expiredAt: new Date(expiresAt).toISOString() });
      expect(await bob.call('message:send', { sessionId, content: 'late' })).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
    });
  }
});
