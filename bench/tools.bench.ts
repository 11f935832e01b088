/**
 * A tool round trip's server CPU: answers whose model calls one tool (a no-op) and then answers,
 * against answers of the same text without a tool, measured in the same run on the same engine
 * (MemoryStorage, no sockets). Both upstreams are in-process providers that yield at once, so the
 * difference per answer is what the round trip adds: the call's pieces, validation, the concurrent
 * run, the result back into the next request, the part chunks, the second model call's setup.
 * Target: ≤ 2 ms of CPU per round trip.
 *
 * Knobs: BENCH_TOOLS_ANSWERS (answers per side per round, default 400), BENCH_TOOLS_ROUNDS (default 3; the
 * best round of each side is kept).
 */
import { z } from 'zod';
import { ChatEngine, defineTool, MemoryStorage, type LlmDelta, type LlmProvider, type LlmRequest } from '../src/index.js';
import { cpuMsPerCall, fmt, type BenchRow } from './lib.js';

const ANSWERS = Number(process.env.BENCH_TOOLS_ANSWERS ?? 400);
const ROUNDS = Number(process.env.BENCH_TOOLS_ROUNDS ?? 3);
const TARGET_MS = 2;
const WORDS = 'The order A-1042 left the warehouse this morning and should arrive on Thursday.'.split(' ');
const OFF = { points: 0, durationMs: 60_000 };

/** Calls `lookupOrder` once when `withTool`, then answers the same words either way. */
class InstantProvider implements LlmProvider {
  readonly name = 'instant';
  constructor(private readonly withTool: boolean) {}
  async *stream(request: LlmRequest): AsyncIterable<LlmDelta> {
    const answered = request.messages.at(-1)?.role === 'tool';
    if (this.withTool && !answered) {
      yield { text: '', toolCall: { index: 0, id: 'call_1', name: 'lookupOrder' } };
      yield { text: '', toolCall: { index: 0, argumentsDelta: '{"orderId":' } };
      yield { text: '', toolCall: { index: 0, argumentsDelta: '"A-1042"}' } };
      yield { text: '', finishReason: 'tool_calls', usage: { promptTokens: 50, completionTokens: 3 } };
      return;
    }
    for (const [i, word] of WORDS.entries()) yield { text: i === 0 ? word : ` ${word}` };
    yield { text: '', finishReason: 'stop', usage: { promptTokens: 60, completionTokens: WORDS.length } };
  }
}

const lookupOrder = defineTool({ description: 'Order status by id', input: z.object({ orderId: z.string() }), execute: () => ({ status: 'shipped' }) });

async function cpuPerAnswer(withTool: boolean): Promise<number> {
  const engine = new ChatEngine({
    storage: new MemoryStorage(),
    llm: new InstantProvider(withTool),
    agents: { assistant: { tools: { lookupOrder } } },
    rateLimits: Object.fromEntries(['default', 'stream:request', 'message:send'].map((a) => [a, OFF])),
    maxStreamsPerUser: 1_000,
    maxConcurrentStreams: 1_000,
    streamDelayMs: 0,
    contextMessages: 0,
  });
  await engine.init();
  const session = await engine.createSession({ createdBy: 'alice' });
  const ask = () =>
    new Promise<void>((resolve, reject) => {
      engine.startStream(session.id, 'Where is A-1042?', 'alice', undefined, {}, undefined, (e) => reject(e), () => resolve()).catch(reject);
    });
  const ms = await cpuMsPerCall(ask, ANSWERS);
  await engine.close();
  return ms;
}

export default async function toolsBench(): Promise<BenchRow[]> {
  let plain = Infinity;
  let tooled = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    plain = Math.min(plain, await cpuPerAnswer(false));
    tooled = Math.min(tooled, await cpuPerAnswer(true));
    console.error(`tools: round ${round + 1}: ${fmt(plain)} ms without a tool, ${fmt(tooled)} ms with one (best so far)`);
  }
  const added = tooled - plain;
  return [
    {
      scenario: 'tools (one round trip per answer, in-process upstream)',
      metric: 'server CPU added per tool round trip',
      value: added,
      unit: 'ms',
      baseline: { name: `answer without a tool: ${fmt(plain)} ms CPU`, value: plain },
      target: `<= ${TARGET_MS} ms`,
      pass: added <= TARGET_MS,
    },
  ];
}
