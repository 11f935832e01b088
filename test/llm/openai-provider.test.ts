import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { OpenAICompatibleProvider, type OpenAICompatibleProviderOptions } from 'parley-chat/openai';
import { LlmProviderError, type LlmDelta, type LlmRequest } from '../../src/ports/llm.js';
import { startFakeOpenAI, type FakeOpenAI, type Transcript } from '../support/fake-openai.js';
import {
  DONE,
  dropMidStream,
  http500,
  immediateFaults,
  keepAliveComments,
  openaiChat,
  recordedTranscripts,
  shapeFor,
  stallAfterHead,
  stallBeforeResponse,
  stallMidStream,
  transcriptFromText,
  type Flavor,
} from '../support/transcripts/index.js';

const USER: LlmRequest = { messages: [{ role: 'user', content: 'Hi!' }] };

interface Outcome {
  deltas: LlmDelta[];
  text: string;
  error: unknown;
  elapsedMs: number;
}

async function collect(
  provider: OpenAICompatibleProvider,
  request: LlmRequest = USER,
  signal: AbortSignal = new AbortController().signal,
): Promise<Outcome> {
  const deltas: LlmDelta[] = [];
  const started = Date.now();
  let error: unknown;
  try {
    for await (const delta of provider.stream(request, signal)) deltas.push(delta);
  } catch (e) {
    error = e;
  }
  return { deltas, text: deltas.map((d) => d.text).join(''), error, elapsedMs: Date.now() - started };
}

function lastUsage(deltas: LlmDelta[]) {
  return deltas.filter((d) => d.usage).at(-1)?.usage;
}

function lastFinish(deltas: LlmDelta[]) {
  return deltas.filter((d) => d.finishReason !== undefined).at(-1)?.finishReason;
}

/** Resolves with `promise`'s value, or fails the test after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what = 'promise'): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('OpenAICompatibleProvider against the fake OpenAI server', () => {
  let fake: FakeOpenAI;
  const slow = transcriptFromText(
    'One two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty.',
    { name: 'slow-20', tokensPerSecond: 20 },
  );
  const fast = transcriptFromText('Quick answer, no waiting at all.', { name: 'fast', tokensPerSecond: Infinity });

  beforeAll(async () => {
    fake = await startFakeOpenAI({
      transcripts: [
        ...recordedTranscripts,
        ...immediateFaults,
        stallMidStream,
        stallBeforeResponse,
        stallAfterHead,
        slow,
        fast,
      ],
    });
  });
  afterAll(async () => {
    await fake.close();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const provider = (options: Partial<OpenAICompatibleProviderOptions> = {}) =>
    new OpenAICompatibleProvider({ baseURL: fake.baseURL, model: 'gpt-4o-mini', ...options });

  describe('recorded transcripts: the deltas concatenate exactly, with the right usage and finish reason', () => {
    it.each(recordedTranscripts.map((t) => [t.name, t] as const))('%s', async (name, transcript) => {
      const expected = transcript.expected!;
      const { deltas, text, error } = await collect(provider({ idleTimeoutMs: 400, timeoutMs: 2_000 }), {
        ...USER,
        model: name,
      });
      expect(error).toBeUndefined();
      expect(text).toBe(expected.text);
      expect(lastFinish(deltas)).toBe(expected.finishReason);
      expect(lastUsage(deltas)).toEqual(expected.usage);
      // Role-only chunks, Azure's prompt filter chunk and keep-alive comments yield nothing.
      for (const d of deltas) expect(d.text !== '' || d.usage !== undefined || d.finishReason !== undefined).toBe(true);
      expect(deltas.filter((d) => d.finishReason !== undefined)).toHaveLength(1);
    });

    it.each(
      (['openai', 'azure', 'vllm', 'ollama', 'llamacpp'] as const).map((flavor) => [flavor] as const),
    )('transcriptFromText in %s shapes', async (flavor) => {
      const t = transcriptFromText('Ünïcödé ✓ — 日本語 👋🏽 and <tags> & "quotes"\nnew line.', {
        name: `from-text-${flavor}`,
        flavor,
        tokensPerSecond: 1000,
        promptTokens: 7,
      });
      const local = await startFakeOpenAI({ transcripts: [t] });
      try {
        const p = new OpenAICompatibleProvider({ baseURL: local.baseURL, model: t.name });
        const { deltas, text, error } = await collect(p);
        expect(error).toBeUndefined();
        expect(text).toBe(t.expected!.text);
        expect(lastUsage(deltas)).toEqual(t.expected!.usage);
        expect(lastFinish(deltas)).toBe('stop');
      } finally {
        await local.close();
      }
    });
  });

  describe('the request', () => {
    it('posts model, messages, stream, stream_options, temperature and max_tokens with a Bearer key', async () => {
      const p = provider({
        apiKey: 'sk-test-123',
        organization: 'org-parley',
        headers: { 'X-Custom': 'yes' },
      });
      const request: LlmRequest = {
        model: 'fast',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hi!' },
          { role: 'assistant', content: 'Hello.' },
          { role: 'user', content: 'Again?' },
        ],
        temperature: 0.3,
        maxTokens: 50,
      };
      const before = fake.requests.length;
      const { error } = await collect(p, request);
      expect(error).toBeUndefined();
      const recorded = fake.requests[before]!;
      expect(recorded.method).toBe('POST');
      expect(recorded.url).toBe('/v1/chat/completions');
      expect(recorded.body).toEqual({
        model: 'fast',
        messages: request.messages,
        stream: true,
        stream_options: { include_usage: true },
        temperature: 0.3,
        max_tokens: 50,
      });
      expect(recorded.headers.authorization).toBe('Bearer sk-test-123');
      expect(recorded.headers['api-key']).toBeUndefined();
      expect(recorded.headers['openai-organization']).toBe('org-parley');
      expect(recorded.headers['x-custom']).toBe('yes');
      expect(recorded.headers['content-type']).toBe('application/json');
      expect(recorded.headers.accept).toBe('text/event-stream');
    });

    it("uses the provider's model when the request names none, and leaves unset fields out", async () => {
      const p = provider({ model: 'fast', includeUsage: false });
      const before = fake.requests.length;
      await collect(p);
      const body = fake.requests[before]!.body;
      expect(body).toEqual({ model: 'fast', messages: USER.messages, stream: true });
      expect(fake.requests[before]!.headers.authorization).toBeUndefined();
      expect(p.defaultModel).toBe('fast');
      expect(p.name).toBe('openai-compatible');
    });

    it('honours maxTokensField and extraBody, but keeps stream and messages', async () => {
      const p = provider({
        model: 'fast',
        maxTokensField: 'max_completion_tokens',
        extraBody: {
          top_p: 0.9,
          keep_alive: '5m',
          stream: false,
          messages: [],
          stream_options: { include_usage: true, continuous_usage_stats: true },
        },
      });
      const before = fake.requests.length;
      await collect(p, { ...USER, maxTokens: 10 });
      expect(fake.requests[before]!.body).toEqual({
        model: 'fast',
        messages: USER.messages,
        stream: true,
        stream_options: { include_usage: true, continuous_usage_stats: true },
        max_completion_tokens: 10,
        top_p: 0.9,
        keep_alive: '5m',
      });
    });

    it('talks to Azure OpenAI with the api-key header and ?api-version=', async () => {
      const p = new OpenAICompatibleProvider({
        baseURL: `${fake.origin}/openai/deployments/gpt4o-prod/`,
        apiKey: 'azure-key-456',
        model: 'azure-chat',
        azure: { apiVersion: '2024-10-21' },
      });
      const before = fake.requests.length;
      const { text, error } = await collect(p);
      expect(error).toBeUndefined();
      expect(text).toBe('Hallo! Wie kann ich Ihnen heute helfen?');
      const recorded = fake.requests[before]!;
      expect(recorded.url).toBe('/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21');
      expect(recorded.headers['api-key']).toBe('azure-key-456');
      expect(recorded.headers.authorization).toBeUndefined();
    });

    it('rejects bad options up front', () => {
      expect(() => new OpenAICompatibleProvider({ baseURL: 'not a url', model: 'm' })).toThrow(TypeError);
      expect(() => new OpenAICompatibleProvider({ baseURL: fake.baseURL, model: '' })).toThrow(TypeError);
      const base = { baseURL: fake.baseURL, model: 'm' };
      expect(() => new OpenAICompatibleProvider({ ...base, idleTimeoutMs: 0 })).toThrow(TypeError);
      expect(() => new OpenAICompatibleProvider({ ...base, timeoutMs: Number.NaN })).toThrow(TypeError);
    });
  });

  describe('faults', () => {
    it.each(immediateFaults.map((t) => [t.name, t] as const))('%s', async (name, transcript) => {
      const expected = transcript.expected!;
      const { deltas, text, error } = await collect(provider({ model: name }));
      expect(text).toBe(expected.text);
      if (!expected.error) {
        expect(error).toBeUndefined();
        expect(lastFinish(deltas)).toBe(expected.finishReason);
        return;
      }
      expect(error).toBeInstanceOf(LlmProviderError);
      const e = error as LlmProviderError;
      expect(e.retryable).toBe(expected.error.retryable);
      if (expected.error.status !== undefined) expect(e.status).toBe(expected.error.status);
      if (expected.error.message) expect(e.message).toMatch(expected.error.message);
      // Never a complete answer.
      expect(deltas.some((d) => d.finishReason !== undefined)).toBe(false);
    });

    it('keeps the parsed error body of an HTTP error', async () => {
      const { error } = await collect(provider({ model: http500.name }));
      expect((error as LlmProviderError).body).toEqual({
        error: {
          message: 'The server had an error while processing your request. Sorry about that!',
          type: 'server_error',
          param: null,
          code: null,
        },
      });
    });

    it('a dropped connection mid-stream throws after the partial text, and never completes', async () => {
      const { text, error } = await collect(provider({ model: dropMidStream.name }));
      expect(text).toBe('The answer is');
      expect(error).toBeInstanceOf(LlmProviderError);
      expect((error as LlmProviderError).retryable).toBe(true);
    });

    it('network errors (nothing listening) are retryable', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const p = new OpenAICompatibleProvider({
        baseURL: `http://127.0.0.1:${port}/v1`,
        model: 'm',
        apiKey: 'sk-secret-net',
      });
      const { error } = await collect(p);
      expect(error).toBeInstanceOf(LlmProviderError);
      expect((error as LlmProviderError).retryable).toBe(true);
      expect((error as LlmProviderError).status).toBeUndefined();
      expect((error as Error).message).toMatch(/network error calling the upstream/);
      expect((error as Error).message).not.toContain('sk-secret-net');
    });

    it('never logs, and redacts the API key from error messages and bodies', async () => {
      const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) =>
        vi.spyOn(console, m).mockImplementation(() => undefined),
      );
      const guarded = await startFakeOpenAI({ transcripts: [openaiChat], apiKey: 'sk-right' });
      try {
        const base = { baseURL: guarded.baseURL, model: openaiChat.name };
        const p = new OpenAICompatibleProvider({ ...base, apiKey: 'sk-wrong-SECRET-789' });
        const { error } = await collect(p);
        expect(error).toBeInstanceOf(LlmProviderError);
        const e = error as LlmProviderError;
        expect(e.status).toBe(401);
        expect(e.retryable).toBe(false);
        expect(e.message).toMatch(/Incorrect API key provided: \[redacted\]/);
        expect(e.message).not.toContain('sk-wrong-SECRET-789');
        expect(JSON.stringify(e.body)).not.toContain('sk-wrong-SECRET-789');
        // The right key works.
        const ok = await collect(new OpenAICompatibleProvider({ ...base, apiKey: 'sk-right' }));
        expect(ok.error).toBeUndefined();
        for (const spy of spies) expect(spy).not.toHaveBeenCalled();
      } finally {
        await guarded.close();
      }
    });
  });

  describe('timeouts', () => {
    it('a stall mid-stream throws a retryable error within idleTimeoutMs, and closes the connection', async () => {
      const before = fake.requests.length;
      const { text, error, elapsedMs } = await collect(provider({ model: stallMidStream.name, idleTimeoutMs: 250 }));
      expect(text).toBe('The answer is');
      expect(error).toBeInstanceOf(LlmProviderError);
      expect((error as LlmProviderError).retryable).toBe(true);
      expect((error as Error).message).toMatch(/stalled: no data for 250 ms/);
      expect(elapsedMs).toBeGreaterThanOrEqual(240);
      expect(elapsedMs).toBeLessThan(1_250);
      const closed = await within(fake.requests[before]!.closed, 1_000, 'server-side close');
      expect(closed.early).toBe(true);
    });

    it.each([
      [stallBeforeResponse.name, stallBeforeResponse],
      [stallAfterHead.name, stallAfterHead],
    ] as const)('%s: the first-byte timeout fires', async (name) => {
      const before = fake.requests.length;
      const { error, elapsedMs } = await collect(provider({ model: name, timeoutMs: 250 }));
      expect(error).toBeInstanceOf(LlmProviderError);
      expect((error as LlmProviderError).retryable).toBe(true);
      expect((error as Error).message).toMatch(/no answer from the upstream within 250 ms/);
      expect(elapsedMs).toBeLessThan(1_250);
      await within(fake.requests[before]!.closed, 1_000, 'server-side close');
    });

    it('keep-alive comments count as data: 600 ms of comments 100 ms apart pass a 300 ms idle timeout', async () => {
      const p = provider({ model: keepAliveComments.name, idleTimeoutMs: 300, timeoutMs: 300 });
      const { text, error } = await collect(p);
      expect(error).toBeUndefined();
      expect(text).toBe('Still here.');
    });

    it("time the consumer spends between deltas does not count as upstream idleness", async () => {
      const p = provider({ model: 'fast', idleTimeoutMs: 100 });
      let text = '';
      for await (const delta of p.stream(USER, new AbortController().signal)) {
        text += delta.text;
        await sleep(150);
      }
      expect(text).toBe(fast.expected!.text);
    });
  });

  describe('abort', () => {
    it('aborting mid-stream throws AbortError at once; the server sees the socket close within 1 s', async () => {
      const controller = new AbortController();
      const before = fake.requests.length;
      const iterator = provider({ model: slow.name }).stream(USER, controller.signal)[Symbol.asyncIterator]();
      expect((await iterator.next()).value?.text).toBe('One');
      expect((await iterator.next()).value?.text).toBe(' two');
      const recorded = fake.requests[before]!;
      const pending = iterator.next();
      const t0 = Date.now();
      controller.abort();
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      expect(Date.now() - t0).toBeLessThan(250);
      const closed = await within(recorded.closed, 1_000, 'server-side response close');
      expect(closed.early).toBe(true);
      expect(closed.at - t0).toBeLessThan(1_000);
      await within(recorded.socketClosed, 1_000, 'server-side socket close');
      expect(await iterator.next()).toEqual({ done: true, value: undefined });
    });

    it('aborting while the consumer holds a delta: the next call throws AbortError, the connection closes', async () => {
      const controller = new AbortController();
      const before = fake.requests.length;
      const iterator = provider({ model: slow.name }).stream(USER, controller.signal)[Symbol.asyncIterator]();
      await iterator.next();
      controller.abort(new DOMException('stopped by user', 'AbortError'));
      await expect(iterator.next()).rejects.toMatchObject({ name: 'AbortError', message: 'stopped by user' });
      await within(fake.requests[before]!.socketClosed, 1_000, 'server-side socket close');
    });

    it('an already aborted signal throws before any request', async () => {
      const controller = new AbortController();
      controller.abort();
      const before = fake.requests.length;
      const { error } = await collect(provider({ model: slow.name }), USER, controller.signal);
      expect(error).toMatchObject({ name: 'AbortError' });
      await sleep(20);
      expect(fake.requests.length).toBe(before);
    });

    it('leaving the loop early (break) closes the upstream connection', async () => {
      const before = fake.requests.length;
      for await (const delta of provider({ model: slow.name }).stream(USER, new AbortController().signal)) {
        expect(delta.text).toBe('One');
        break;
      }
      const closed = await within(fake.requests[before]!.closed, 1_000, 'server-side close');
      expect(closed.early).toBe(true);
    });
  });
});

// --- Chunk boundaries ------------------------------------------------------------------------------------------

const FLAVORS: Flavor[] = ['openai', 'azure', 'vllm', 'ollama', 'llamacpp'];

/** The whole SSE body a server would send for `tokens`. */
function sseBody(flavor: Flavor, tokens: string[], lineEnding: '\n' | '\r\n') {
  const shape = shapeFor(flavor, { includeUsage: true });
  const frames = [
    ...shape.start(),
    ...tokens.map((t, i) => shape.token(t, i + 1)),
    ...shape.finish('stop', { prompt: 5, completion: tokens.length }),
    DONE,
  ];
  const body = frames.join('');
  return {
    body: lineEnding === '\n' ? body : body.replace(/\n/g, '\r\n'),
    usage: { promptTokens: 5, completionTokens: tokens.length, totalTokens: 5 + tokens.length },
  };
}

/** Cuts `bytes` at the given (sorted, unique) offsets. */
function cut(bytes: Uint8Array, offsets: number[]): Uint8Array[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (const p of points) {
    if (p > start) pieces.push(bytes.subarray(start, p));
    start = Math.max(start, p);
  }
  if (start < bytes.length) pieces.push(bytes.subarray(start));
  return pieces;
}

/** A `fetch` that answers with these exact body chunks, one per read. */
function memoryFetch(pieces: Uint8Array[]): typeof fetch {
  return async () => {
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const piece = pieces[i++];
        if (piece) controller.enqueue(piece.slice());
        else controller.close();
      },
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
}

const tokenArb = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
  fc.constantFrom('\n', ' ', 'data: x', '\r\n\r\n', '[DONE]', '"', '\\', '😀', 'é', '日本', '\u2028', '<&>'),
);

describe('chunk boundaries (property)', () => {
  it('random text cut at random byte offsets (inside UTF-8 characters, SSE lines) always reassembles', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...FLAVORS),
        fc.array(tokenArb, { maxLength: 25 }),
        fc.array(fc.nat(), { maxLength: 60 }),
        fc.constantFrom<'\n' | '\r\n'>('\n', '\r\n'),
        async (flavor, tokens, offsets, lineEnding) => {
          const { body, usage } = sseBody(flavor, tokens, lineEnding);
          const pieces = cut(new TextEncoder().encode(body), offsets);
          const fetch = memoryFetch(pieces);
          const p = new OpenAICompatibleProvider({ baseURL: 'http://memory.invalid/v1', model: 'm', fetch });
          const { text, deltas, error } = await collect(p);
          expect(error).toBeUndefined();
          expect(text).toBe(tokens.join(''));
          expect(lastUsage(deltas)).toEqual(usage);
          expect(lastFinish(deltas)).toBe('stop');
        },
      ),
      { numRuns: 400 },
    );
  });

  it('over real TCP: each piece is its own write, and the text still reassembles exactly', async () => {
    let current: Transcript = { name: 'tcp', steps: [] };
    const local = await startFakeOpenAI({ transcripts: [], select: () => current });
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...FLAVORS),
          fc.array(tokenArb, { minLength: 1, maxLength: 12 }),
          fc.array(fc.nat(), { minLength: 1, maxLength: 25 }),
          async (flavor, tokens, offsets) => {
            const { body } = sseBody(flavor, tokens, '\n');
            const pieces = cut(new TextEncoder().encode(body), offsets);
            current = {
              name: 'tcp',
              steps: [
                { type: 'head', headers: { 'content-type': 'text/event-stream' } },
                ...pieces.flatMap((data) => [{ type: 'write' as const, data }, { type: 'delay' as const, ms: 1 }]),
              ],
            };
            const p = new OpenAICompatibleProvider({ baseURL: local.baseURL, model: 'tcp' });
            const { text, error } = await collect(p);
            expect(error).toBeUndefined();
            expect(text).toBe(tokens.join(''));
          },
        ),
        { numRuns: 40 },
      );
    } finally {
      await local.close();
    }
  });
});
