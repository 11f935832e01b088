import { createServer } from 'node:http';
import { ChatEngine, MemoryStorage, type LlmProvider, type StorageAdapter } from 'parley-chat';
import { newId } from '../../src/ids.js';
import { Server } from 'socket.io';
import { afterEach, describe, expect, it } from 'vitest';
import { call, startChatApp, tokenFor, type ChatApp } from '../express/harness.js';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { closeAll, startChat, until, type ChatFixture, type Tab } from './harness.js';
import { inProcessCluster } from './in-process-cluster-adapter.js';

/**
 * A stream whose node is gone stays `streaming` in storage until its lease runs out. Meanwhile a stop
 * must end it at once (no node claims it, so the node that got the stop commits it as stopped, with
 * the text it last flushed), and joining members must not be offered it as running. A stream on a
 * live node is still stopped by that node, with its newest text.
 */
const clusters: ReturnType<typeof inProcessCluster>[] = [];
const apps: ChatApp[] = [];
const extraServers: Server[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
  for (const io of extraServers.splice(0)) await new Promise<void>((resolve) => io.close(() => resolve()));
  await closeAll();
  for (const c of clusters.splice(0)) c.close();
});

/** Says a few words, then waits (as a model thinking) until stopped. */
const wordsThenThinking = (words: string[]): LlmProvider => ({
  name: 'words-then-thinking',
  async *stream(_request, signal) {
    for (const word of words) yield { text: word };
    await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
  },
});

async function cluster(nodes: number, storage: StorageAdapter): Promise<ChatFixture[]> {
  const c = inProcessCluster();
  clusters.push(c);
  const fixtures: ChatFixture[] = [];
  for (let i = 0; i < nodes; i++) {
    fixtures.push(
      await startChat({
        storage,
        server: { adapter: c.adapter as never },
        // Nothing is flushed during a test: storage holds only what the stream started with.
        engineOptions: { llm: wordsThenThinking(['one ', 'two ', 'three ']), streamFlushIntervalMs: 60_000 },
      }),
    );
  }
  for (const f of fixtures) await until(async () => (await f.io.of('/chat').adapter.serverCount()) === nodes, 5000, 'cluster formed');
  return fixtures;
}

/** What a node that died mid-answer leaves: a running stream row last written `ageMs` ago, with the text it had flushed. */
async function orphanedStream(storage: StorageAdapter, sessionId: string, ageMs: number, content: string) {
  const at = new Date(Date.now() - ageMs);
  const streamId = newId();
  const messageId = newId();
  const promptMessageId = newId();
  const base = { sessionId, tokens: null, parentMessageId: null, clientMessageId: null, attachments: [], at };
  await storage.createStream({
    stream: { id: streamId, sessionId, messageId, promptMessageId, userId: 'alice', agentId: null, model: 'm', maxTokens: null, nodeId: 'node-that-died', at },
    messages: [
      { ...base, id: promptMessageId, userId: 'alice', agentId: null, role: 'user', content: 'question', metadata: null },
      { ...base, id: messageId, userId: null, agentId: null, role: 'assistant', content: '', metadata: { status: 'streaming', streamId } },
    ],
  });
  await storage.updateStream(streamId, { status: 'streaming', tokensGenerated: 3, at }, { patch: { content, at }, bumpSeq: false });
  return { streamId, messageId };
}

async function joinedTab(f: ChatFixture, userId: string, sessionId: string): Promise<Tab> {
  const tab = await f.connect(userId);
  expect((await tab.call('session:join', { sessionId })).ok).toBe(true);
  await tab.received.waitFor('session:synced');
  return tab;
}

async function restOf(f: ChatFixture): Promise<ChatApp> {
  const app = await startChatApp({ engine: f.engine });
  apps.push(app);
  return app;
}

const stopOverRest = async (app: ChatApp, userId: string, streamId: string) =>
  call(app.base, 'POST', `/streams/${streamId}/stop`, undefined, { token: await tokenFor(userId) });

describe('a stream whose node is gone', () => {
  it('a REST stop answers `stopped` at once and members on every node get stream:stopped with the partial text; joiners get no snapshot of it', async () => {
    const storage = new MemoryStorage();
    const [a, b] = await cluster(2, storage);
    const { id: sessionId } = await a!.engine.createSession({ createdBy: 'alice', memberIds: ['bob', 'carol'] });
    const { streamId, messageId } = await orphanedStream(storage, sessionId, 10_000, 'the partial answer');
    const alice = await joinedTab(a!, 'alice', sessionId);
    const bob = await joinedTab(b!, 'bob', sessionId);
    const carol = await joinedTab(a!, 'carol', sessionId);
    for (const tab of [alice, bob, carol]) expect(tab.received.of('stream:snapshot')).toEqual([]);

    const reply = await stopOverRest(await restOf(a!), 'alice', streamId);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ streamId, messageId, status: 'stopped', finishReason: 'stopped' });
    for (const tab of [alice, bob, carol]) {
      const [stopped] = await tab.received.waitFor('stream:stopped', 1, (e) => e.streamId === streamId);
      expect(stopped).toMatchObject({ streamId, sessionId, messageId, content: 'the partial answer' });
    }
    expect(await storage.getMessage(messageId)).toMatchObject({ content: 'the partial answer', metadata: { status: 'stopped' } });
    expect((await b!.engine.getStreamStatus(streamId, 'bob')).status).toBe('stopped');
    // Announced once, by the node that committed it.
    expect(alice.received.of('stream:stopped')).toHaveLength(1);
    // A second stop is a no-op answering the final status.
    expect((await stopOverRest(await restOf(b!), 'alice', streamId)).body).toMatchObject({ status: 'stopped' });
  });

  it('a node the adapter still counts but that never answers does not keep the stop from ending it', async () => {
    const storage = new MemoryStorage();
    const c = inProcessCluster();
    clusters.push(c);
    const a = await startChat({ storage, server: { adapter: c.adapter as never } });
    // A Socket.io server in the cluster without the chat attached: it hears the stop and never answers.
    const mute = new Server(createServer(), { adapter: c.adapter as never });
    mute.of('/chat');
    extraServers.push(mute);
    await until(async () => (await a.io.of('/chat').adapter.serverCount()) === 2, 5000, 'cluster formed');
    const { id: sessionId } = await a.engine.createSession({ createdBy: 'alice' });
    const { streamId } = await orphanedStream(storage, sessionId, 10_000, 'kept');
    const alice = await joinedTab(a, 'alice', sessionId);
    expect(await a.engine.stopStream(streamId, 'alice')).toMatchObject({ status: 'stopped' });
    expect((await alice.received.waitFor('stream:stopped'))[0]).toMatchObject({ streamId, content: 'kept' });
  });

  it('without any transport (the engine alone), a stop commits it as stopped and announces it', async () => {
    const storage = new MemoryStorage();
    const engine = new ChatEngine({ storage, rateLimits: NO_RATE_LIMITS });
    await engine.init();
    try {
      const { id: sessionId } = await engine.createSession({ createdBy: 'alice' });
      const { streamId } = await orphanedStream(storage, sessionId, 10_000, 'so far');
      expect(await engine.getStreamSnapshots(sessionId, 'alice')).toEqual([]);
      const announced: unknown[] = [];
      engine.on('stream.stopped', (e) => announced.push(e));
      expect(await engine.stopStream(streamId, 'alice')).toMatchObject({ status: 'stopped' });
      expect(announced).toEqual([expect.objectContaining({ streamId, content: 'so far', answer: expect.objectContaining({ metadata: { status: 'stopped', streamId } }) })]);
    } finally {
      await engine.close();
    }
  });
});

describe('a stream on a live node', () => {
  it('is offered to joiners on another node, and a stop sent to another node is done by its own node, with its newest text', async () => {
    const storage = new MemoryStorage();
    const [a, b] = await cluster(2, storage);
    const { id: sessionId } = await a!.engine.createSession({ createdBy: 'alice', memberIds: ['bob', 'carol'] });
    const alice = await joinedTab(a!, 'alice', sessionId);
    const bob = await joinedTab(b!, 'bob', sessionId);
    const asked = await bob.call('stream:request', { sessionId, prompt: 'think about it' });
    expect(asked.ok).toBe(true);
    const { streamId, messageId } = asked.data as { streamId: string; messageId: string };
    const textSoFar = () => alice.received.of('stream:chunk').map((c) => c.delta).join('');
    await alice.received.waitFor('stream:chunk', 1, () => textSoFar() === 'one two three ');
    expect((await storage.getMessage(messageId))!.content).toBe(''); // nothing flushed: only node b has the text

    const carol = await joinedTab(a!, 'carol', sessionId);
    expect(carol.received.of('stream:snapshot')).toEqual([expect.objectContaining({ streamId, messageId })]);

    const reply = await stopOverRest(await restOf(a!), 'bob', streamId);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ streamId, status: 'stopped' });
    for (const tab of [alice, bob, carol]) {
      const [stopped] = await tab.received.waitFor('stream:stopped', 1, (e) => e.streamId === streamId);
      expect(stopped).toMatchObject({ streamId, messageId, content: 'one two three ' });
    }
    expect(await storage.getMessage(messageId)).toMatchObject({ content: 'one two three ', metadata: { status: 'stopped' } });
    expect(b!.engine.activeStreamCount).toBe(0);
  });
});
