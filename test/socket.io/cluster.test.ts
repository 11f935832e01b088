import { MemoryStorage, type Message } from 'parley-chat';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, sleep, startChat, until, type ChatFixture, type FixtureOptions, type Tab } from './harness.js';
import { inProcessCluster } from './in-process-cluster-adapter.js';

/**
 * Two nodes: two Socket.io servers joined by a cluster adapter, each with its own ChatEngine on one
 * shared storage (the database). Proves the binding relies only on what any adapter provides.
 */

const clusters: ReturnType<typeof inProcessCluster>[] = [];
afterEach(async () => {
  await closeAll();
  for (const c of clusters.splice(0)) c.close();
});

async function twoNodes(attach: FixtureOptions['attach'] = {}): Promise<[ChatFixture, ChatFixture]> {
  const cluster = inProcessCluster();
  clusters.push(cluster);
  const storage = new MemoryStorage();
  const a = await startChat({ storage, server: { adapter: cluster.adapter as never }, attach });
  const b = await startChat({ storage, server: { adapter: cluster.adapter as never }, attach });
  // let the adapters discover each other (heartbeats)
  await until(async () => (await a.io.of('/chat').fetchSockets()) !== undefined && (await a.io.of('/chat').adapter.serverCount()) === 2, 3000, 'cluster formed');
  await until(async () => (await b.io.of('/chat').adapter.serverCount()) === 2, 3000, 'cluster formed');
  return [a, b];
}

async function joinedTab(f: ChatFixture, userId: string, sessionId: string): Promise<Tab> {
  const tab = await f.connect(userId);
  expect((await tab.call('session:join', { sessionId })).ok).toBe(true);
  return tab;
}

describe('socket.io binding across nodes (cluster adapter)', () => {
  it('a change committed on one node reaches every joined socket on every node, once', async () => {
    const [a, b] = await twoNodes();
    const { id: sessionId } = await a.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    const alice = await joinedTab(a, 'alice', sessionId);
    const bob = await joinedTab(b, 'bob', sessionId);
    const sent = (await alice.call('message:send', { sessionId, content: 'across nodes' })).data as Message;
    expect(await bob.received.waitFor('message:new')).toEqual([sent]);
    await b.engine.editMessage(sent.id, 'edited on node b', 'alice');
    expect((await alice.received.waitFor('message:edited'))[0]).toMatchObject({ content: 'edited on node b' });
    await bob.call('typing:start', { sessionId });
    expect(await alice.received.waitFor('typing:start')).toEqual([{ sessionId, userId: 'bob' }]);
    await sleep(50);
    expect(alice.received.of('message:new')).toHaveLength(1);
    expect(bob.received.of('message:new')).toHaveLength(1);
    expect(bob.received.of('typing:start')).toHaveLength(0);
  });

  it('presence is counted across tabs on both nodes: offline only when the last tab anywhere closes', async () => {
    const [a, b] = await twoNodes();
    const { id: sessionId } = await a.engine.createSession({ createdBy: 'carol', memberIds: ['alice'] });
    const carol = await joinedTab(a, 'carol', sessionId);
    const tab1 = await a.connect('alice');
    await carol.received.waitFor('presence:update', 1, (p) => p.userId === 'alice');
    const tab2 = await b.connect('alice');
    expect((await a.engine.getPresence(sessionId, 'carol')).find((p) => p.userId === 'alice')!.status).toBe('online');
    await tab1.close();
    await sleep(100);
    expect((await a.engine.getPresence(sessionId, 'carol')).find((p) => p.userId === 'alice')!.status).toBe('online');
    await tab2.close();
    const updates = await carol.received.waitFor('presence:update', 2, (p) => p.userId === 'alice');
    expect(updates.map((u) => u.status)).toEqual(['online', 'offline']);
    expect((await a.engine.getPresence(sessionId, 'carol')).find((p) => p.userId === 'alice')!.status).toBe('offline');
  });

  it('user:joined / user:left count the user’s sockets on both nodes', async () => {
    const [a, b] = await twoNodes();
    const { id: sessionId } = await a.engine.createSession({ createdBy: 'carol', memberIds: ['alice'] });
    const carol = await joinedTab(a, 'carol', sessionId);
    const t1 = await joinedTab(a, 'alice', sessionId);
    const t2 = await joinedTab(b, 'alice', sessionId);
    await t1.call('session:leave', { sessionId });
    await sleep(80);
    expect(carol.received.of('user:left')).toEqual([]);
    await t2.close();
    expect(await carol.received.waitFor('user:left')).toEqual([{ sessionId, userId: 'alice' }]);
    expect(carol.received.of('user:joined').filter((e) => e.userId === 'alice')).toHaveLength(1);
  });

  it('removing a member kicks their sockets on the other node too', async () => {
    const [a, b] = await twoNodes();
    const { id: sessionId } = await a.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    const alice = await joinedTab(a, 'alice', sessionId);
    const bob = await joinedTab(b, 'bob', sessionId);
    await a.engine.removeMember(sessionId, 'bob', 'alice');
    await bob.received.waitFor('user:left');
    await until(async () => (await b.io.of('/chat').local.in(`session:${sessionId}`).fetchSockets()).length === 0, 2000, 'kicked');
    await alice.call('message:send', { sessionId, content: 'after bob left' });
    await alice.received.waitFor('message:new');
    await sleep(50);
    expect(bob.received.of('message:new')).toEqual([]);
  });

  it('a join on one node racing writes committed on the other gets every message exactly once, in order', async () => {
    const [a, b] = await twoNodes();
    const { id: sessionId } = await a.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    const writes: Promise<Message>[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 90; i++) {
        writes.push(a.engine.createMessage({ sessionId, userId: 'alice', content: `w${i}` }));
        await sleep(1);
      }
    })();
    const tabs: Tab[] = [];
    for (let i = 0; i < 6; i++) {
      await sleep(3 + Math.random() * 8);
      const tab = await b.connect('bob');
      expect((await tab.call('session:join', { sessionId, lastSeq: 0 })).ok).toBe(true);
      tabs.push(tab);
    }
    writing = false;
    await writer;
    const total = (await Promise.all(writes)).length;
    for (const tab of tabs) {
      await until(() => tab.received.of('message:new').length >= total, 5000, `all ${total} messages`);
      await sleep(30);
      expect(tab.received.of('message:new').map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    }
  });

  it('when a peer stops sending heartbeats, one survivor sends user:left and presence:update offline for its users that have no socket left', async () => {
    const [a, b] = await twoNodes({ nodeHeartbeatMs: 50 });
    const { id: sessionId } = await a.engine.createSession({ createdBy: 'carol', memberIds: ['alice', 'ghost'] });
    const carol = await joinedTab(a, 'carol', sessionId);
    await joinedTab(b, 'alice', sessionId); // alice is also in the dead node's roster, but still has this tab
    // A third node's heartbeats (it never runs a socket.io server here: it only "dies"), sent to
    // both nodes, with garbage a confused peer might send.
    const roster = [['ghost', [sessionId]], ['alice', [sessionId]], 'not an entry', ['x', 'not a list']];
    for (let i = 0; i < 3; i++) {
      for (const node of [a, b]) {
        node.io.of('/chat').serverSideEmit('parley:roster' as never, 'zzzz-dead-node' as never, roster as never);
        node.io.of('/chat').serverSideEmit('parley:roster' as never, 42 as never, 'garbage' as never);
      }
      await sleep(40);
    }
    // Silent for three heartbeats: dead. ghost has no socket anywhere; alice does.
    const [left] = await carol.received.waitFor('user:left', 1, (e) => e.userId === 'ghost');
    expect(left).toEqual({ sessionId, userId: 'ghost' });
    await carol.received.waitFor('presence:update', 1, (p) => p.userId === 'ghost' && p.status === 'offline');
    await sleep(300);
    expect(carol.received.of('user:left').filter((e) => e.userId === 'ghost')).toHaveLength(1); // one survivor spoke
    expect(carol.received.of('presence:update').filter((p) => p.userId === 'ghost')).toHaveLength(1);
    expect(carol.received.of('user:left').filter((e) => e.userId === 'alice')).toEqual([]);
    expect(carol.received.of('presence:update').filter((p) => p.userId === 'alice' && p.status === 'offline')).toEqual([]);
    expect([...a.reported, ...b.reported]).toEqual([]);
  });
});
