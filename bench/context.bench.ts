/**
 * What a token budget costs: answers with 20 messages of history sent upstream, with an agent
 * `context.maxTokens` (every message counted, the oldest trimmed) against the same answers without
 * one, measured in the same run on the same engine (MemoryStorage, no sockets, an in-process
 * upstream that answers at once). The difference per answer is the counting and trimming; the
 * tokenizer's load (its vocabulary, once per process, in `engine.init()`) is reported on its own row.
 * Target: ≤ 1 ms of CPU per answer.
 *
 * Knobs: BENCH_CONTEXT_ANSWERS (answers per side per round, default 500), BENCH_CONTEXT_ROUNDS
 * (default 5; the best round of each side is kept).
 */
import { ChatEngine, MemoryStorage, type LlmDelta, type LlmProvider } from '../src/index.js';
import { cpuMsPerCall, fmt, type BenchRow } from './lib.js';

const ANSWERS = Number(process.env.BENCH_CONTEXT_ANSWERS ?? 500);
const ROUNDS = Number(process.env.BENCH_CONTEXT_ROUNDS ?? 5);
const HISTORY = 20;
const TARGET_MS = 1;
const OFF = { points: 0, durationMs: 60_000 };
const MESSAGE = 'The order A-1042 left the warehouse this morning and should arrive on Thursday, weather permitting. '.repeat(2);

/** Answers at once, as long as the history's messages: the window read stays 20 such messages. */
class InstantProvider implements LlmProvider {
  readonly name = 'instant';
  async *stream(): AsyncIterable<LlmDelta> {
    yield { text: `It arrives on Thursday. ${MESSAGE}` };
    yield { text: '', finishReason: 'stop', usage: { promptTokens: 900, completionTokens: 5 } };
  }
}

function newEngine(maxTokens: number | undefined): ChatEngine {
  return new ChatEngine({
    storage: new MemoryStorage(),
    llm: new InstantProvider(),
    agents: { assistant: { systemPrompt: 'Be brief.', ...(maxTokens !== undefined && { context: { maxTokens } }) } },
    rateLimits: Object.fromEntries(['default', 'stream:request', 'message:send'].map((a) => [a, OFF])),
    maxStreamsPerUser: 1_000,
    maxConcurrentStreams: 1_000,
    streamDelayMs: 0,
    contextMessages: HISTORY,
  });
}

async function engineWith(maxTokens: number | undefined) {
  const engine = newEngine(maxTokens);
  await engine.init();
  const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
  for (let i = 0; i < HISTORY; i++) {
    await engine.createMessage({ sessionId: session.id, userId: i % 2 ? 'bob' : 'alice', content: `${i}: ${MESSAGE} Ticket ${1000 + i * 37}.` });
  }
  const ask = () =>
    new Promise<void>((resolve, reject) => {
      engine.startStream(session.id, `When does it arrive? ${MESSAGE}`, 'alice', undefined, {}, undefined, (e) => reject(e), () => resolve()).catch(reject);
    });
  return { engine, ask };
}

/** CPU ms per answer; each answer adds two messages as long as the others, so the history read stays alike. */
async function cpuPerAnswer(maxTokens: number | undefined): Promise<number> {
  const { engine, ask } = await engineWith(maxTokens);
  const ms = await cpuMsPerCall(ask, ANSWERS); // its warm-up also loads the tokenizer
  await engine.close();
  return ms;
}

export default async function contextBench(): Promise<BenchRow[]> {
  // The tokenizer loads once per process, in the init() of an engine with a budgeted agent.
  const timedInit = async (maxTokens: number | undefined) => {
    const engine = newEngine(maxTokens);
    const start = performance.now();
    await engine.init();
    const ms = performance.now() - start;
    await engine.close();
    return ms;
  };
  const plainInitMs = await timedInit(undefined);
  const initMs = await timedInit(600);

  let plain = Infinity;
  let budgeted = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    plain = Math.min(plain, await cpuPerAnswer(undefined));
    budgeted = Math.min(budgeted, await cpuPerAnswer(600)); // about half of the 20 messages fit
    console.error(`context: round ${round + 1}: ${fmt(plain)} ms without a budget, ${fmt(budgeted)} ms with one (best so far)`);
  }
  const added = budgeted - plain;
  return [
    {
      scenario: `context (${HISTORY} messages of history, budget 600 tokens)`,
      metric: 'server CPU added per answer by the budget',
      value: added,
      unit: 'ms',
      baseline: { name: `answer without a budget: ${fmt(plain)} ms CPU`, value: plain },
      target: `<= ${TARGET_MS} ms`,
      pass: added <= TARGET_MS,
    },
    {
      scenario: 'context (engine.init(), the first in the process)',
      metric: 'init() with a budgeted agent: tokenizer loaded (wall)',
      value: initMs,
      unit: 'ms',
      baseline: { name: `init() without a budget: ${fmt(plainInitMs)} ms`, value: plainInitMs },
    },
  ];
}
