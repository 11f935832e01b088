import { MemoryStorage, ScriptedProvider } from 'parley-chat';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, startChat, until, type ChatFixture, type Tab } from './harness.js';
import { inProcessCluster } from './in-process-cluster-adapter.js';

/** LLM streaming over the socket: request, chunks, complete, stop, snapshot, errors. */
afterEach(closeAll);

const LONG = Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ');

async function room(f: ChatFixture, ...users: string[]): Promise<{ sessionId: string; tabs: Tab[] }> {
  const { id: sessionId } = await f.engine.createSession({ createdBy: users[0]!, memberIds: users.slice(1) });
  const tabs: Tab[] = [];
  for (const user of users) {
    const tab = await f.connect(user);
    expect((await tab.call('session:join', { sessionId })).ok).toBe(true);
    tabs.push(tab);
  }
  return { sessionId, tabs };
}

const text = (chunks: { delta: string }[]) => chunks.map((c) => c.delta).join('');

describe('socket.io streaming', () => {
  it('stream:request streams coalesced chunks to every member, then stream:complete; the prompt is a message', async () => {
    const f = await startChat({ engineOptions: { llm: new ScriptedProvider({ tokensPerSecond: 300, reply: LONG }), streamDelayMs: 50 } });
    const { sessionId, tabs: [alice, bob] } = await room(f, 'alice', 'bob');
    const ack = await alice!.call('stream:request', { sessionId, prompt: 'Count for me', config: { temperature: 0.2 } });
    expect(ack.ok).toBe(true);
    const { streamId, messageId } = ack.data;
    const [complete] = await bob!.received.waitFor('stream:complete', 1, () => true, 10_000);
    expect(complete).toMatchObject({ streamId, sessionId, messageId, content: LONG });
    expect(complete.seq).toBeGreaterThan(0);
    for (const tab of [alice!, bob!]) {
      const chunks = tab.received.of('stream:chunk').filter((c) => c.id === streamId);
      expect(text(chunks)).toBe(LONG);
      expect(chunks.at(-1)).toMatchObject({ isComplete: true, content: LONG });
      expect(chunks.length).toBeLessThan(300 / 4); // frames per token well under 0.25
      // the prompt arrived as a message, and the answer message was announced
      expect(tab.received.of('message:new').map((m) => m.id)).toContain(messageId);
      expect(tab.received.of('message:new').some((m) => m.content === 'Count for me' && m.userId === 'alice')).toBe(true);
    }
    expect((await f.engine.getMessage(messageId)).content).toBe(LONG);
  });

  it('stream:stop from the requester stops it for everyone and keeps the partial text; others are refused', async () => {
    const f = await startChat({ engineOptions: { llm: new ScriptedProvider({ tokensPerSecond: 40, reply: LONG }) } });
    const { sessionId, tabs: [alice, bob] } = await room(f, 'alice', 'bob');
    const { streamId, messageId } = (await alice!.call('stream:request', { sessionId, prompt: 'go' })).data;
    await bob!.received.waitFor('stream:chunk', 2);
    const refused = await bob!.call('stream:stop', { streamId });
    expect(refused).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    const stopped = await alice!.call('stream:stop', { streamId });
    expect(stopped).toMatchObject({ ok: true, data: { streamId, status: 'stopped' } });
    const [event] = await bob!.received.waitFor('stream:stopped');
    const stored = await f.engine.getMessage(messageId);
    expect(event).toMatchObject({ streamId, messageId, content: stored.content });
    expect(stored.metadata).toMatchObject({ status: 'stopped' });
    expect(text(bob!.received.of('stream:chunk'))).toBe(stored.content);
    expect(bob!.received.of('stream:complete')).toHaveLength(0);
  });

  it('a disconnect never stops a stream', async () => {
    const f = await startChat({ engineOptions: { llm: new ScriptedProvider({ tokensPerSecond: 200, reply: LONG }) } });
    const { sessionId, tabs: [alice, bob] } = await room(f, 'alice', 'bob');
    const { streamId } = (await alice!.call('stream:request', { sessionId, prompt: 'go' })).data;
    await alice!.close();
    const [complete] = await bob!.received.waitFor('stream:complete', 1, () => true, 10_000);
    expect(complete).toMatchObject({ streamId, content: LONG });
  });

  it('a socket joining mid-stream gets a stream:snapshot after the replay, then the rest', async () => {
    const f = await startChat({ engineOptions: { llm: new ScriptedProvider({ tokensPerSecond: 100, reply: LONG }) } });
    const { sessionId, tabs: [alice] } = await room(f, 'alice', 'bob');
    const { streamId } = (await alice!.call('stream:request', { sessionId, prompt: 'go' })).data;
    await alice!.received.waitFor('stream:chunk', 3);
    const late = await f.connect('bob');
    expect((await late.call('session:join', { sessionId })).ok).toBe(true);
    const order = late.received.events.map((e) => e.event);
    expect(order.indexOf('stream:snapshot')).toBeLessThan(order.indexOf('session:synced'));
    const [snapshot] = late.received.of('stream:snapshot');
    expect(snapshot).toMatchObject({ streamId, sessionId });
    expect(snapshot.content.length).toBeGreaterThan(0);
    await alice!.call('stream:stop', { streamId });
    const [stopped] = await late.received.waitFor('stream:stopped');
    // snapshot + the chunks it does not already contain = the whole answer, nothing twice
    const rest = late.received.of('stream:chunk').filter((c) => c.index >= snapshot.index);
    expect(snapshot.content + text(rest)).toBe(stopped.content);
  });

  it('caps answer LIMIT_EXCEEDED and the stream:request budget is the engine’s', async () => {
    const f = await startChat({
      engineOptions: { llm: new ScriptedProvider({ tokensPerSecond: 5, reply: LONG }), maxStreamsPerUser: 1, rateLimits: { 'stream:request': { points: 2, durationMs: 60_000 } } },
    });
    const { sessionId, tabs: [alice] } = await room(f, 'alice');
    expect((await alice!.call('stream:request', { sessionId, prompt: 'one' })).ok).toBe(true);
    expect(await alice!.call('stream:request', { sessionId, prompt: 'two' })).toMatchObject({ ok: false, error: { code: 'LIMIT_EXCEEDED' } });
    expect(await alice!.call('stream:request', { sessionId, prompt: 'three' })).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED' } });
  });

  it('a stop sent to the node that does not run the stream reaches the one that does', async () => {
    const cluster = inProcessCluster();
    try {
      const storage = new MemoryStorage();
      const llm = new ScriptedProvider({ tokensPerSecond: 40, reply: LONG });
      const a = await startChat({ storage, engineOptions: { llm }, server: { adapter: cluster.adapter as never } });
      const b = await startChat({ storage, engineOptions: { llm }, server: { adapter: cluster.adapter as never } });
      await until(async () => (await a.io.of('/chat').adapter.serverCount()) === 2 && (await b.io.of('/chat').adapter.serverCount()) === 2, 3000, 'cluster formed');
      const { id: sessionId } = await a.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
      const onA = await a.connect('alice');
      expect((await onA.call('session:join', { sessionId })).ok).toBe(true);
      const onB = await b.connect('alice');
      expect((await onB.call('session:join', { sessionId })).ok).toBe(true);
      const { streamId, messageId } = (await onA.call('stream:request', { sessionId, prompt: 'go' })).data;
      await onB.received.waitFor('stream:chunk', 2); // chunks cross nodes
      expect(a.engine.activeStreamCount).toBe(1);
      await onB.call('stream:stop', { streamId }); // node b does not run it
      await onB.received.waitFor('stream:stopped');
      expect(a.engine.activeStreamCount).toBe(0);
      expect((await b.engine.getStreamStatus(streamId)).status).toBe('stopped');
      expect((await b.engine.getMessage(messageId)).metadata).toMatchObject({ status: 'stopped' });
    } finally {
      cluster.close();
    }
  });
});
