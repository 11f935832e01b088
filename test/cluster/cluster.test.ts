import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  closeAllTabs,
  connectTab,
  createSession,
  killAllNodes,
  missingServices,
  rest,
  RunResources,
  sleep,
  spawnNode,
  until,
  type NodeProcess,
  type Tab,
} from './harness.js';

/**
 * Two Parley nodes as separate processes (`examples/cluster/node.ts`) on `@socket.io/redis-adapter`,
 * sharing the real Postgres and Redis; socket.io-client tabs on both.
 */

const skipReason = await missingServices(); // throws under CI=true
if (skipReason) console.warn(skipReason);

/** Short lease, frequent flushes and a slow scripted model, so a stream is easy to catch mid-answer. */
const NODE_ENV = { STREAM_LEASE_MS: '1500', STREAM_FLUSH_MS: '200', SCRIPTED_TOKENS_PER_SECOND: '30', STREAM_DELAY: '50', NODE_HEARTBEAT_MS: '300' };

async function joined(node: NodeProcess, userId: string, sessionId: string, lastSeq?: number): Promise<Tab> {
  const tab = await connectTab(node, userId);
  const ack = await tab.call('session:join', { sessionId, ...(lastSeq !== undefined && { lastSeq }) });
  expect(ack.ok, JSON.stringify(ack)).toBe(true);
  return tab;
}

/** The highest change seq a tab has seen in a session (what a client keeps for `lastSeq`). */
function highestSeq(tab: Tab, sessionId: string): number {
  let seq = 0;
  for (const { event, payload } of tab.received.events) {
    if (payload?.sessionId !== sessionId) continue;
    const value = event === 'message:new' || event === 'message:edited' ? payload.changeSeq : event === 'message:seen:update' ? undefined : payload.seq;
    if (typeof value === 'number' && value > seq) seq = value;
  }
  return seq;
}

describe.skipIf(skipReason)('two node processes on @socket.io/redis-adapter', () => {
  const resources = new RunResources();
  let a: NodeProcess;
  let b: NodeProcess;

  beforeAll(async () => {
    // Both start at once: migrations from two processes on one fresh schema.
    [a, b] = await Promise.all([
      spawnNode({ resources, nodeId: 'node-a', env: NODE_ENV }),
      spawnNode({ resources, nodeId: 'node-b', env: NODE_ENV }),
    ]);
  });
  afterEach(closeAllTabs);
  afterAll(async () => {
    closeAllTabs();
    await Promise.all([a?.kill('SIGTERM'), b?.kill('SIGTERM')]);
    await killAllNodes();
    await resources.dispose();
  });

  it('every event of a session crosses nodes, once', async () => {
    const sessionId = await createSession(a, 'alice', ['bob']);
    const alice = await joined(a, 'alice', sessionId);
    const bob = await joined(b, 'bob', sessionId);
    expect((await alice.received.waitFor('user:joined', 1, (e) => e.userId === 'bob'))[0]).toEqual({ sessionId, userId: 'bob' });

    const sent = (await alice.call('message:send', { sessionId, content: 'hello from node a' })).data;
    expect(await bob.received.waitFor('message:new')).toEqual([sent]);

    expect((await alice.call('message:edit', { messageId: sent.id, content: 'edited on node a' })).ok).toBe(true);
    expect((await bob.received.waitFor('message:edited'))[0]).toMatchObject({ id: sent.id, content: 'edited on node a' });

    expect((await bob.call('message:reaction', { messageId: sent.id, emoji: '👍', action: 'add' })).ok).toBe(true);
    expect((await alice.received.waitFor('message:reaction:update'))[0]).toMatchObject({ sessionId, messageId: sent.id, reactions: [{ emoji: '👍', count: 1, userIds: ['bob'] }] });

    expect((await bob.call('message:seen', { sessionId, messageId: sent.id })).ok).toBe(true);
    expect((await alice.received.waitFor('message:seen:update', 1, (e) => e.userId === 'bob'))[0]).toMatchObject({ sessionId, userId: 'bob', messageId: sent.id });

    expect((await bob.call('typing:start', { sessionId })).ok).toBe(true);
    expect((await alice.received.waitFor('typing:start'))[0]).toMatchObject({ sessionId, userId: 'bob' });
    expect((await bob.call('typing:stop', { sessionId })).ok).toBe(true);
    expect((await alice.received.waitFor('typing:stop'))[0]).toMatchObject({ sessionId, userId: 'bob' });

    // A REST write on node b reaches the socket on node a.
    const viaRest = await rest(b, 'bob', 'POST', '/messages', { sessionId, content: 'posted over REST on node b' });
    expect(viaRest.status).toBe(201);
    expect((await alice.received.waitFor('message:new', 2))[1]).toEqual(viaRest.body);

    expect((await alice.call('message:delete', { messageId: sent.id })).ok).toBe(true);
    expect((await bob.received.waitFor('message:deleted'))[0]).toMatchObject({ sessionId, messageId: sent.id });

    // Stream chunks from the node running the model (a) to a viewer on node b.
    const started = (await alice.call('stream:request', { sessionId, prompt: 'say something' })).data;
    const [complete] = await bob.received.waitFor('stream:complete', 1, () => true, 15_000);
    expect(complete).toMatchObject({ streamId: started.streamId, messageId: started.messageId });
    const chunks = bob.received.of('stream:chunk').filter((c) => c.id === started.streamId);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.map((c) => c.index)).toEqual(chunks.map((_, i) => i));
    expect(chunks.map((c) => c.delta).join('')).toBe(complete.content);

    expect((await bob.call('session:leave', { sessionId })).ok).toBe(true);
    expect((await alice.received.waitFor('user:left'))[0]).toEqual({ sessionId, userId: 'bob' });

    await sleep(150);
    // Nothing twice: each change reached each socket exactly once.
    const bobNew = bob.received.of('message:new').map((m) => m.id);
    expect(bobNew).toHaveLength(4); // sent, REST, the prompt, the answer
    expect(bobNew.slice(0, 2)).toEqual([sent.id, viaRest.body.id]);
    expect(bobNew[3]).toBe(started.messageId);
    expect(new Set(bob.received.of('message:new').map((m) => m.id)).size).toBe(bob.received.of('message:new').length);
    expect(alice.received.of('message:edited')).toHaveLength(1);
    expect(bob.received.of('message:edited')).toHaveLength(1);
    expect(alice.received.of('message:reaction:update')).toHaveLength(1);
    expect(bob.received.of('typing:start')).toHaveLength(0); // the typist's own tabs are skipped
    expect(bob.received.of('stream:complete')).toHaveLength(1);
    expect(alice.received.of('user:joined').filter((e) => e.userId === 'bob')).toHaveLength(1);
  });

  it('one rate-limit budget per user across nodes: the 31st send is refused even when sends alternate nodes', async () => {
    const sessionId = await createSession(a, 'rl-owner', ['rl-user']);
    const onA = await connectTab(a, 'rl-user');
    const onB = await connectTab(b, 'rl-user');
    for (let i = 0; i < 30; i++) {
      const ack = await (i % 2 === 0 ? onA : onB).call('message:send', { sessionId, content: `msg ${i}` });
      expect(ack.ok, `send ${i + 1}: ${JSON.stringify(ack)}`).toBe(true);
    }
    const refusedA = await onA.call('message:send', { sessionId, content: 'one too many' });
    expect(refusedA.ok).toBe(false);
    expect(refusedA.error).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: expect.any(Number) });
    const refusedB = await onB.call('message:send', { sessionId, content: 'one too many, other node' });
    expect(refusedB.error).toMatchObject({ code: 'RATE_LIMITED' });
    // …and over REST on either node: one budget whichever binding.
    expect((await rest(b, 'rl-user', 'POST', '/messages', { sessionId, content: 'rest too' })).status).toBe(429);
    // Another user's budget is untouched.
    expect((await rest(a, 'rl-owner', 'POST', '/messages', { sessionId, content: 'owner is fine' })).status).toBe(201);
    const history = await rest(b, 'rl-owner', 'GET', `/sessions/${sessionId}/messages?limit=100&offset=0`);
    expect(history.body.messages.filter((m: any) => m.userId === 'rl-user')).toHaveLength(30);
  });

  it('presence and user:joined/left count tabs on both nodes: offline only when the last tab anywhere closes', async () => {
    const sessionId = await createSession(a, 'carol', ['dave']);
    const carol = await joined(a, 'carol', sessionId);
    const tab1 = await joined(a, 'dave', sessionId);
    await carol.received.waitFor('presence:update', 1, (p) => p.userId === 'dave' && p.status === 'online');
    const tab2 = await joined(b, 'dave', sessionId);
    const presenceOf = async (node: NodeProcess) =>
      (await rest(node, 'carol', 'GET', `/sessions/${sessionId}/presence`)).body.presence.find((p: any) => p.userId === 'dave')?.status;
    expect(await presenceOf(a)).toBe('online');
    expect(await presenceOf(b)).toBe('online');

    await tab1.close();
    await sleep(400);
    expect(await presenceOf(a)).toBe('online');
    expect(await presenceOf(b)).toBe('online');
    expect(carol.received.of('presence:update').filter((p) => p.userId === 'dave' && p.status === 'offline')).toEqual([]);
    expect(carol.received.of('user:left')).toEqual([]);

    await tab2.close();
    await carol.received.waitFor('presence:update', 1, (p) => p.userId === 'dave' && p.status === 'offline');
    expect(await carol.received.waitFor('user:left')).toEqual([{ sessionId, userId: 'dave' }]);
    expect(carol.received.of('presence:update').filter((p) => p.userId === 'dave').map((p) => p.status)).toEqual(['online', 'offline']);
    expect(carol.received.of('user:joined').filter((e) => e.userId === 'dave')).toHaveLength(1);
    expect(await presenceOf(a)).toBe('offline');
    expect(await presenceOf(b)).toBe('offline');
  });

  it('stream:stop sent to the node that is not streaming stops the stream; status and metrics read from either node', async () => {
    const sessionId = await createSession(a, 'erin', ['frank']);
    const erinOnA = await joined(a, 'erin', sessionId);
    const erinOnB = await joined(b, 'erin', sessionId);
    const frank = await joined(b, 'frank', sessionId);
    const ack = await erinOnA.call('stream:request', { sessionId, prompt: 'tell me a long story please' });
    expect(ack.ok, JSON.stringify(ack)).toBe(true);
    const { streamId, messageId } = ack.data;
    await frank.received.waitFor('stream:chunk', 3, (c) => c.id === streamId);
    // Another node reads the `chat_streams` row, which says `streaming` from the first flush on
    // (STREAM_FLUSH_MS; until then it says `pending` although tokens already flow).
    await until(async () => (await rest(b, 'erin', 'GET', `/streams/${streamId}/status`)).body.status === 'streaming', 3000, 'status streaming on node b');

    const stop = await erinOnB.call('stream:stop', { streamId }); // node b does not run it
    expect(stop.ok, JSON.stringify(stop)).toBe(true);
    const [stopped] = await frank.received.waitFor('stream:stopped', 1, (e) => e.streamId === streamId);
    await erinOnA.received.waitFor('stream:stopped', 1, (e) => e.streamId === streamId);
    expect(stopped).toMatchObject({ streamId, sessionId, messageId });
    expect(stopped.content.length).toBeGreaterThan(0);
    const deltas = frank.received.of('stream:chunk').filter((c) => c.id === streamId).map((c) => c.delta).join('');
    expect(deltas).toBe(stopped.content);
    expect(frank.received.of('stream:complete')).toEqual([]);

    for (const node of [a, b]) {
      const status = await rest(node, 'frank', 'GET', `/streams/${streamId}/status`);
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({ streamId, sessionId, messageId, status: 'stopped' });
      const metrics = await rest(node, 'frank', 'GET', `/streams/${streamId}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.body).toMatchObject({ streamId, totalTokens: expect.any(Number) });
      expect(metrics.body.totalTokens).toBeGreaterThan(0);
      const answer = await rest(node, 'frank', 'GET', `/messages/${messageId}`);
      expect(answer.body).toMatchObject({ content: stopped.content, metadata: expect.objectContaining({ status: 'stopped' }) });
    }
  });
});

describe.skipIf(skipReason)('a node killed mid-answer (SIGKILL)', () => {
  const resources = new RunResources();
  let victim: NodeProcess;
  let survivor: NodeProcess;

  beforeAll(async () => {
    [victim, survivor] = await Promise.all([
      spawnNode({ resources, nodeId: 'victim', env: NODE_ENV }),
      spawnNode({ resources, nodeId: 'survivor', env: NODE_ENV }),
    ]);
  });
  afterAll(async () => {
    closeAllTabs();
    await Promise.all([victim?.kill('SIGKILL'), survivor?.kill('SIGTERM')]);
    await killAllNodes();
    await resources.dispose();
  });

  it('the survivor closes the stream as error with its partial text; a client of the dead node replays through the survivor, nothing lost, nothing twice', async () => {
    const sessionId = await createSession(survivor, 'gina', ['hank', 'ivy']);
    const gina = await joined(victim, 'gina', sessionId);
    const hank = await connectTab(victim, 'hank', { reconnection: false });
    expect((await hank.call('session:join', { sessionId })).ok).toBe(true);
    const ivy = await joined(survivor, 'ivy', sessionId);

    await gina.call('message:send', { sessionId, content: 'before the crash' });
    const ack = await gina.call('stream:request', { sessionId, prompt: 'write a long answer that takes a while' });
    expect(ack.ok, JSON.stringify(ack)).toBe(true);
    const { streamId, messageId } = ack.data;
    await ivy.received.waitFor('stream:chunk', 6, (c) => c.id === streamId);
    await hank.received.waitFor('stream:chunk', 6, (c) => c.id === streamId);
    await sleep(300); // past a flush (STREAM_FLUSH_MS=200): Postgres holds some of the answer
    const statusBefore = await rest(survivor, 'ivy', 'GET', `/streams/${streamId}/status`);
    expect(statusBefore.body.status).toBe('streaming');

    const hankLastSeq = highestSeq(hank, sessionId);
    const hankSawBefore = hank.received.of('message:new').map((m) => m.id);
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.exited;
    await until(() => hank.socket.disconnected, 5000, 'hank disconnected');

    // While the victim is down, the conversation goes on through the survivor.
    const during = [];
    for (const content of ['while node a was down', 'still down']) {
      const sent = await ivy.call('message:send', { sessionId, content });
      expect(sent.ok).toBe(true);
      during.push(sent.data);
    }

    // The lease (1.5 s) runs out: the survivor closes the stream as `error`, partial text kept.
    await until(async () => (await rest(survivor, 'ivy', 'GET', `/streams/${streamId}/status`)).body.status !== 'streaming', 8000, 'stream closed by the survivor');
    const closedAfter = Date.now() - killedAt;
    const status = (await rest(survivor, 'ivy', 'GET', `/streams/${streamId}/status`)).body;
    expect(status).toMatchObject({ streamId, sessionId, messageId, status: 'error' });
    const [streamError] = await ivy.received.waitFor('stream:error', 1, (e) => e.streamId === streamId);
    expect(streamError).toMatchObject({ streamId, sessionId, messageId, code: 'UNAVAILABLE' });
    expect(closedAfter).toBeLessThan(6000);

    const answer = (await rest(survivor, 'ivy', 'GET', `/messages/${messageId}`)).body;
    expect(answer.metadata.status).toBe('error');
    expect(answer.content.length).toBeGreaterThan(0);
    const seenByIvy = ivy.received.of('stream:chunk').filter((c) => c.id === streamId).map((c) => c.delta).join('');
    // What was flushed before the crash: a prefix of what viewers saw (at most one flush interval is lost).
    expect(seenByIvy.startsWith(answer.content)).toBe(true);
    const history = (await rest(survivor, 'ivy', 'GET', `/sessions/${sessionId}/messages?limit=100&offset=0`)).body.messages;
    expect(history.find((m: any) => m.id === messageId)).toMatchObject({ content: answer.content, metadata: expect.objectContaining({ status: 'error' }) });
    expect(history.some((m: any) => m.metadata?.status === 'streaming')).toBe(false);

    // Hank's client reconnects — to the survivor — with the highest seq it saw.
    const hankAgain = await joined(survivor, 'hank', sessionId, hankLastSeq);
    const [synced] = await hankAgain.received.waitFor('session:synced');
    expect(synced).toMatchObject({ sessionId, gap: false });
    const replayedNew = hankAgain.received.of('message:new').map((m) => m.id);
    expect(replayedNew).toEqual(during.map((m) => m.id)); // exactly what it missed, in order
    const replayedEdits = hankAgain.received.of('message:edited');
    expect(replayedEdits.map((m) => m.id)).toEqual([messageId]);
    expect(replayedEdits[0]).toMatchObject({ content: answer.content, metadata: expect.objectContaining({ status: 'error' }) });
    // Nothing lost, nothing twice: before + replay = the whole history, each message once.
    const all = [...hankSawBefore, ...replayedNew];
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual(history.map((m: any) => m.id).sort());
    expect(synced.seq).toBe(Math.max(...history.map((m: any) => m.changeSeq)));

    // Presence: gina's only tab was on the dead node; the survivor counts sockets cluster-wide, so
    // she reads as offline, and — the dead node missed three heartbeats (300 ms each) — the
    // survivor sends what her disconnect would have: user:left, then presence:update offline, once.
    const presence = (await rest(survivor, 'ivy', 'GET', `/sessions/${sessionId}/presence`)).body.presence;
    expect(presence.find((p: any) => p.userId === 'gina')?.status).toBe('offline');
    await ivy.received.waitFor('presence:update', 1, (p) => p.userId === 'gina' && p.status === 'offline');
    const offlineAfter = Date.now() - killedAt;
    expect(ivy.received.of('user:left').filter((e) => e.userId === 'gina')).toEqual([{ sessionId, userId: 'gina' }]);
    await sleep(700); // two more heartbeats: nothing is announced twice
    expect(ivy.received.of('presence:update').filter((p) => p.userId === 'gina' && p.status === 'offline')).toHaveLength(1);
    // hank reconnected to the survivor: whatever was said of him while he was away, he is online now
    expect(ivy.received.of('presence:update').filter((p) => p.userId === 'hank').at(-1)?.status ?? 'online').toBe('online');
    console.info(`[cluster] stream closed ${closedAfter} ms after SIGKILL; presence:update offline for gina ${offlineAfter} ms after it`);

    // The survivor keeps serving: a new message reaches everyone still connected.
    const after = (await ivy.call('message:send', { sessionId, content: 'after recovery' })).data;
    await hankAgain.received.waitFor('message:new', 1, (m) => m.id === after.id);
  });
});
