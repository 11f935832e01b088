import { ChatEngine, MemoryStorage, type ChatEngineOptions, type StreamChunk } from 'parley-chat';
import { OpenAICompatibleProvider } from 'parley-chat/openai';
import { afterEach, describe, expect, it } from 'vitest';
import { expectChatError, NO_RATE_LIMITS, storedState } from '../support/engine.js';
import { startFakeOpenAI, type Transcript } from '../support/fake-openai.js';
import { transcriptFromText } from '../support/transcripts/from-text.js';
import { head, openaiShape, write } from '../support/transcripts/shapes.js';

/**
 * An answer ends at its length cap (`maxAnswerChars`): the upstream request is aborted, the stored
 * text is exactly the first characters up to the cap, and the stream completes with finish reason
 * `length`. The upstream is a local server speaking OpenAI's protocol.
 */
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(transcript: Transcript, options: Partial<ChatEngineOptions> = {}) {
  const upstream = await startFakeOpenAI({ transcripts: { ok: transcript } });
  cleanup.push(() => upstream.close());
  const engine = new ChatEngine({
    storage: new MemoryStorage(),
    rateLimits: NO_RATE_LIMITS,
    llm: new OpenAICompatibleProvider({ baseURL: upstream.baseURL, apiKey: 'sk-test', model: 'ok' }),
    streamDelayMs: 20,
    ...options,
  });
  cleanup.push(() => engine.close());
  await engine.init();
  const session = await engine.createSession({ createdBy: 'alice' });
  const chunks: StreamChunk[] = [];
  engine.on('stream.chunk', (c) => chunks.push(c));
  const end = new Promise<{ event: string; payload: any }>((resolve) => {
    for (const event of ['stream.completed', 'stream.stopped', 'stream.error'] as const) engine.on(event, (payload) => resolve({ event, payload }));
  });
  return { upstream, engine, sessionId: session.id, chunks, end };
}

/** One SSE event carrying all of `text`, then silence: only an abort ends the request. */
function oneHugeChunk(text: string): Transcript {
  const shape = openaiShape();
  return { name: 'ok', steps: [head(shape.headers), write(shape.start().join('') + shape.token(text, 1)), { type: 'stall' }] };
}

const hasLoneSurrogate = (s: string) => /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

describe('the answer length cap', () => {
  it('cuts a 1 MB upstream chunk at the default 32,000 characters and aborts the upstream', async () => {
    const text = 'lorem ipsum dolor sit amet '.repeat(40_000).slice(0, 1_000_000);
    const { upstream, engine, sessionId, chunks, end } = await setup(oneHugeChunk(text));
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'go on forever', userId: 'alice' });
    const request = await upstream.waitForRequest(0);
    const result = await end;
    expect(result.event).toBe('stream.completed');
    expect(result.payload.finishReason).toBe('length'); // what the socket's stream:complete carries
    expect((await request.closed).early).toBe(true);

    const answer = await engine.getMessage(messageId);
    expect(answer.content).toBe(text.slice(0, 32_000));
    expect(answer.metadata).toMatchObject({ status: 'completed' });
    expect(result.payload.content).toBe(answer.content);
    expect(chunks.at(-1)).toMatchObject({ isComplete: true, content: answer.content });
    expect(chunks.map((c) => c.delta).join('')).toBe(answer.content);
    expect(await engine.getStreamStatus(streamId, 'alice')).toMatchObject({ status: 'completed', finishReason: 'length' });
    const metrics = await engine.getStreamMetrics(streamId, 'alice');
    expect(metrics).toEqual(result.payload.metrics);
    expect(metrics).toMatchObject({ totalTokens: 1, errors: 0 });
  });

  it("cuts many small chunks at the agent's cap, one character short rather than half a surrogate pair", async () => {
    const token = 'x😀 '; // 4 UTF-16 code units
    const tokens = Array.from({ length: 2000 }, () => token);
    const transcript = transcriptFromText(tokens.join(''), { name: 'ok', tokens, tokensPerSecond: 2000 });
    const { upstream, engine, sessionId, chunks, end } = await setup(transcript, {
      maxAnswerChars: 10, // the agent's own cap wins
      agents: { assistant: { maxAnswerChars: 1002 } },
    });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'smile', userId: 'alice' });
    const request = await upstream.waitForRequest(0);
    const result = await end;
    expect(result.event).toBe('stream.completed');
    expect((await request.closed).early).toBe(true);

    const answer = await engine.getMessage(messageId);
    // 250 tokens fill 1,000; the 251st would put half of its emoji at 1,002.
    expect(answer.content).toBe(`${token.repeat(250)}x`);
    expect(answer.content).toHaveLength(1001);
    expect(hasLoneSurrogate(answer.content)).toBe(false);
    expect(chunks.at(-1)).toMatchObject({ isComplete: true, content: answer.content });
    expect(chunks.map((c) => c.delta).join('')).toBe(answer.content);
    expect(await engine.getStreamStatus(streamId)).toMatchObject({ status: 'completed', finishReason: 'length' });
    const metrics = await engine.getStreamMetrics(streamId);
    expect(metrics.totalTokens).toBe(251); // counted up to the cap, not the 2,000 the upstream had
    expect(metrics.bandwidth).toBeGreaterThan(0);
  });

  it('caps the tail the output filter held back until the end', async () => {
    // "shi" may still become a masked word, so it waits for the end of the answer.
    const transcript = transcriptFromText('hello shi', { name: 'ok', tokens: ['hello ', 'shi'], tokensPerSecond: Infinity });
    const { engine, sessionId, chunks, end } = await setup(transcript, { maxAnswerChars: 8 });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    expect((await end).event).toBe('stream.completed');
    expect((await engine.getMessage(messageId)).content).toBe('hello sh');
    expect(chunks.at(-1)).toMatchObject({ isComplete: true, content: 'hello sh' });
    expect(await engine.getStreamStatus(streamId)).toMatchObject({ status: 'completed', finishReason: 'length' });
  });

  it('lets an answer of exactly the cap finish as the upstream says', async () => {
    const text = 'exactly forty characters long, this one.';
    const { engine, sessionId, end } = await setup(transcriptFromText(text, { name: 'ok', tokensPerSecond: Infinity }), { maxAnswerChars: text.length });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    expect((await end).event).toBe('stream.completed');
    expect((await engine.getMessage(messageId)).content).toBe(text);
    expect(await engine.getStreamStatus(streamId)).toMatchObject({ status: 'completed', finishReason: 'stop' });
  });

  it('refuses to start with a cap that is not a positive integer, storing nothing', async () => {
    const { engine, sessionId } = await setup(oneHugeChunk('never asked'), { agents: { assistant: { maxAnswerChars: 0 } } });
    const before = await storedState(engine, sessionId);
    await expectChatError(engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' }), 'INTERNAL');
    expect(await storedState(engine, sessionId)).toEqual(before);
  });
});
