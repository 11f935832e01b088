import { ChatEngine, MemoryStorage, type LlmProvider, type MessagePart, type StorageAdapter } from 'parley-chat';
import { newId } from '../../src/ids.js';
import { afterEach, describe, expect, it } from 'vitest';
import { NO_RATE_LIMITS } from '../support/engine.js';

/**
 * A process that dies mid-answer leaves a `streaming` row behind. Its lease runs out and any node
 * closes it as `error` with the partial text, once; a live stream keeps its lease even while the
 * upstream stalls.
 */
const engines: ChatEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

function engineOn(storage: StorageAdapter, options: Partial<ConstructorParameters<typeof ChatEngine>[0]> = {}) {
  const engine = new ChatEngine({ storage, rateLimits: NO_RATE_LIMITS, ...options });
  engines.push(engine);
  return engine;
}

/** The parts a crashed node had flushed: its text and a tool call whose result never came. */
const PARTIAL_PARTS: MessagePart[] = [
  { type: 'text', text: 'the partial' },
  { type: 'tool-call', toolCallId: 'call_1', toolName: 'lookupOrder', input: { orderId: 'A-1' } },
];

/** What a crashed node leaves: a running stream row last touched `ageMs` ago, with flushed text. */
async function abandonedStream(storage: StorageAdapter, sessionId: string, ageMs: number) {
  const at = new Date(Date.now() - ageMs);
  const streamId = newId();
  const messageId = newId();
  const promptMessageId = newId();
  const base = { sessionId, tokens: null, parentMessageId: null, clientMessageId: null, attachments: [], at };
  await storage.createStream({
    stream: { id: streamId, sessionId, messageId, promptMessageId, userId: 'alice', agentId: null, model: 'm', maxTokens: null, nodeId: 'dead-node', at },
    messages: [
      { ...base, id: promptMessageId, userId: 'alice', agentId: null, role: 'user', content: 'question', metadata: null },
      { ...base, id: messageId, userId: null, agentId: null, role: 'assistant', content: '', metadata: { status: 'streaming', streamId } },
    ],
  });
  await storage.updateStream(streamId, { status: 'streaming', tokensGenerated: 3, at }, { patch: { content: 'the partial', parts: PARTIAL_PARTS, at }, bumpSeq: false });
  return { streamId, messageId };
}

describe('abandoned streams', () => {
  it('are closed on start-up as error with their partial text, and announced once', async () => {
    const storage = new MemoryStorage();
    const setup = engineOn(storage, { streamLeaseMs: 0 });
    await setup.init();
    const session = await setup.createSession({ createdBy: 'alice' });
    const { streamId, messageId } = await abandonedStream(storage, session.id, 60_000);
    const fresh = await abandonedStream(storage, session.id, 0); // still within its lease

    const a = engineOn(storage, { streamLeaseMs: 30_000 });
    const b = engineOn(storage, { streamLeaseMs: 30_000 });
    const announced: string[] = [];
    const answers: unknown[] = [];
    for (const engine of [a, b]) engine.on('stream.error', (e) => (announced.push(`${e.streamId}:${e.code}`), answers.push(e.answer?.parts)));
    await Promise.all([a.init(), b.init()]);

    expect(announced).toEqual([`${streamId}:UNAVAILABLE`]);
    expect(await storage.getStream(streamId)).toMatchObject({ status: 'error', finishReason: 'node-lost' });
    const answer = await storage.getMessage(messageId);
    expect(answer).toMatchObject({ content: 'the partial', parts: PARTIAL_PARTS, metadata: { status: 'error' } });
    expect(answers).toEqual([PARTIAL_PARTS]); // what stream:error carries to members
    expect(answer!.changeSeq).toBe((await storage.getSession(session.id))!.lastSeq);
    expect((await a.getStreamStatus(streamId)).status).toBe('error');
    expect((await storage.getStream(fresh.streamId))!.status).toBe('streaming');
  });

  it('a live stream keeps its lease while the upstream stalls; another node does not close it', async () => {
    const storage = new MemoryStorage();
    const stalled: LlmProvider = {
      name: 'stalled',
      async *stream(_request, signal) {
        yield { text: 'thinking ' };
        await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
      },
    };
    const runner = engineOn(storage, { llm: stalled, streamLeaseMs: 300 });
    await runner.init();
    const watcher = engineOn(storage, { streamLeaseMs: 300 });
    await watcher.init();
    const session = await runner.createSession({ createdBy: 'alice' });
    const { streamId } = await runner.requestStream({ sessionId: session.id, prompt: 'x', userId: 'alice' });
    await new Promise((r) => setTimeout(r, 1200)); // four leases
    expect((await storage.getStream(streamId))!.status).toBe('streaming');
    expect(await watcher.recoverAbandonedStreams()).toBe(0);
    await runner.stopStream(streamId, 'alice');
    expect((await storage.getStream(streamId))!.status).toBe('stopped');
  });

  it('a stalled stream on a live engine stays fresh (offered to joiners elsewhere); a row its node stopped writing does not', async () => {
    const storage = new MemoryStorage();
    const stalled: LlmProvider = {
      name: 'stalled',
      async *stream(_request, signal) {
        yield { text: 'thinking ' };
        await new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
      },
    };
    // Lease 6 s: a running stream's row is written at least every 600 ms; older than 1.2 s is not fresh.
    const runner = engineOn(storage, { llm: stalled, streamLeaseMs: 6000 });
    await runner.init();
    const watcher = engineOn(storage, { streamLeaseMs: 6000 });
    await watcher.init();
    const session = await runner.createSession({ createdBy: 'alice' });
    const { streamId } = await runner.requestStream({ sessionId: session.id, prompt: 'x', userId: 'alice' });
    await abandonedStream(storage, session.id, 2000); // past freshness, within the lease (the sweep closes it later)
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 250)); // 2.5 s in all: twice the freshness window
      expect((await watcher.getStreamSnapshots(session.id, 'alice')).map((s) => s.streamId)).toEqual([streamId]);
    }
    await runner.stopStream(streamId, 'alice');
  });

  it('heartbeats more frequent than flushes never hold a flush back: the text reaches storage while tokens flow', async () => {
    const storage = new MemoryStorage();
    const steady: LlmProvider = {
      name: 'steady',
      async *stream(_request, signal) {
        for (let i = 0; !signal.aborted; i++) {
          yield { text: `w${i} ` };
          await new Promise((r) => setTimeout(r, 10));
        }
      },
    };
    // Lease 600 ms: a heartbeat tick every 30 ms, while the text is flushed every 200 ms.
    const engine = engineOn(storage, { llm: steady, streamLeaseMs: 600, streamFlushIntervalMs: 200 });
    await engine.init();
    const session = await engine.createSession({ createdBy: 'alice' });
    const { streamId, messageId } = await engine.requestStream({ sessionId: session.id, prompt: 'x', userId: 'alice' });
    for (let i = 0; i < 300 && !(await storage.getMessage(messageId))!.content; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await storage.getMessage(messageId))!.content).toMatch(/^w0 w1 /);
    expect((await storage.getStream(streamId))!.status).toBe('streaming');
    await engine.stopStream(streamId, 'alice');
  });
});
