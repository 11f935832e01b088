import fc from 'fast-check';
import {
  ChatEngine,
  ChatError,
  LlmProviderError,
  MemoryStorage,
  ScriptedProvider,
  type ChatEngineOptions,
  type LlmDelta,
  type LlmProvider,
  type LlmRequest,
  type StreamChunk,
} from 'parley-chat';
import { afterEach, describe, expect, it } from 'vitest';
import { expectChatError, NO_RATE_LIMITS } from '../support/engine.js';

/** LLM streaming in the engine, with in-process providers; the HTTP provider has its own tests. */

const engines: ChatEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

async function setup(options: Partial<ChatEngineOptions> = {}) {
  const storage = new MemoryStorage();
  const engine = new ChatEngine({
    storage,
    rateLimits: NO_RATE_LIMITS,
    llm: new ScriptedProvider({ tokensPerSecond: 200 }),
    streamDelayMs: 20,
    ...options,
  });
  engines.push(engine);
  await engine.init();
  const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
  const chunks = new Map<string, StreamChunk[]>();
  engine.on('stream.chunk', (chunk) => {
    const list = chunks.get(chunk.id) ?? [];
    list.push(chunk);
    chunks.set(chunk.id, list);
  });
  const ended = (streamId: string) =>
    new Promise<{ event: string; payload: { content?: string; code?: string; seq: number } }>((resolve) => {
      for (const event of ['stream.completed', 'stream.stopped', 'stream.error'] as const) {
        engine.on(event, (payload: { streamId: string; seq: number }) => {
          if (payload.streamId === streamId) resolve({ event, payload });
        });
      }
    });
  return { engine, storage, sessionId: session.id, chunks, ended };
}

/** A provider driven by a script of steps, for faults and timing. */
class StepProvider implements LlmProvider {
  readonly name = 'steps';
  readonly requests: LlmRequest[] = [];
  attempts = 0;
  constructor(private readonly plan: (attempt: number) => Array<{ text?: string; wait?: number; fail?: Error; stall?: boolean; usage?: LlmDelta['usage']; finish?: string }>) {}
  async *stream(request: LlmRequest, signal: AbortSignal): AsyncIterable<LlmDelta> {
    this.requests.push(request);
    const steps = this.plan(++this.attempts);
    for (const step of steps) {
      if (step.wait) await sleep(step.wait, signal);
      if (step.stall) await sleep(60_000, signal);
      if (step.fail) throw step.fail;
      if (step.text !== undefined || step.usage || step.finish) {
        yield { text: step.text ?? '', ...(step.usage && { usage: step.usage }), ...(step.finish && { finishReason: step.finish }) };
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

describe('streaming an answer', () => {
  it('deltas concatenate exactly to the stored answer; full content only on the final chunk', async () => {
    const { engine, sessionId, chunks, ended } = await setup();
    const { streamId, messageId, promptMessageId } = await engine.requestStream({ sessionId, prompt: 'Hello there', userId: 'alice' });
    const end = await ended(streamId);
    expect(end.event).toBe('stream.completed');
    const list = chunks.get(streamId)!;
    const text = list.map((c) => c.delta).join('');
    const answer = await engine.getMessage(messageId, 'bob');
    expect(text).toBe(answer.content);
    expect(text).toContain('You asked: "Hello there"');
    expect(list.slice(0, -1).every((c) => c.content === '' && !c.isComplete)).toBe(true);
    expect(list.at(-1)).toMatchObject({ isComplete: true, content: answer.content });
    expect(list.map((c) => c.index)).toEqual(list.map((_, i) => i));
    expect(answer).toMatchObject({ role: 'assistant', userId: null, metadata: { status: 'completed', streamId } });
    expect(answer.changeSeq).toBe(end.payload.seq);
    expect(await engine.getMessage(promptMessageId, 'bob')).toMatchObject({ role: 'user', userId: 'alice', content: 'Hello there' });
  });

  it('coalesces tokens: chunks <= duration / STREAM_DELAY + 2, never one per token', async () => {
    const { engine, sessionId, chunks, ended } = await setup({
      llm: new ScriptedProvider({ tokensPerSecond: 400, reply: Array.from({ length: 200 }, (_, i) => `w${i}`).join(' ') }),
      streamDelayMs: 50,
    });
    const started = Date.now();
    const { streamId } = await engine.requestStream({ sessionId, prompt: 'go', userId: 'alice' });
    await ended(streamId);
    const duration = Date.now() - started;
    const count = chunks.get(streamId)!.length;
    expect(count).toBeLessThanOrEqual(Math.ceil(duration / 50) + 2);
    expect(count).toBeLessThan(200 / 4);
    const status = await engine.getStreamStatus(streamId, 'alice');
    expect(status).toMatchObject({ status: 'completed', tokensGenerated: 200, finishReason: 'stop' });
  });

  it('when the upstream pauses, the text not sent yet goes out without waiting for the next token', async () => {
    const { engine, sessionId, chunks, ended } = await setup({
      // STREAM_DELAY 50: 'one' at once (first chunk); 'two' is not due; then a 400 ms pause.
      llm: new StepProvider(() => [{ text: 'one' }, { wait: 10, text: ' two' }, { wait: 400, text: ' three' }, { finish: 'stop' }]),
      streamDelayMs: 50,
    });
    const received: { delta: string; at: number }[] = [];
    engine.on('stream.chunk', (c) => received.push({ delta: c.delta, at: performance.now() }));
    const started = performance.now();
    const { streamId } = await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    await ended(streamId);
    expect(chunks.get(streamId)!.map((c) => c.delta).join('')).toBe('one two three');
    // ' two' did not wait for ' three': the pause timer sent it about a delay (+ a token gap) after 'one'.
    const two = received.find((c) => c.delta.includes('two'))!;
    expect(two.delta).toBe(' two');
    expect(two.at - started).toBeLessThan(300);
  });

  it('masks profanity in the output, holding back partial words, and the deltas still equal the stored text', async () => {
    const { engine, sessionId, chunks, ended } = await setup({
      llm: new StepProvider(() => [{ text: 'well sh' }, { text: 'it hap' }, { text: 'pens, ' }, { text: 'shit' }, { finish: 'stop' }]),
    });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    await ended(streamId);
    const answer = await engine.getMessage(messageId);
    expect(answer.content).toBe('well **** happens, ****');
    expect(chunks.get(streamId)!.map((c) => c.delta).join('')).toBe(answer.content);
  });

  it('sends the agent system prompt and recent messages as context, with the agent model and settings', async () => {
    const provider = new StepProvider(() => [{ text: 'ok' }, { finish: 'stop' }]);
    const { engine, sessionId, ended } = await setup({
      agents: { helper: { provider, systemPrompt: 'Be brief.', model: 'm-1', temperature: 0.2, maxTokens: 50 } },
    });
    await engine.createMessage({ sessionId, userId: 'bob', content: 'earlier message' });
    const { streamId } = await engine.requestStream({ sessionId, prompt: 'and now?', userId: 'alice', agentId: 'helper', config: { temperature: 0.9 } });
    await ended(streamId);
    expect(provider.requests[0]).toEqual({
      model: 'm-1',
      temperature: 0.9,
      maxTokens: 50,
      messages: [
        { role: 'system', content: 'Be brief.' },
        // Two members wrote: each message says whose it is.
        { role: 'user', content: 'earlier message', name: 'bob' },
        { role: 'user', content: 'and now?', name: 'alice' },
      ],
    });
  });

  it('the callback signature works: startStream(…, onChunk, onError, onComplete)', async () => {
    const { engine, sessionId } = await setup();
    const deltas: string[] = [];
    const done = new Promise<string>((resolve) => {
      void engine.startStream(sessionId, 'Tell me a story', 'alice', undefined, { temperature: 0.8, maxTokens: 1000 },
        (chunk) => deltas.push(chunk.delta),
        (error) => resolve(`error ${error.code}`),
        () => resolve('complete'));
    });
    expect(await done).toBe('complete');
    expect(deltas.join('')).toContain('Tell me a story');
  });
});

describe('stop, caps and faults', () => {
  it('stop aborts the upstream and keeps the partial answer (status stopped, no final chunk)', async () => {
    const { engine, sessionId, chunks, ended } = await setup({ llm: new ScriptedProvider({ tokensPerSecond: 50 }) });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'long', userId: 'alice' });
    const endPromise = ended(streamId);
    await new Promise((r) => setTimeout(r, 250));
    await expectChatError(engine.stopStream(streamId, 'bob'), 'FORBIDDEN'); // neither requester nor owner
    const status = await engine.stopStream(streamId, 'alice');
    expect(status.status).toBe('stopped');
    const end = await endPromise;
    expect(end.event).toBe('stream.stopped');
    const answer = await engine.getMessage(messageId);
    expect(answer.metadata).toMatchObject({ status: 'stopped' });
    expect(answer.content.length).toBeGreaterThan(0);
    expect(end.payload.content).toBe(answer.content);
    const list = chunks.get(streamId)!;
    expect(list.every((c) => !c.isComplete)).toBe(true);
    expect(list.map((c) => c.delta).join('')).toBe(answer.content);
    expect(engine.activeStreamCount).toBe(0);
    // stopping again is a no-op
    await expect(engine.stopStream(streamId, 'alice')).resolves.toMatchObject({ status: 'stopped' });
  });

  it('refuses cap+1 overall and per user with LIMIT_EXCEEDED', async () => {
    const { engine, sessionId } = await setup({ llm: new ScriptedProvider({ tokensPerSecond: 5 }), maxConcurrentStreams: 3, maxStreamsPerUser: 2 });
    await engine.requestStream({ sessionId, prompt: 'a', userId: 'alice' });
    await engine.requestStream({ sessionId, prompt: 'b', userId: 'alice' });
    await expectChatError(engine.requestStream({ sessionId, prompt: 'c', userId: 'alice' }), 'LIMIT_EXCEEDED');
    await engine.requestStream({ sessionId, prompt: 'd', userId: 'bob' });
    await expectChatError(engine.requestStream({ sessionId, prompt: 'e', userId: 'bob' }), 'LIMIT_EXCEEDED');
    expect(engine.activeStreamCount).toBe(3);
  });

  it('retries failures before the first token, then streams', async () => {
    const provider = new StepProvider((attempt) =>
      attempt < 3 ? [{ fail: new LlmProviderError('overloaded', { status: 503, retryable: true }) }] : [{ text: 'finally ' }, { text: 'here' }, { finish: 'stop' }],
    );
    const { engine, sessionId, ended } = await setup({ llm: provider, streamRetry: { baseDelayMs: 10 } });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    expect((await ended(streamId)).event).toBe('stream.completed');
    expect(provider.attempts).toBe(3);
    expect((await engine.getMessage(messageId)).content).toBe('finally here');
    expect(await engine.getStreamMetrics(streamId, 'alice')).toMatchObject({ errors: 2, totalTokens: 2 });
  });

  it('does not retry a non-retryable error; reports it as stream.error with status error', async () => {
    const provider = new StepProvider(() => [{ fail: new LlmProviderError('bad request', { status: 400, retryable: false }) }]);
    const { engine, sessionId, ended } = await setup({ llm: provider });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    const end = await ended(streamId);
    expect(end).toMatchObject({ event: 'stream.error', payload: { code: 'INTERNAL' } });
    expect(provider.attempts).toBe(1);
    expect((await engine.getMessage(messageId)).metadata).toMatchObject({ status: 'error' });
    expect(await engine.getStreamStatus(streamId)).toMatchObject({ status: 'error' });
  });

  it('a failure after the first token keeps the partial answer and is not retried', async () => {
    const provider = new StepProvider(() => [{ text: 'half an ' }, { text: 'answer' }, { wait: 30 }, { fail: new LlmProviderError('reset', { retryable: true }) }]);
    const { engine, sessionId, chunks, ended } = await setup({ llm: provider });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    expect((await ended(streamId)).event).toBe('stream.error');
    expect(provider.attempts).toBe(1);
    const answer = await engine.getMessage(messageId);
    expect(answer.content).toBe('half an answer');
    expect(answer.metadata).toMatchObject({ status: 'error' });
    expect(chunks.get(streamId)!.map((c) => c.delta).join('')).toBe('half an answer');
  });

  it('engine.close() stops running streams and keeps their partial answers', async () => {
    const { engine, storage, sessionId } = await setup({ llm: new ScriptedProvider({ tokensPerSecond: 40 }) });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    await new Promise((r) => setTimeout(r, 150));
    await engine.close();
    const record = await storage.getStream(streamId);
    expect(record).toMatchObject({ status: 'stopped', finishReason: 'shutdown' });
    const answer = await storage.getMessage(messageId);
    expect(answer!.content.length).toBeGreaterThan(0);
    expect(answer!.metadata).toMatchObject({ status: 'stopped' });
  });

  it('ten concurrent streams in one session do not mix', async () => {
    const { engine, sessionId, chunks, ended } = await setup({
      llm: new ScriptedProvider({ tokensPerSecond: 300, reply: (r) => `${r.messages.at(-1)!.content} `.repeat(20).trim() }),
      maxConcurrentStreams: 10,
      maxStreamsPerUser: 10,
      contextMessages: 0,
    });
    const starts = await Promise.all(Array.from({ length: 10 }, (_, i) => engine.requestStream({ sessionId, prompt: `topic${i}`, userId: 'alice' })));
    await Promise.all(starts.map((s) => ended(s.streamId)));
    for (const [i, s] of starts.entries()) {
      const text = chunks.get(s.streamId)!.map((c) => c.delta).join('');
      expect(text).toBe(`topic${i} `.repeat(20).trim());
      expect((await engine.getMessage(s.messageId)).content).toBe(text);
    }
  });

  it('a late joiner gets a snapshot of the text so far', async () => {
    const { engine, sessionId, chunks, ended } = await setup({ llm: new ScriptedProvider({ tokensPerSecond: 60 }) });
    const { streamId, messageId } = await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice' });
    const endPromise = ended(streamId);
    await new Promise((r) => setTimeout(r, 200));
    const [snapshot] = await engine.getStreamSnapshots(sessionId, 'bob');
    const sent = chunks.get(streamId)!.map((c) => c.delta).join('');
    expect(snapshot).toMatchObject({ streamId, messageId, content: sent });
    await engine.stopStream(streamId, 'alice');
    await endPromise;
    expect(await engine.getStreamSnapshots(sessionId, 'bob')).toEqual([]);
  });

  it('status and metrics answer during and after, for members only', async () => {
    const { engine, sessionId, ended } = await setup({ llm: new ScriptedProvider({ tokensPerSecond: 100 }) });
    const { streamId } = await engine.requestStream({ sessionId, prompt: 'x', userId: 'alice', config: { maxTokens: 1000 } });
    await new Promise((r) => setTimeout(r, 150));
    const during = await engine.getStreamStatus(streamId, 'bob');
    expect(during.status).toBe('streaming');
    expect(during.progress).toBeGreaterThan(0);
    await ended(streamId);
    const metrics = await engine.getStreamMetrics(streamId, 'bob');
    expect(metrics.totalTokens).toBeGreaterThan(10);
    expect(metrics.latency).toBeGreaterThanOrEqual(0);
    expect(metrics.latency).toBeLessThan(200);
    expect(metrics.tokensPerSecond).toBeGreaterThan(30);
    expect(metrics.tokensPerSecond).toBeLessThan(200);
    expect(metrics.bandwidth).toBeGreaterThan(0);
    await expectChatError(engine.getStreamStatus(streamId, 'mallory'), 'FORBIDDEN');
    await expectChatError(engine.getStreamMetrics('01890000-0000-7000-8000-000000000000', 'bob'), 'NOT_FOUND');
  });

  it('refuses unknown agents, a missing provider, disallowed models and non-members', async () => {
    const { engine, sessionId } = await setup({ allowedModels: ['ok-model'] });
    await expectChatError(engine.requestStream({ sessionId, prompt: 'x', userId: 'alice', agentId: 'nobody' }), 'NOT_FOUND');
    await expectChatError(engine.requestStream({ sessionId, prompt: 'x', userId: 'alice', config: { model: 'gpt-4' } }), 'VALIDATION');
    await expectChatError(engine.requestStream({ sessionId, prompt: 'x', userId: 'mallory' }), 'FORBIDDEN');
    await expectChatError(engine.requestStream({ sessionId, prompt: '', userId: 'alice' }), 'VALIDATION');
    await expectChatError(engine.requestStream({ sessionId, prompt: 'x', userId: 'alice', config: { temperature: 5 } }), 'VALIDATION');
    const bare = new ChatEngine({ storage: new MemoryStorage(), rateLimits: NO_RATE_LIMITS });
    engines.push(bare);
    const s = await bare.createSession({ createdBy: 'alice' });
    await expectChatError(bare.requestStream({ sessionId: s.id, prompt: 'x', userId: 'alice' }), 'UNAVAILABLE');
  });
});

describe('model of start / stop / error / stall sequences', () => {
  it('the active-stream count always equals the model, and every slot is freed', async () => {
    type Kind = 'complete' | 'error' | 'stall' | 'late-error';
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ kind: fc.constantFrom<Kind>('complete', 'error', 'stall', 'late-error'), stopAfter: fc.option(fc.integer({ min: 0, max: 30 })) }), { minLength: 1, maxLength: 6 }),
        async (plans) => {
          const byPrompt = new Map(plans.map((p, i) => [`p${i}`, p.kind]));
          const provider = new StepProvider(() => []);
          provider.stream = async function* (request, signal) {
            const kind = byPrompt.get(request.messages.at(-1)!.content)!;
            if (kind === 'error') throw new LlmProviderError('nope', { retryable: false });
            yield { text: 'a ' };
            if (kind === 'stall') await sleep(60_000, signal);
            await sleep(5, signal);
            if (kind === 'late-error') throw new LlmProviderError('reset', { retryable: true });
            yield { text: 'b', finishReason: 'stop' };
          };
          const engine = new ChatEngine({ storage: new MemoryStorage(), rateLimits: NO_RATE_LIMITS, llm: provider, maxConcurrentStreams: 10, maxStreamsPerUser: 10, contextMessages: 0 });
          const session = await engine.createSession({ createdBy: 'alice' });
          const ends = new Map<string, Promise<void>>();
          const ids: string[] = [];
          for (const [i] of plans.entries()) {
            const start = await engine.requestStream({ sessionId: session.id, prompt: `p${i}`, userId: 'alice' });
            ids.push(start.streamId);
            ends.set(start.streamId, new Promise((resolve) => {
              for (const e of ['stream.completed', 'stream.stopped', 'stream.error'] as const) {
                engine.on(e, (p: { streamId: string }) => p.streamId === start.streamId && resolve());
              }
            }));
          }
          expect(engine.activeStreamCount).toBeLessThanOrEqual(plans.length);
          await Promise.all(plans.map(async (p, i) => {
            if (p.stopAfter !== null || p.kind === 'stall') {
              await new Promise((r) => setTimeout(r, p.stopAfter ?? 0));
              await engine.stopStream(ids[i]!, 'alice');
            }
          }));
          await Promise.all(ends.values());
          expect(engine.activeStreamCount).toBe(0);
          for (const id of ids) {
            const status = (await engine.getStreamStatus(id)).status;
            expect(['completed', 'stopped', 'error']).toContain(status);
          }
          await engine.close();
        },
      ),
      { numRuns: 25 },
    );
  });
});

it('ChatError is what reaches onError', async () => {
  const { engine, sessionId } = await setup({ llm: new StepProvider(() => [{ fail: new Error('boom') }]), streamRetry: { attempts: 1 } });
  const error = await new Promise<unknown>((resolve) => {
    void engine.startStream(sessionId, 'x', 'alice', undefined, undefined, undefined, resolve);
  });
  expect(error).toBeInstanceOf(ChatError);
});
