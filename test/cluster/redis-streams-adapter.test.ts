import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeAllTabs, connectTab, createSession, killAllNodes, missingServices, RunResources, sleep, spawnNode, until, type NodeProcess } from './harness.js';

/**
 * The same two-process cluster on `@socket.io/redis-streams-adapter`, with Socket.io's connection
 * state recovery on (the stream keeps the packets a briefly disconnected client missed).
 */

const skipReason = await missingServices(); // throws under CI=true
if (skipReason) console.warn(skipReason);

describe.skipIf(skipReason)('two node processes on @socket.io/redis-streams-adapter (connection state recovery on)', () => {
  const resources = new RunResources();
  let a: NodeProcess;
  let b: NodeProcess;

  beforeAll(async () => {
    const env = { CONNECTION_STATE_RECOVERY: '1', SCRIPTED_TOKENS_PER_SECOND: '200' };
    [a, b] = await Promise.all([
      spawnNode({ resources, nodeId: 'streams-a', adapter: 'redis-streams', env }),
      spawnNode({ resources, nodeId: 'streams-b', adapter: 'redis-streams', env }),
    ]);
  });
  afterEach(closeAllTabs);
  afterAll(async () => {
    closeAllTabs();
    await Promise.all([a?.kill('SIGTERM'), b?.kill('SIGTERM')]);
    await killAllNodes();
    await resources.dispose();
  });

  it('events, presence and streams cross nodes', async () => {
    const sessionId = await createSession(a, 'alice', ['bob']);
    const alice = await connectTab(a, 'alice');
    expect((await alice.call('session:join', { sessionId })).ok).toBe(true);
    const bob = await connectTab(b, 'bob');
    expect((await bob.call('session:join', { sessionId })).ok).toBe(true);
    await alice.received.waitFor('user:joined', 1, (e) => e.userId === 'bob');
    await alice.received.waitFor('presence:update', 1, (p) => p.userId === 'bob' && p.status === 'online');

    const sent = (await alice.call('message:send', { sessionId, content: 'over a redis stream' })).data;
    expect(await bob.received.waitFor('message:new')).toEqual([sent]);
    await bob.call('message:reaction', { messageId: sent.id, emoji: '🎉', action: 'add' });
    await alice.received.waitFor('message:reaction:update');
    await bob.call('typing:start', { sessionId });
    await alice.received.waitFor('typing:start');

    const { streamId } = (await alice.call('stream:request', { sessionId, prompt: 'hi' })).data;
    const [complete] = await bob.received.waitFor('stream:complete', 1, (e) => e.streamId === streamId, 15_000);
    expect(bob.received.of('stream:chunk').filter((c) => c.id === streamId).map((c) => c.delta).join('')).toBe(complete.content);

    await bob.close();
    await alice.received.waitFor('presence:update', 1, (p) => p.userId === 'bob' && p.status === 'offline');
    await sleep(100);
    expect(bob.received.of('message:new')).toHaveLength(3); // sent, the prompt, the answer: once each
  });

  it('a client whose connection drops is recovered by Socket.io with what the other node sent meanwhile, once', async () => {
    const sessionId = await createSession(a, 'carol', ['dave']);
    const carol = await connectTab(b, 'carol');
    await carol.call('session:join', { sessionId });
    const dave = await connectTab(a, 'dave', { reconnection: true });
    await dave.call('session:join', { sessionId });
    await sleep(100); // the recovery offset is the id of the last packet dave received
    await carol.call('message:send', { sessionId, content: 'before the drop' });
    await dave.received.waitFor('message:new', 1);

    (dave.socket as any).io.engine.close(); // the network drops
    await until(() => !dave.socket.connected, 3000, 'dave disconnected');
    const missed = [];
    for (const content of ['while dave was away 1', 'while dave was away 2']) missed.push((await carol.call('message:send', { sessionId, content })).data);
    await until(() => dave.socket.connected, 8000, 'dave back');
    expect(dave.socket.recovered).toBe(true);
    await dave.received.waitFor('message:new', 3);
    // still in the session without joining again
    const after = (await carol.call('message:send', { sessionId, content: 'after dave came back' })).data;
    await dave.received.waitFor('message:new', 4);
    await sleep(150);
    expect(dave.received.of('message:new').map((m) => m.content)).toEqual(['before the drop', ...missed.map((m) => m.content), after.content]);
  });
});
