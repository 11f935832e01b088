import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAICompatibleProvider } from 'parley-chat/openai';
import { LlmProviderError, type LlmRequest } from '../../src/ports/llm.js';
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.js';
import { answer, sseTranscript } from './transcripts/index.js';

const LOOKUP = { name: 'lookupOrder', description: 'Order status by id', inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] } };
const FILES = [
  'openai-text.sse',
  'openai-tool-call.sse',
  'openai-parallel-tool-calls.sse',
  'openai-error-mid-stream.sse',
  'vllm-tool-call.sse',
  'ollama-tool-call.sse',
  'llamacpp-tool-call.sse',
];

describe('OpenAICompatibleProvider: tools, on recorded streams', () => {
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI({ transcripts: FILES.map((file) => sseTranscript(file, { delayMs: 1 })) });
  });
  afterAll(() => fake.close());

  const ask = (model: string, request: Partial<LlmRequest> = {}) =>
    answer(new OpenAICompatibleProvider({ baseURL: fake.baseURL, model }), { messages: [{ role: 'user', content: 'Where is A-1042?' }], tools: [LOOKUP], ...request });

  it('text: the deltas make the answer, usage from the last chunk', async () => {
    const result = await ask('openai-text');
    expect(result).toMatchObject({ text: 'Order A-1042 has shipped.', toolCalls: [], finishReason: 'stop', error: undefined });
    expect(result.usage).toEqual({ promptTokens: 112, completionTokens: 7, totalTokens: 119 });
  });

  it('one tool call streamed in pieces: id and name once, the argument text reassembled', async () => {
    const result = await ask('openai-tool-call');
    expect(result.error).toBeUndefined();
    expect(result.text).toBe('');
    expect(result.toolCalls).toEqual([{ id: 'call_Qk7X2mV9pLr4TnB8sWc1YdHe', name: 'lookupOrder', arguments: '{"orderId":"A-1042"}' }]);
    expect(result.finishReason).toBe('tool_calls');
    expect(result.usage).toEqual({ promptTokens: 71, completionTokens: 17, totalTokens: 88 });
  });

  it('two parallel tool calls are kept apart by index', async () => {
    const result = await ask('openai-parallel-tool-calls');
    expect(result.toolCalls.map((c) => [c.id, c.name, JSON.parse(c.arguments)])).toEqual([
      ['call_Hn3Wm8Kp2Lq9Rt4Vx7Yz1Ab5', 'lookupOrder', { orderId: 'A-1042' }],
      ['call_Jp6Xn1Mq4Sr8Tw2Yb5Zc9De3', 'lookupOrder', { orderId: 'B-77' }],
    ]);
    expect(result.usage?.promptTokens).toBe(84);
  });

  it.each(['vllm-tool-call', 'ollama-tool-call', 'llamacpp-tool-call'])('%s: the same call, in that server\'s shape', async (name) => {
    const result = await ask(name);
    expect(result.error).toBeUndefined();
    expect(result.toolCalls).toHaveLength(1);
    expect(result.toolCalls[0]).toMatchObject({ name: 'lookupOrder' });
    expect(result.toolCalls[0]!.id).not.toBe('');
    expect(JSON.parse(result.toolCalls[0]!.arguments)).toEqual({ orderId: 'A-1042' });
    expect(result.finishReason).toBe('tool_calls');
    expect(result.usage?.promptTokens).toBeGreaterThan(0);
  });

  it('an error mid-stream throws after the text so far, retryable when the upstream says server_error', async () => {
    const result = await ask('openai-error-mid-stream');
    expect(result.text).toBe('Let me check');
    expect(result.error).toBeInstanceOf(LlmProviderError);
    expect((result.error as LlmProviderError).retryable).toBe(true);
  });

  it("sends tools, tool calls and tool results in OpenAI's shape", async () => {
    await ask('openai-text', {
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Where is A-1042?' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'lookupOrder', arguments: '{"orderId":"A-1042"}' }] },
        { role: 'tool', toolCallId: 'call_1', toolName: 'lookupOrder', content: '{"status":"shipped"}' },
      ],
    });
    const body = fake.requests.at(-1)!.body;
    expect(body.tools).toEqual([{ type: 'function', function: { name: 'lookupOrder', description: 'Order status by id', parameters: LOOKUP.inputSchema } }]);
    expect(body.stream_options).toEqual({ include_usage: true });
    expect(body.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Where is A-1042?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookupOrder', arguments: '{"orderId":"A-1042"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"status":"shipped"}' },
    ]);
  });

  it('sends no tools field when the request has none', async () => {
    await ask('openai-text', { tools: [] });
    expect(fake.requests.at(-1)!.body).not.toHaveProperty('tools');
  });
});
