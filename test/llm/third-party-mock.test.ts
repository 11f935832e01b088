import { LLMock } from '@copilotkit/aimock';
import { ChatEngine, defineTool, MemoryStorage, type AgentConfig, type LlmProvider, type StreamChunk } from 'parley-chat';
import { AnthropicProvider } from 'parley-chat/anthropic';
import { OpenAICompatibleProvider } from 'parley-chat/openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NO_RATE_LIMITS } from '../support/engine.js';

/**
 * Our providers against an upstream mock nobody on this project wrote (`@copilotkit/aimock`, which
 * checks its own shapes against the real APIs daily). Our own transcripts are recorded bytes; this
 * catches shape assumptions those recordings happen not to exercise: other ids, other chunking,
 * where usage arrives, how a tool result is matched in the next request.
 */
let mock: LLMock;
beforeAll(async () => {
  mock = new LLMock({ port: 0, host: '127.0.0.1', logLevel: 'silent' });
  mock.onMessage('Say hello', { content: 'Hello from a **third-party** mock.' });
  mock.on({ userMessage: 'Where is A-1042?', hasToolResult: false }, { toolCalls: [{ name: 'lookupOrder', arguments: { orderId: 'A-1042' } }] });
  mock.on({ userMessage: 'Where is A-1042?', hasToolResult: true }, { content: 'Order A-1042 has shipped.' });
  mock.on({ userMessage: 'Both orders?', hasToolResult: false }, {
    toolCalls: [
      { name: 'lookupOrder', arguments: { orderId: 'A-1042' } },
      { name: 'lookupOrder', arguments: { orderId: 'B-77' } },
    ],
  });
  mock.on({ userMessage: 'Both orders?', hasToolResult: true }, { content: 'Both have shipped.' });
  await mock.start();
});
afterAll(() => mock?.stop());

const providers: Record<string, () => LlmProvider> = {
  'OpenAI-compatible': () => new OpenAICompatibleProvider({ baseURL: `${mock.url}/v1`, apiKey: 'mock', model: 'gpt-4o-mini' }),
  Anthropic: () => new AnthropicProvider({ baseURL: mock.url, apiKey: 'mock', model: 'claude-sonnet-4-5' }),
};

async function ask(llm: LlmProvider, prompt: string, agent: AgentConfig = {}) {
  const engine = new ChatEngine({
    storage: new MemoryStorage(),
    rateLimits: NO_RATE_LIMITS,
    llm,
    agents: { assistant: { systemPrompt: 'You look orders up.', ...agent } },
    streamDelayMs: 5,
  });
  await engine.init();
  try {
    const session = await engine.createSession({ createdBy: 'alice' });
    const chunks: StreamChunk[] = [];
    engine.on('stream.chunk', (c) => chunks.push(c));
    const end = new Promise<string>((resolve) => {
      for (const event of ['stream.completed', 'stream.stopped', 'stream.error'] as const) engine.on(event, () => resolve(event));
    });
    const { streamId, messageId } = await engine.requestStream({ sessionId: session.id, prompt, userId: 'alice' });
    const event = await end;
    const answer = await engine.getMessage(messageId);
    const metrics = await engine.getStreamMetrics(streamId);
    return { event, answer, metrics, chunks };
  } finally {
    await engine.close();
  }
}

function orderTool() {
  const calls: { orderId: string }[] = [];
  const tool = defineTool({
    description: 'Order status by id',
    input: z.object({ orderId: z.string() }),
    execute: async (input) => {
      calls.push(input);
      return { orderId: input.orderId, status: 'shipped' };
    },
  });
  return { tool, calls };
}

describe.each(Object.keys(providers))('%s provider against aimock', (name) => {
  it('streams a text answer into one stored message', async () => {
    const { event, answer, chunks, metrics } = await ask(providers[name]!(), 'Say hello');
    expect(event).toBe('stream.completed');
    // aimock sends OpenAI usage as a last chunk with empty `choices`; its Anthropic stream reports zeros.
    if (name === 'OpenAI-compatible') expect(metrics.promptTokens).toBeGreaterThan(0);
    expect(answer.content).toBe('Hello from a **third-party** mock.');
    expect(chunks.map((c) => c.delta).join('')).toBe(answer.content);
  });

  it('runs a tool call once with the parsed input, sends its result back, and stores the final answer', async () => {
    const { tool, calls } = orderTool();
    const { event, answer, metrics, chunks } = await ask(providers[name]!(), 'Where is A-1042?', { tools: { lookupOrder: tool } });
    expect(event).toBe('stream.completed');
    expect(calls).toEqual([{ orderId: 'A-1042' }]);
    expect(answer.content).toBe('Order A-1042 has shipped.');
    expect(metrics).toMatchObject({ steps: 2, toolCalls: [expect.objectContaining({ toolName: 'lookupOrder', isError: false })] });
    const parts = chunks.flatMap((c) => (c.part ? [c.part] : []));
    expect(parts.map((p) => p.type)).toEqual(['tool-call', 'tool-result']);
    expect(parts[0]!.toolCallId).toBe(parts[1]!.toolCallId);
  });

  it('runs parallel tool calls of one step, each once, and answers after both results', async () => {
    const { tool, calls } = orderTool();
    const { event, answer, metrics } = await ask(providers[name]!(), 'Both orders?', { tools: { lookupOrder: tool } });
    expect(event).toBe('stream.completed');
    expect(calls.map((c) => c.orderId).sort()).toEqual(['A-1042', 'B-77']);
    expect(answer.content).toBe('Both have shipped.');
    expect(metrics.toolCalls).toHaveLength(2);
  });
});
