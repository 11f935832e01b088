import { ChatEngine, MemoryStorage, type StreamChunk } from 'parley-chat';
import { OpenAICompatibleProvider } from 'parley-chat/openai';
import { afterEach, describe, expect, it } from 'vitest';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { startFakeOpenAI, type FakeOpenAI, type Transcript } from '../support/fake-openai.js';
import { dropMidStream, http500, stallMidStream } from '../support/transcripts/faults.js';
import { transcriptFromText } from '../support/transcripts/from-text.js';

/**
 * The engine streaming through the real OpenAI-compatible provider against a local server that
 * speaks the protocol byte for byte: the only fake is the upstream itself.
 */
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function setup(transcripts: Record<string, Transcript | ((req: never) => Transcript)>, options: { idleTimeoutMs?: number } = {}) {
  const upstream: FakeOpenAI = await startFakeOpenAI({ transcripts: transcripts as never, apiKey: 'sk-test' });
  cleanup.push(() => upstream.close());
  const engine = new ChatEngine({
    storage: new MemoryStorage(),
    rateLimits: NO_RATE_LIMITS,
    llm: new OpenAICompatibleProvider({ baseURL: upstream.baseURL, apiKey: 'sk-test', model: 'ok', ...options }),
    agents: { assistant: { systemPrompt: 'You are terse.' } },
    streamRetry: { baseDelayMs: 20 },
    streamDelayMs: 30,
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

const TEXT = 'Streaming works: every token arrives, in order, and nothing is lost on the way.';

describe('engine + OpenAICompatibleProvider + a byte-exact upstream', () => {
  for (const flavor of ['openai', 'vllm', 'ollama', 'llamacpp'] as const) {
    it(`streams a ${flavor}-shaped answer: deltas equal the stored text, tokens from usage`, async () => {
      const { upstream, engine, sessionId, chunks, end } = await setup({ ok: transcriptFromText(TEXT, { flavor, tokensPerSecond: 400 }) });
      const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'Explain streaming', userId: 'alice' });
      expect((await end).event).toBe('stream.completed');
      const answer = await engine.getMessage(messageId);
      expect(answer.content).toBe(TEXT);
      expect(chunks.map((c) => c.delta).join('')).toBe(TEXT);
      expect(chunks.at(-1)).toMatchObject({ isComplete: true, content: TEXT });
      const request = upstream.requests[0]!;
      expect(request.body).toMatchObject({
        model: 'ok',
        stream: true,
        messages: [
          { role: 'system', content: 'You are terse.' },
          { role: 'user', content: 'Explain streaming' },
        ],
      });
      const metrics = await engine.getStreamMetrics(streamId, 'alice');
      expect(metrics.totalTokens).toBe(TEXT.match(/\s*\S+/g)!.length);
      expect(metrics.latency).toBeGreaterThanOrEqual(0);
    });
  }

  it('stop aborts the upstream request within a second and keeps the partial text', async () => {
    const { upstream, engine, sessionId, chunks, end } = await setup({ ok: transcriptFromText('word '.repeat(400).trim(), { tokensPerSecond: 100 }) });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'go', userId: 'alice' });
    const request = await upstream.waitForRequest(0);
    await new Promise((r) => setTimeout(r, 300));
    const stoppedAt = Date.now();
    await engine.stopStream(streamId, 'alice');
    const closed = await request.closed;
    expect(closed.early).toBe(true);
    expect(closed.at - stoppedAt).toBeLessThan(1000);
    expect((await end).event).toBe('stream.stopped');
    const answer = await engine.getMessage(messageId);
    expect(answer.metadata).toMatchObject({ status: 'stopped' });
    expect(answer.content.length).toBeGreaterThan(0);
    expect(chunks.map((c) => c.delta).join('')).toBe(answer.content);
  });

  it('retries an HTTP 500 before the first token, then streams', async () => {
    let calls = 0;
    const { upstream, engine, sessionId, end } = await setup({ ok: () => (++calls === 1 ? http500 : transcriptFromText(TEXT, { tokensPerSecond: 0 })) });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    expect((await end).event).toBe('stream.completed');
    expect(upstream.requests).toHaveLength(2);
    expect((await engine.getMessage(messageId)).content).toBe(TEXT);
    expect((await engine.getStreamMetrics(streamId)).errors).toBe(1);
  });

  it('a dropped connection mid-answer is an error with the partial text kept, never a complete answer', async () => {
    const { engine, sessionId, end } = await setup({ ok: dropMidStream });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    const result = await end;
    expect(result.event).toBe('stream.error');
    const answer = await engine.getMessage(messageId);
    expect(answer.metadata).toMatchObject({ status: 'error' });
    expect(answer.content.length).toBeGreaterThan(0);
    expect(await engine.getStreamStatus(streamId)).toMatchObject({ status: 'error' });
    expect(engine.activeStreamCount).toBe(0);
  });

  it('a stall past the idle timeout ends the stream as an error and frees the slot', async () => {
    const { engine, sessionId, end } = await setup({ ok: stallMidStream }, { idleTimeoutMs: 300 });
    await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    expect((await end).event).toBe('stream.error');
    expect(engine.activeStreamCount).toBe(0);
  });
});
