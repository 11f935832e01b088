import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, startChat, tokenFor } from './harness.js';

afterEach(closeAll);

describe('socket.io binding: display names', () => {
  it("a connection stores its token's name; auth:refresh with a renamed token stores the new one", async () => {
    const f = await startChat();
    const alice = await f.connect('alice', { name: 'Alice' });
    await expect.poll(() => f.engine.getUsers(['alice'])).toEqual([{ id: 'alice', name: 'Alice', avatarUrl: null }]);
    const ack = await alice.call('auth:refresh', { token: await tokenFor('alice', { name: 'Alice Martin' }) });
    expect(ack.ok).toBe(true);
    expect(await f.engine.getUsers(['alice'])).toEqual([{ id: 'alice', name: 'Alice Martin', avatarUrl: null }]);
  });

  it("typing without a name in the token or the payload shows the typist's stored profile name", async () => {
    const f = await startChat();
    const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    await f.engine.rememberUser({ userId: 'bob', name: 'Bob from the directory' });
    const alice = await f.connect('alice');
    const bob = await f.connect('bob');
    await alice.call('session:join', { sessionId });
    await bob.call('session:join', { sessionId });
    await bob.call('typing:start', { sessionId });
    expect(await alice.received.waitFor('typing:start')).toEqual([{ sessionId, userId: 'bob', name: 'Bob from the directory' }]);
  });

  it('users:get answers profiles in the order asked, leaving out ids without one; a bad list is VALIDATION', async () => {
    const f = await startChat();
    await f.engine.rememberUser({ userId: 'bob', name: 'Bob', avatarUrl: 'https://cdn.example.com/bob.png' });
    const alice = await f.connect('alice', { name: 'Alice' });
    await expect.poll(async () => (await f.engine.getUsers(['alice'])).length).toBe(1);
    expect(await alice.call('users:get', { ids: ['bob', 'nobody', 'alice'] })).toEqual({
      ok: true,
      data: { users: [{ id: 'bob', name: 'Bob', avatarUrl: 'https://cdn.example.com/bob.png' }, { id: 'alice', name: 'Alice', avatarUrl: null }] },
    });
    for (const ids of [[], ['bad id'], Array.from({ length: 101 }, (_, i) => `u${i}`)]) {
      expect(await alice.call('users:get', { ids })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    }
  });
});
