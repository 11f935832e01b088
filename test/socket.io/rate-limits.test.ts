import { DEFAULT_RATE_LIMITS } from 'parley-chat';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, startChat } from './harness.js';

afterEach(closeAll);

/** The engine's budgets (the defaults), spent through the socket binding. */
describe('socket.io binding: rate limits', () => {
  it('the 31st send in a minute is refused with RATE_LIMITED and retryAfterMs; other users are unaffected', async () => {
    const f = await startChat({ engineOptions: { rateLimits: DEFAULT_RATE_LIMITS } });
    const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    const alice = await f.connect('alice');
    const bob = await f.connect('bob');
    expect((await alice.call('session:join', { sessionId })).ok).toBe(true);
    expect((await bob.call('session:join', { sessionId })).ok).toBe(true);
    const acks = await Promise.all(Array.from({ length: 31 }, (_, i) => alice.call('message:send', { sessionId, content: `m${i}` })));
    expect(acks.filter((a) => a.ok)).toHaveLength(30);
    const refused = acks.filter((a) => !a.ok);
    expect(refused).toEqual([
      { ok: false, error: { code: 'RATE_LIMITED', message: expect.any(String), retryAfterMs: expect.any(Number), details: expect.objectContaining({ action: 'message:send', limit: 30 }) } },
    ]);
    expect(refused[0].error.retryAfterMs).toBeGreaterThan(0);
    expect(refused[0].error.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect((await f.engine.getSession(sessionId)).lastSeq).toBe(30);
    // bob's budget is his own; alice can still do things with other budgets
    expect(await bob.call('message:send', { sessionId, content: 'I can still talk' })).toMatchObject({ ok: true });
    expect(await alice.call('typing:start', { sessionId })).toMatchObject({ ok: true });
    expect(alice.socket.connected).toBe(true);
  });

  it('session:join spends 5 per session; events without a limited engine method spend their own budget', async () => {
    const f = await startChat({ engineOptions: { rateLimits: { ...DEFAULT_RATE_LIMITS, 'session:leave': { points: 2, durationMs: 60_000 } } } });
    const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice' });
    const { id: other } = await f.engine.createSession({ createdBy: 'alice' });
    const alice = await f.connect('alice');
    const joins = [];
    for (let i = 0; i < 6; i++) joins.push(await alice.call('session:join', { sessionId }));
    expect(joins.map((j) => j.ok)).toEqual([true, true, true, true, true, false]);
    expect(joins[5].error.code).toBe('RATE_LIMITED');
    expect((await alice.call('session:join', { sessionId: other })).ok).toBe(true);
    const leaves = [];
    for (let i = 0; i < 3; i++) leaves.push(await alice.call('session:leave', { sessionId: other }));
    expect(leaves.map((l) => l.ok)).toEqual([true, true, false]);
    expect(leaves[2].error).toMatchObject({ code: 'RATE_LIMITED', details: { action: 'session:leave' } });
  });

  it('invalid payloads are refused before any budget is spent', async () => {
    const f = await startChat({ engineOptions: { rateLimits: { ...DEFAULT_RATE_LIMITS, 'message:send': { points: 1, durationMs: 60_000 } } } });
    const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice' });
    const alice = await f.connect('alice');
    for (let i = 0; i < 5; i++) expect(await alice.call('message:send', { sessionId, content: '' })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(await alice.call('message:send', { sessionId, content: 'the one allowed' })).toMatchObject({ ok: true });
  });
});
