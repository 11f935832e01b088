import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicProvider } from 'parley-chat/anthropic';
import { LlmProviderError, type LlmRequest } from '../../src/ports/llm.js';
import { startFakeOpenAI, type FakeOpenAI, type Transcript } from '../support/fake-openai.js';
import { answer, sseTranscript } from './transcripts/index.js';

const KEY = 'sk-ant-api03-test-key';
const LOOKUP = { name: 'lookupOrder', description: 'Order status by id', inputSchema: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] } };
const ANTHROPIC_ERROR = (type: string, message: string) => JSON.stringify({ type: 'error', error: { type, message }, request_id: 'req_011CVtr0Zp4Lm8Qw2Xn6Ys9K' });
const overloaded529: Transcript = {
  name: 'overloaded-529',
  steps: [{ type: 'status', status: 529, headers: { 'content-type': 'application/json', 'retry-after': '2' }, body: ANTHROPIC_ERROR('overloaded_error', 'Overloaded') }],
};
const badRequest: Transcript = {
  name: 'bad-request',
  steps: [{ type: 'status', status: 400, body: ANTHROPIC_ERROR('invalid_request_error', `messages: text content blocks must be non-empty (key ${KEY})`) }],
};
const slow: Transcript = { ...sseTranscript('anthropic-text.sse', { delayMs: 300 }), name: 'slow' };
const cut: Transcript = (() => {
  const full = sseTranscript('anthropic-tool-call.sse');
  return { name: 'cut', steps: [...full.steps.slice(0, 6), { type: 'drop' }] };
})();

describe('AnthropicProvider on recorded Messages API streams', () => {
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI({
      apiKey: KEY,
      transcripts: [
        ...['anthropic-text.sse', 'anthropic-tool-call.sse', 'anthropic-parallel-tool-calls.sse', 'anthropic-overloaded-mid-stream.sse'].map((file) => sseTranscript(file, { delayMs: 1 })),
        overloaded529,
        badRequest,
        slow,
        cut,
      ],
    });
  });
  afterAll(() => fake.close());

  const provider = (model: string) => new AnthropicProvider({ baseURL: fake.origin, apiKey: KEY, model, timeoutMs: 2_000, idleTimeoutMs: 2_000 });
  const ask = (model: string, request: Partial<LlmRequest> = {}, signal?: AbortSignal) =>
    answer(provider(model), { messages: [{ role: 'user', content: 'Where is A-1042?' }], tools: [LOOKUP], ...request }, signal);

  it('text: text_delta pieces make the answer; usage from message_start and message_delta', async () => {
    const result = await ask('anthropic-text');
    expect(result).toMatchObject({ text: 'Order A-1042 has shipped.', toolCalls: [], finishReason: 'end_turn', error: undefined });
    expect(result.usage).toEqual({ promptTokens: 112, completionTokens: 9, totalTokens: 121 });
  });

  it('one tool call after some text: input_json_delta pieces reassemble the input', async () => {
    const result = await ask('anthropic-tool-call');
    expect(result.error).toBeUndefined();
    expect(result.text).toBe("I'll look up that order.");
    expect(result.toolCalls).toEqual([{ id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'lookupOrder', arguments: '{"orderId": "A-1042"}' }]);
    expect(result.finishReason).toBe('tool_use');
    expect(result.usage).toEqual({ promptTokens: 472, completionTokens: 64, totalTokens: 536 });
  });

  it('two parallel tool calls are numbered 0 and 1 by their blocks', async () => {
    const result = await ask('anthropic-parallel-tool-calls');
    expect(result.toolCalls.map((c) => [c.id, JSON.parse(c.arguments)])).toEqual([
      ['toolu_01Bx7nQ2mK8pL4rT6vW9yZ3c', { orderId: 'A-1042' }],
      ['toolu_01Cy8oR3nL9qM5sU7wX0aA4d', { orderId: 'B-77' }],
    ]);
  });

  it('an overloaded_error event mid-stream throws a retryable error after the text so far', async () => {
    const result = await ask('anthropic-overloaded-mid-stream');
    expect(result.text).toBe('Let me check');
    expect(result.error).toBeInstanceOf(LlmProviderError);
    expect((result.error as LlmProviderError).retryable).toBe(true);
    expect((result.error as LlmProviderError).message).toMatch(/overloaded_error/);
  });

  it('HTTP 529 overloaded is retryable; a 400 is not, and the key is redacted from it', async () => {
    const overloaded = (await ask('overloaded-529')).error as LlmProviderError;
    expect(overloaded).toMatchObject({ status: 529, retryable: true });
    expect(overloaded.message).toMatch(/Overloaded \(retry after 2 s\)/);
    const rejected = (await ask('bad-request')).error as LlmProviderError;
    expect(rejected).toMatchObject({ status: 400, retryable: false });
    expect(JSON.stringify(rejected.body) + rejected.message).not.toContain(KEY);
  });

  it('a stream cut before message_stop is a retryable error, never a quiet end', async () => {
    const result = await ask('cut');
    expect((result.error as LlmProviderError).retryable).toBe(true);
  });

  it('abort closes the connection promptly', async () => {
    const controller = new AbortController();
    const pending = ask('slow', {}, controller.signal);
    const request = await fake.waitForRequest(fake.requests.length);
    setTimeout(() => controller.abort(), 100);
    const closed = await request.closed;
    expect(closed.early).toBe(true);
    expect((await pending).error).toBeDefined();
  });

  it('sends system as `system`, tool calls as tool_use, results as tool_result blocks of one user turn', async () => {
    await ask('anthropic-text', {
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Where are A-1042 and B-77?' },
        {
          role: 'assistant',
          content: 'Looking.',
          toolCalls: [
            { id: 'toolu_a', name: 'lookupOrder', arguments: '{"orderId":"A-1042"}' },
            { id: 'toolu_b', name: 'lookupOrder', arguments: '{"orderId":"B-77"}' },
          ],
        },
        { role: 'tool', toolCallId: 'toolu_a', toolName: 'lookupOrder', content: '{"status":"shipped"}' },
        { role: 'tool', toolCallId: 'toolu_b', toolName: 'lookupOrder', content: '{"error":"not found"}', isError: true },
      ],
      maxTokens: 500,
    });
    const request = fake.requests.at(-1)!;
    expect(request.url).toBe('/v1/messages');
    expect(request.headers['x-api-key']).toBe(KEY);
    expect(request.headers['anthropic-version']).toBe('2023-06-01');
    expect(request.body).toEqual({
      model: 'anthropic-text',
      max_tokens: 500,
      system: 'Be brief.',
      tools: [{ name: 'lookupOrder', description: 'Order status by id', input_schema: LOOKUP.inputSchema }],
      stream: true,
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Where are A-1042 and B-77?' }] },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Looking.' },
            { type: 'tool_use', id: 'toolu_a', name: 'lookupOrder', input: { orderId: 'A-1042' } },
            { type: 'tool_use', id: 'toolu_b', name: 'lookupOrder', input: { orderId: 'B-77' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_a', content: '{"status":"shipped"}' },
            { type: 'tool_result', tool_use_id: 'toolu_b', content: '{"error":"not found"}', is_error: true },
          ],
        },
      ],
    });
  });
});
