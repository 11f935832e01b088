import { ChatEngine, MemoryStorage, ScriptedProvider, type StreamChunk } from 'parley-chat';
import { afterEach, describe, expect, it } from 'vitest';
import { demoTools } from '../../examples/server/demo-tools.js';
import { NO_RATE_LIMITS } from '../support/engine.js';

/** The reference app's assistant shows a tool call without a model: the scripted provider calls a demo tool. */
let engine: ChatEngine | undefined;
afterEach(() => engine?.close());

async function ask(prompt: string) {
  engine = new ChatEngine({
    storage: new MemoryStorage(),
    rateLimits: NO_RATE_LIMITS,
    llm: new ScriptedProvider({ tokensPerSecond: 0 }),
    agents: { assistant: { tools: demoTools } },
    streamDelayMs: 5,
  });
  await engine.init();
  const session = await engine.createSession({ createdBy: 'alice' });
  const chunks: StreamChunk[] = [];
  engine.on('stream.chunk', (c) => chunks.push(c));
  const done = new Promise((resolve) => engine!.on('stream.completed', resolve));
  const { streamId, messageId } = await engine.requestStream({ sessionId: session.id, prompt, userId: 'alice' });
  await done;
  return { chunks, answer: await engine.getMessage(messageId), metrics: await engine.getStreamMetrics(streamId) };
}

describe('the scripted demo provider with the demo tools', () => {
  it('"roll a die" calls rollDice and answers with its result', async () => {
    const { chunks, answer, metrics } = await ask('Please roll a die for me');
    const parts = chunks.flatMap((c) => (c.part ? [c.part] : []));
    expect(parts.map((p) => [p.type, p.toolName])).toEqual([['tool-call', 'rollDice'], ['tool-result', 'rollDice']]);
    const result = parts[1] as { output: { rolls: number[]; total: number } };
    expect(result.output.rolls).toHaveLength(1);
    expect(result.output.total).toBeGreaterThanOrEqual(1);
    expect(result.output.total).toBeLessThanOrEqual(6);
    expect(answer.content).toContain('rollDice');
    expect(answer.content).toContain(JSON.stringify(result.output));
    expect(metrics).toMatchObject({ steps: 2, toolCalls: [{ toolName: 'rollDice', isError: false }] });
  });

  it('"what time is it" calls currentTime; a prompt naming no tool is answered in text alone', async () => {
    const timed = await ask('What time is it?');
    expect(timed.chunks.find((c) => c.part)?.part).toMatchObject({ type: 'tool-call', toolName: 'currentTime' });
    await engine!.close();
    const plain = await ask('Hello there');
    expect(plain.chunks.some((c) => c.part)).toBe(false);
    expect(plain.metrics.steps).toBe(1);
  });
});
