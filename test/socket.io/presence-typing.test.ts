import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, sleep, startChat, type ChatFixture } from './harness.js';

afterEach(closeAll);

async function observed(f: ChatFixture) {
  const { id: sessionId } = await f.engine.createSession({ id: 'lobby', createdBy: 'carol', memberIds: ['alice', 'bob'] });
  const carol = await f.connect('carol');
  await carol.call('session:join', { sessionId });
  return { sessionId, carol };
}

const statusOf = async (f: ChatFixture, sessionId: string, userId: string) =>
  (await f.engine.getPresence(sessionId, 'carol')).find((p) => p.userId === userId)!.status;

describe('socket.io binding: presence', () => {
  it('goes online with the first tab and offline only when the last tab closes', async () => {
    const f = await startChat();
    const { sessionId, carol } = await observed(f);
    const tabs = [await f.connect('alice'), await f.connect('alice'), await f.connect('alice')];
    const [online] = await carol.received.waitFor('presence:update', 1, (p) => p.userId === 'alice');
    expect(online).toEqual({ userId: 'alice', status: 'online', lastSeenAt: expect.any(String) });
    expect(await statusOf(f, sessionId, 'alice')).toBe('online');
    await tabs[0]!.close();
    await tabs[1]!.close();
    await sleep(80);
    expect(carol.received.of('presence:update').filter((p) => p.userId === 'alice')).toHaveLength(1);
    expect(await statusOf(f, sessionId, 'alice')).toBe('online');
    await tabs[2]!.close();
    const updates = await carol.received.waitFor('presence:update', 2, (p) => p.userId === 'alice');
    expect(updates[1]).toEqual({ userId: 'alice', status: 'offline', lastSeenAt: expect.any(String) });
    expect(await statusOf(f, sessionId, 'alice')).toBe('offline');
  });

  it("presence:update carries the name the user's token gave, online and offline; the profile is stored once", async () => {
    const f = await startChat();
    const { sessionId, carol } = await observed(f);
    const alice = await f.connect('alice', { name: 'Alice Martin' });
    const [online] = await carol.received.waitFor('presence:update', 1, (p) => p.userId === 'alice');
    expect(online).toEqual({ userId: 'alice', name: 'Alice Martin', status: 'online', lastSeenAt: expect.any(String) });
    await alice.close();
    const updates = await carol.received.waitFor('presence:update', 2, (p) => p.userId === 'alice');
    expect(updates[1]).toMatchObject({ userId: 'alice', name: 'Alice Martin', status: 'offline' });
    expect(await f.engine.getUsers(['alice'])).toEqual([{ id: 'alice', name: 'Alice Martin', avatarUrl: null }]);
    expect((await f.engine.getPresence(sessionId, 'carol')).find((p) => p.userId === 'alice')?.name).toBe('Alice Martin');
  });

  it('tabs opening at the same moment announce online at least once; a reconnecting tab keeps the user online', async () => {
    const f = await startChat();
    const { carol } = await observed(f);
    const tabs = await Promise.all([f.connect('bob'), f.connect('bob'), f.connect('bob')]);
    await carol.received.waitFor('presence:update', 1, (p) => p.userId === 'bob');
    await sleep(50);
    const bobUpdates = () => carol.received.of('presence:update').filter((p) => p.userId === 'bob');
    expect(bobUpdates().every((p) => p.status === 'online')).toBe(true);
    const announced = bobUpdates().length;
    await tabs[0]!.close();
    await f.connect('bob');
    await sleep(50);
    expect(bobUpdates()).toHaveLength(announced);
  });

  it('the engine’s getPresence goes through the binding (the registered transport)', async () => {
    const f = await startChat();
    const { sessionId } = await observed(f);
    await f.connect('bob');
    const presence = await f.engine.getPresence(sessionId, 'carol');
    expect(presence.map((p) => [p.userId, p.status])).toEqual([
      ['carol', 'online'],
      ['alice', 'offline'],
      ['bob', 'online'],
    ]);
    expect(await f.binding.getPresence(['bob', 'nobody'])).toEqual(new Map([['bob', { status: 'online', lastSeenAt: expect.any(String) }]]));
  });
});

describe('socket.io binding: typing', () => {
  it('a typing:start expires after typingTimeoutMs without a refresh; a refresh keeps it alive', async () => {
    const f = await startChat({ attach: { typingTimeoutMs: 150 } });
    const { sessionId, carol } = await observed(f);
    const alice = await f.connect('alice');
    await alice.call('session:join', { sessionId });
    const started = Date.now();
    expect(await alice.call('typing:start', { sessionId })).toEqual({ ok: true, data: { expiresInMs: 150 } });
    await sleep(100);
    await alice.call('typing:start', { sessionId }); // refresh
    await sleep(100);
    expect(carol.received.of('typing:stop')).toEqual([]);
    const [stop] = await carol.received.waitFor('typing:stop', 1, () => true, 2000);
    expect(stop).toEqual({ sessionId, userId: 'alice' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    expect(carol.received.of('typing:start')).toHaveLength(2);
  });

  it('a disconnect ends the typing indicator of that socket', async () => {
    const f = await startChat();
    const { sessionId, carol } = await observed(f);
    const alice = await f.connect('alice');
    await alice.call('session:join', { sessionId });
    await alice.call('typing:start', { sessionId });
    await carol.received.waitFor('typing:start');
    await alice.close();
    expect(await carol.received.waitFor('typing:stop')).toEqual([{ sessionId, userId: 'alice' }]);
  });

  it('typing in a session one is not a member of is refused', async () => {
    const f = await startChat();
    const { sessionId, carol } = await observed(f);
    const mallory = await f.connect('mallory');
    expect(await mallory.call('typing:start', { sessionId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await mallory.call('typing:stop', { sessionId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    await sleep(30);
    expect(carol.received.of('typing:start')).toEqual([]);
  });
});
