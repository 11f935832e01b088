import { ChatEngine, defineTool, MemoryStorage, type AgentConfig, type MessagePart, type StorageAdapter } from 'parley-chat';
import { AnthropicProvider } from 'parley-chat/anthropic';
import { OpenAICompatibleProvider } from 'parley-chat/openai';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sseTranscript } from '../llm/transcripts/index.js';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { startFakeOpenAI, type RecordedRequest, type Transcript } from '../support/fake-openai.js';
import { testStorages } from '../support/storages.js';

/**
 * An answer's parts, end to end: the engine over each storage, the real providers, and a local
 * upstream replaying recorded streams (a tool call until the request carries a result, then text).
 */
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const openaiCall = sseTranscript('openai-tool-call.sse');
const openaiText = sseTranscript('openai-text.sse');
const anthropicCall = sseTranscript('anthropic-tool-call.sse');
const anthropicText = sseTranscript('anthropic-text.sse');
const CALL_ID = 'call_Qk7X2mV9pLr4TnB8sWc1YdHe';
const TOOLU_ID = 'toolu_01T1x1fJ34qAmk2tNTrN7Up6';

const hasToolResult = (request: RecordedRequest) =>
  request.body.messages.some((m: { role: string; content?: unknown }) => m.role === 'tool' || (Array.isArray(m.content) && m.content.some((b: { type?: string }) => b.type === 'tool_result')));

interface Setup {
  storage?: StorageAdapter;
  provider?: 'openai' | 'anthropic';
  select?: (request: RecordedRequest) => Transcript;
  execute?: (input: { orderId: string }, ctx: { signal: AbortSignal }) => unknown;
  agent?: AgentConfig;
}

async function setup(options: Setup = {}) {
  const anthropic = options.provider === 'anthropic';
  const select = options.select ?? ((r: RecordedRequest) => (hasToolResult(r) ? (anthropic ? anthropicText : openaiText) : anthropic ? anthropicCall : openaiCall));
  const upstream = await startFakeOpenAI({ transcripts: {}, select });
  cleanup.push(() => upstream.close());
  const llm = anthropic
    ? new AnthropicProvider({ baseURL: upstream.origin, apiKey: 'sk-ant-test', model: 'claude-sonnet-4-5' })
    : new OpenAICompatibleProvider({ baseURL: upstream.baseURL, model: 'gpt-4o-mini' });
  const lookupOrder = defineTool({
    description: 'Order status by id',
    input: z.object({ orderId: z.string() }),
    execute: (input, ctx) => (options.execute ? options.execute(input, ctx) : { status: 'shipped' }),
  });
  const storage = options.storage ?? new MemoryStorage();
  const engine = new ChatEngine({
    storage,
    rateLimits: NO_RATE_LIMITS,
    llm,
    agents: { assistant: { systemPrompt: 'You look orders up.', tools: { lookupOrder }, ...options.agent } },
    streamRetry: { baseDelayMs: 20 },
    streamDelayMs: 10,
  });
  cleanup.push(() => engine.close());
  await engine.init();
  const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
  const ended = () =>
    new Promise<{ event: string; payload: any }>((resolve) => {
      for (const event of ['stream.completed', 'stream.stopped', 'stream.error'] as const) engine.once(event, (payload) => resolve({ event, payload }));
    });
  return { upstream, engine, storage, sessionId: session.id, ended };
}

const SHIPPED: MessagePart[] = [
  { type: 'tool-call', toolCallId: CALL_ID, toolName: 'lookupOrder', input: { orderId: 'A-1042' } },
  { type: 'tool-result', toolCallId: CALL_ID, toolName: 'lookupOrder', output: { status: 'shipped' } },
  { type: 'text', text: 'Order A-1042 has shipped.' },
];

describe("an answer's parts", async () => {
  for (const { name, create, skip } of await testStorages('answer-parts')) {
    it.skipIf(skip !== undefined)(`${name}: stored with the answer and returned by getMessage, history, replay and stream.completed`, async () => {
      const { engine, storage, sessionId, ended } = await setup({ storage: create() });
      const end = ended();
      const { messageId, promptMessageId } = await engine.requestStream({ sessionId, prompt: 'Where is A-1042?', userId: 'bob' });
      const { event, payload } = await end;
      expect(event).toBe('stream.completed');
      expect(payload.parts).toEqual(SHIPPED);
      expect(payload.answer.parts).toEqual(SHIPPED);

      const answer = await engine.getMessage(messageId);
      expect(answer.content).toBe('Order A-1042 has shipped.');
      expect(answer.parts).toEqual(SHIPPED);
      const history = await engine.getMessageHistory(sessionId, 'alice', { limit: 10, offset: 0 });
      expect(history.messages.find((m) => m.id === messageId)?.parts).toEqual(SHIPPED);
      // A member's message has no parts at all (not an empty list).
      expect(history.messages.find((m) => m.id === promptMessageId)).not.toHaveProperty('parts');
      const replay = await storage.getChangesSince(sessionId, 0, 10);
      expect(replay.find((m) => m.id === messageId)?.parts).toEqual(SHIPPED);
    });
  }

  for (const { name, create, skip } of await testStorages('unstorable-parts')) {
    it.skipIf(skip !== undefined)(`${name}: a tool result with text no database can store (U+0000, a lone surrogate) is kept without it`, async () => {
      const { engine, sessionId, ended } = await setup({ storage: create(), execute: () => ({ 'k\u0000ey': ['a\u0000b', 'half \ud800 pair'] }) });
      const end = ended();
      const { messageId } = await engine.requestStream({ sessionId, prompt: 'Where is A-1042?', userId: 'alice' });
      const { event, payload } = await end;
      expect(event).toBe('stream.completed');
      const output = { key: ['ab', 'half \ufffd pair'] };
      expect(payload.parts[1]).toMatchObject({ type: 'tool-result', output });
      expect((await engine.getMessage(messageId)).parts?.[1]).toMatchObject({ type: 'tool-result', output });
    });
  }

  it("content is the text parts joined; a later step's text is its own part", async () => {
    const { engine, sessionId, ended } = await setup({ provider: 'anthropic' });
    const end = ended();
    const { messageId } = await engine.requestStream({ sessionId, prompt: 'Where is A-1042?', userId: 'alice' });
    expect((await end).event).toBe('stream.completed');
    const answer = await engine.getMessage(messageId);
    expect(answer.parts).toEqual([
      { type: 'text', text: "I'll look up that order." },
      { type: 'tool-call', toolCallId: TOOLU_ID, toolName: 'lookupOrder', input: { orderId: 'A-1042' } },
      { type: 'tool-result', toolCallId: TOOLU_ID, toolName: 'lookupOrder', output: { status: 'shipped' } },
      { type: 'text', text: '\n\nOrder A-1042 has shipped.' },
    ]);
    const text = answer.parts!.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('');
    expect(text).toBe(answer.content);
  });

  it('a stop during a slow tool keeps the parts so far: the call is stored while the tool runs, and its result (stopped) with the stop', async () => {
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const { engine, sessionId, ended } = await setup({
      execute: (_, { signal }) =>
        new Promise((_, reject) => {
          started();
          signal.addEventListener('abort', () => reject(signal.reason));
        }),
    });
    const end = ended();
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'Where is A-1042?', userId: 'alice' });
    await running;
    // Stored while the tool runs: a node that died now would leave the call made.
    await expect.poll(async () => (await engine.getMessage(messageId)).parts).toEqual([SHIPPED[0]]);
    await engine.stopStream(streamId, 'alice');
    const { event, payload } = await end;
    expect(event).toBe('stream.stopped');
    const stopped: MessagePart[] = [SHIPPED[0]!, { type: 'tool-result', toolCallId: CALL_ID, toolName: 'lookupOrder', output: { error: 'Stopped' }, isError: true }];
    expect(payload.parts).toEqual(stopped);
    expect((await engine.getMessage(messageId)).parts).toEqual(stopped);
  });

  it('an upstream failure after a tool round keeps the parts so far: the call, its result and the text that came', async () => {
    const failing = sseTranscript('openai-error-mid-stream.sse');
    const { engine, sessionId, ended } = await setup({ select: (r) => (hasToolResult(r) ? failing : openaiCall) });
    const end = ended();
    const { messageId } = await engine.requestStream({ sessionId, prompt: 'Where is A-1042?', userId: 'alice' });
    const { event, payload } = await end;
    expect(event).toBe('stream.error');
    const kept: MessagePart[] = [SHIPPED[0]!, SHIPPED[1]!, { type: 'text', text: 'Let me check' }];
    expect(payload.answer.parts).toEqual(kept);
    expect(await engine.getMessage(messageId)).toMatchObject({ content: 'Let me check', parts: kept });
  });
});
