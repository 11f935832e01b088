import { ChatEngine, defineTool, MemoryStorage, type AgentConfig, type StreamChunk, type ToolContext } from 'parley-chat';
import { AnthropicProvider } from 'parley-chat/anthropic';
import { OpenAICompatibleProvider } from 'parley-chat/openai';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sseTranscript } from '../llm/transcripts/index.js';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { startFakeOpenAI, type FakeOpenAI, type RecordedRequest, type Transcript } from '../support/fake-openai.js';

/**
 * Agents with tools, end to end: the engine, the real providers, and a local upstream replaying
 * recorded streams. The upstream answers a request with a tool call until it carries a tool result,
 * then with text.
 */
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const toolCall = sseTranscript('openai-tool-call.sse');
const parallel = sseTranscript('openai-parallel-tool-calls.sse');
const text = sseTranscript('openai-text.sse');
const hasToolResult = (request: RecordedRequest) =>
  request.body.messages.some((m: { role: string; content?: unknown }) => m.role === 'tool' || (Array.isArray(m.content) && m.content.some((b: { type?: string }) => b.type === 'tool_result')));
const callThenAnswer = (request: RecordedRequest): Transcript => (hasToolResult(request) ? text : toolCall);

async function setup(agent: AgentConfig, select: (request: RecordedRequest) => Transcript = callThenAnswer, provider: 'openai' | 'anthropic' = 'openai') {
  const upstream: FakeOpenAI = await startFakeOpenAI({ transcripts: {}, select });
  cleanup.push(() => upstream.close());
  const llm =
    provider === 'openai'
      ? new OpenAICompatibleProvider({ baseURL: upstream.baseURL, model: 'gpt-4o-mini' })
      : new AnthropicProvider({ baseURL: upstream.origin, apiKey: 'sk-ant-test', model: 'claude-sonnet-4-5' });
  const engine = new ChatEngine({
    storage: new MemoryStorage(),
    rateLimits: NO_RATE_LIMITS,
    llm,
    agents: { assistant: { systemPrompt: 'You look orders up.', ...agent } },
    streamRetry: { baseDelayMs: 20 },
    streamDelayMs: 10,
  });
  cleanup.push(() => engine.close());
  await engine.init();
  const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
  const chunks: StreamChunk[] = [];
  engine.on('stream.chunk', (c) => chunks.push(c));
  const end = new Promise<{ event: string; payload: any }>((resolve) => {
    for (const event of ['stream.completed', 'stream.stopped', 'stream.error'] as const) engine.on(event, (payload) => resolve({ event, payload }));
  });
  return { upstream, engine, sessionId: session.id, chunks, end };
}

/** A lookupOrder tool that records its calls. */
function lookupTool(execute: (input: { orderId: string }, ctx: ToolContext) => unknown = () => ({ status: 'shipped' })) {
  const calls: { input: { orderId: string }; ctx: ToolContext }[] = [];
  const tool = defineTool({
    description: 'Order status by id',
    input: z.object({ orderId: z.string() }),
    execute: (input, ctx) => {
      calls.push({ input, ctx });
      return execute(input, ctx);
    },
  });
  return { tool, calls };
}

describe('agents with tools, through the engine', () => {
  it('a tool call streamed in pieces runs once as the requester; its result goes back in OpenAI shape; the answer completes', async () => {
    const { tool, calls } = lookupTool();
    const { upstream, engine, sessionId, chunks, end } = await setup({ tools: { lookupOrder: tool }, pricing: { inputPerMTok: 3, outputPerMTok: 15 } });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'Where is A-1042?', userId: 'bob' });
    const result = await end;
    expect(result.event).toBe('stream.completed');

    expect(calls).toHaveLength(1);
    expect(calls[0]!.input).toEqual({ orderId: 'A-1042' });
    expect(calls[0]!.ctx).toMatchObject({ sessionId, userId: 'bob', streamId, agentId: null });
    expect(calls[0]!.ctx.signal.aborted).toBe(false);

    expect(upstream.requests).toHaveLength(2);
    expect(upstream.requests[0]!.body.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'lookupOrder',
          description: 'Order status by id',
          parameters: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] },
        },
      },
    ]);
    expect(upstream.requests[1]!.body.messages.slice(-3)).toEqual([
      { role: 'user', content: 'Where is A-1042?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_Qk7X2mV9pLr4TnB8sWc1YdHe', type: 'function', function: { name: 'lookupOrder', arguments: '{"orderId":"A-1042"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_Qk7X2mV9pLr4TnB8sWc1YdHe', content: '{"status":"shipped"}' },
    ]);

    const answer = await engine.getMessage(messageId);
    expect(answer.content).toBe('Order A-1042 has shipped.');
    expect(chunks.map((c) => c.delta).join('')).toBe(answer.content);
    expect(chunks.filter((c) => c.part).map((c) => c.part)).toEqual([
      { type: 'tool-call', toolCallId: 'call_Qk7X2mV9pLr4TnB8sWc1YdHe', toolName: 'lookupOrder', input: { orderId: 'A-1042' } },
      { type: 'tool-result', toolCallId: 'call_Qk7X2mV9pLr4TnB8sWc1YdHe', toolName: 'lookupOrder', output: { status: 'shipped' } },
    ]);

    const metrics = await engine.getStreamMetrics(streamId, 'bob');
    expect(metrics).toMatchObject({ steps: 2, promptTokens: 71 + 112, completionTokens: 17 + 7, totalTokens: 24 });
    expect(metrics.toolCalls).toEqual([{ toolCallId: 'call_Qk7X2mV9pLr4TnB8sWc1YdHe', toolName: 'lookupOrder', durationMs: expect.any(Number), isError: false }]);
    expect(metrics.cost).toBeCloseTo((183 * 3 + 24 * 15) / 1e6, 12);
    expect(result.payload.metrics).toMatchObject({ steps: 2, promptTokens: 183 });
  });

  it('arguments the schema refuses are not executed: the model gets an error result and answers', async () => {
    let executed = 0;
    const strict = defineTool({
      description: 'Order status by numeric id',
      input: z.object({ orderId: z.number() }),
      execute: () => ++executed,
    });
    const { upstream, engine, sessionId, end } = await setup({ tools: { lookupOrder: strict } });
    const { streamId } = await engine.requestStream({ sessionId, prompt: 'Where is A-1042?', userId: 'alice' });
    expect((await end).event).toBe('stream.completed');
    expect(executed).toBe(0);
    const result = upstream.requests[1]!.body.messages.at(-1);
    expect(result.role).toBe('tool');
    expect(JSON.parse(result.content)).toMatchObject({ error: 'Invalid input', issues: [expect.stringContaining('orderId')] });
    expect((await engine.getStreamMetrics(streamId)).toolCalls[0]).toMatchObject({ isError: true });
  });

  it('a throw, a timeout and a result over 32 KB each become error results, never a failed answer', async () => {
    const throws = defineTool({ description: 'throws', input: z.object({ orderId: z.string() }), execute: () => { throw new Error('db at 10.0.0.5 refused'); } });
    const slow = defineTool({ description: 'slow', input: z.object({ orderId: z.string() }), execute: () => new Promise(() => {}) });
    const huge = defineTool({ description: 'huge', input: z.object({ orderId: z.string() }), execute: () => 'x'.repeat(40_000) });
    for (const [tool, message] of [[throws, /refused/], [slow, /timed out/], [huge, /larger than 32768 bytes/]] as const) {
      const { upstream, engine, sessionId, chunks, end } = await setup({ tools: { lookupOrder: tool }, toolTimeoutMs: 150 });
      await engine.requestStream({ sessionId, prompt: 'Where is A-1042?', userId: 'alice' });
      expect((await end).event).toBe('stream.completed');
      expect(JSON.parse(upstream.requests[1]!.body.messages.at(-1).content).error).toMatch(message);
      const shown = chunks.find((c) => c.part?.type === 'tool-result')!.part!;
      expect(shown).toMatchObject({ isError: true });
      expect(JSON.stringify(shown)).not.toContain('10.0.0.5'); // members see the kind of failure, not the tool's message
    }
  });

  it('maxSteps reached: the answer ends with finishReason max-steps, and the last step\'s calls are not run', async () => {
    const { tool, calls } = lookupTool();
    const { upstream, engine, sessionId, end } = await setup({ tools: { lookupOrder: tool }, maxSteps: 2 }, () => toolCall);
    const { streamId } = await engine.requestStream({ sessionId, prompt: 'Loop', userId: 'alice' });
    const result = await end;
    expect(result.event).toBe('stream.completed');
    expect(result.payload.finishReason).toBe('max-steps');
    expect(upstream.requests).toHaveLength(2);
    expect(calls).toHaveLength(1);
    expect(await engine.getStreamStatus(streamId)).toMatchObject({ status: 'completed', finishReason: 'max-steps' });
  });

  it('several tool calls of one step run concurrently, and both results go back', async () => {
    let running = 0;
    let most = 0;
    const { tool, calls } = lookupTool(async ({ orderId }) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 100));
      running--;
      return { orderId, status: 'shipped' };
    });
    const { upstream, engine, sessionId, end } = await setup({ tools: { lookupOrder: tool } }, (r) => (hasToolResult(r) ? text : parallel));
    await engine.requestStream({ sessionId, prompt: 'Both orders?', userId: 'alice' });
    expect((await end).event).toBe('stream.completed');
    expect(calls.map((c) => c.input.orderId)).toEqual(['A-1042', 'B-77']);
    expect(most).toBe(2);
    expect(upstream.requests[1]!.body.messages.slice(-2).map((m: { tool_call_id: string }) => m.tool_call_id)).toEqual([
      'call_Hn3Wm8Kp2Lq9Rt4Vx7Yz1Ab5',
      'call_Jp6Xn1Mq4Sr8Tw2Yb5Zc9De3',
    ]);
  });

  it('stop during a slow tool aborts its signal within a second; the answer is stopped and the model not called again', async () => {
    let aborted: number | undefined;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const { tool } = lookupTool(
      (_, { signal }) =>
        new Promise((_, reject) => {
          started();
          signal.addEventListener('abort', () => {
            aborted = Date.now();
            reject(signal.reason);
          });
        }),
    );
    const { upstream, engine, sessionId, end } = await setup({ tools: { lookupOrder: tool } });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'Where is A-1042?', userId: 'alice' });
    await running;
    const stoppedAt = Date.now();
    await engine.stopStream(streamId, 'alice');
    expect(aborted).toBeDefined();
    expect(aborted! - stoppedAt).toBeLessThan(1000);
    expect((await end).event).toBe('stream.stopped');
    expect(upstream.requests).toHaveLength(1);
    expect((await engine.getMessage(messageId)).metadata).toMatchObject({ status: 'stopped' });
    expect(await engine.getStreamStatus(streamId)).toMatchObject({ status: 'stopped', finishReason: 'stopped' });
  });

  it('with the Anthropic provider, the result goes back as a tool_result block', async () => {
    const { tool, calls } = lookupTool();
    const anthropicCall = sseTranscript('anthropic-tool-call.sse');
    const anthropicText = sseTranscript('anthropic-text.sse');
    const { upstream, engine, sessionId, end } = await setup({ tools: { lookupOrder: tool } }, (r) => (hasToolResult(r) ? anthropicText : anthropicCall), 'anthropic');
    const { messageId } = await engine.requestStream({ sessionId, prompt: 'Where is A-1042?', userId: 'alice' });
    expect((await end).event).toBe('stream.completed');
    expect(calls.map((c) => c.input)).toEqual([{ orderId: 'A-1042' }]);
    const second = upstream.requests[1]!.body;
    expect(second.system).toBe('You look orders up.');
    expect(second.messages.slice(-2)).toEqual([
      {
        role: 'assistant',
        content: [
          { type: 'text', text: "I'll look up that order." },
          { type: 'tool_use', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'lookupOrder', input: { orderId: 'A-1042' } },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', content: '{"status":"shipped"}' }] },
    ]);
    expect((await engine.getMessage(messageId)).content).toBe("I'll look up that order.\n\nOrder A-1042 has shipped.");
  });

  it('a tool name the upstreams refuse fails the request before anything is stored', async () => {
    const { tool } = lookupTool();
    const { engine, sessionId } = await setup({ tools: { 'look up order': tool } });
    await expect(engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' })).rejects.toMatchObject({ code: 'INTERNAL' });
    expect((await engine.getMessageHistory(sessionId, 'alice', { limit: 10, offset: 0 })).total).toBe(0);
  });
});

describe('defineTool', () => {
  it('refuses an input that is not a zod object schema, when the tool is defined', () => {
    expect(() => defineTool({ description: 'x', input: z.string() as never, execute: () => null })).toThrow(/z\.object/);
    expect(() => defineTool({ description: 'x', input: { parse: () => ({}) } as never, execute: () => null })).toThrow(/zod 4 schema/);
  });
});
