import { defineTool, ScriptedProvider } from 'parley-chat';
import { z } from 'zod';
import { memoryPersistence } from 'parley-chat/client';
import { afterEach, describe, expect, it } from 'vitest';
import { clientFor, closeClients, TestServer, until } from './harness.js';

const ANSWER = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');

let server: TestServer;
afterEach(async () => {
  closeClients();
  await server.dispose();
});

async function start(tokensPerSecond: number): Promise<string> {
  server = await new TestServer({
    engine: { llm: new ScriptedProvider({ tokensPerSecond, reply: ANSWER }), agents: { assistant: { systemPrompt: 'Be brief.' } }, streamDelayMs: 20 },
  }).start();
  const { id } = await server.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
  return id;
}

describe('streamed answers', () => {
  it('grow in the snapshot as a streaming message and end completed with the whole text', async () => {
    const sessionId = await start(200);
    const room = clientFor(server, 'alice').session(sessionId);
    const bobRoom = clientFor(server, 'bob').session(sessionId);
    await until(() => room.getSnapshot().state === 'joined' && bobRoom.getSnapshot().state === 'joined', 'joined');

    const seen: string[] = [];
    const off = bobRoom.subscribe(() => {
      const answer = bobRoom.getSnapshot().messages.find((m) => m.role === 'assistant');
      if (answer?.status === 'streaming') seen.push(answer.content);
    });
    const streamId = await room.ask('Say sixty words', { agentId: 'assistant' });
    expect(typeof streamId).toBe('string');
    for (const r of [room, bobRoom]) await until(() => r.getSnapshot().messages.find((m) => m.role === 'assistant')?.status === 'completed', 'completed');
    off();

    for (const r of [room, bobRoom]) {
      const messages = r.getSnapshot().messages;
      expect(messages.map((m) => [m.role, m.status])).toEqual([
        ['user', 'sent'],
        ['assistant', 'completed'],
      ]);
      expect(messages[1]!.content).toBe(ANSWER);
      expect(r.getSnapshot().streams).toEqual({});
    }
    // It grew: each snapshot seen while streaming extends the one before.
    expect(seen.length).toBeGreaterThan(2);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.startsWith(seen[i - 1]!)).toBe(true);
  });

  it('resumes after a reload mid-answer from stream:snapshot, and ends with the whole text', async () => {
    const sessionId = await start(30); // two seconds of answer
    const persistence = memoryPersistence();
    const first = clientFor(server, 'alice', { persistence });
    const room = first.session(sessionId);
    await until(() => room.getSnapshot().state === 'joined', 'joined');
    await room.ask('Say sixty words', { agentId: 'assistant' });
    await until(() => (room.getSnapshot().messages.find((m) => m.role === 'assistant')?.content.length ?? 0) > 20, 'part of the answer');
    first.close(); // reload

    const again = clientFor(server, 'alice', { persistence }).session(sessionId);
    await until(() => Object.keys(again.getSnapshot().streams).length === 1, 'the running answer resumed');
    const resumed = again.getSnapshot().messages.find((m) => m.role === 'assistant')!;
    expect(resumed.status).toBe('streaming');
    expect(resumed.content.length).toBeGreaterThan(20);
    expect(ANSWER.startsWith(resumed.content)).toBe(true);

    await until(() => again.getSnapshot().messages.find((m) => m.role === 'assistant')?.status === 'completed', 'completed', 10_000);
    expect(again.getSnapshot().messages.find((m) => m.role === 'assistant')!.content).toBe(ANSWER);
  });

  it('stop() keeps the partial answer, marked stopped', async () => {
    const sessionId = await start(30);
    const room = clientFor(server, 'alice').session(sessionId);
    await until(() => room.getSnapshot().state === 'joined', 'joined');
    const streamId = await room.ask('Say sixty words', { agentId: 'assistant' });
    await until(() => (room.getSnapshot().messages.find((m) => m.role === 'assistant')?.content.length ?? 0) > 10, 'part of the answer');
    await room.stop(streamId);
    await until(() => room.getSnapshot().messages.find((m) => m.role === 'assistant')?.status === 'stopped', 'stopped');
    const answer = room.getSnapshot().messages.find((m) => m.role === 'assistant')!;
    expect(answer.content.length).toBeGreaterThan(10);
    expect(answer.content.length).toBeLessThan(ANSWER.length);
    expect(ANSWER.startsWith(answer.content)).toBe(true);
  });

  it('carries an answer’s tool call and result as parts, in order, while it streams', async () => {
    const rollDice = defineTool({ description: 'Roll a die.', input: z.object({}), execute: () => ({ rolled: 4 }) });
    server = await new TestServer({
      engine: { llm: new ScriptedProvider({ tokensPerSecond: 100, reply: ANSWER }), agents: { assistant: { systemPrompt: 'Be brief.', tools: { rollDice } } }, streamDelayMs: 20 },
    }).start();
    const { id } = await server.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    const room = clientFor(server, 'alice').session(id);
    await until(() => room.getSnapshot().state === 'joined', 'joined');

    let parts: readonly unknown[] = [];
    const off = room.subscribe(() => {
      const stream = Object.values(room.getSnapshot().streams)[0];
      if (stream) parts = stream.parts;
    });
    await room.ask('Please roll a die', { agentId: 'assistant' });
    await until(() => room.getSnapshot().messages.find((m) => m.role === 'assistant')?.status === 'completed', 'completed');
    off();

    expect(parts.slice(0, 2)).toEqual([
      { type: 'tool-call', toolCallId: expect.any(String), toolName: 'rollDice', input: {} },
      { type: 'tool-result', toolCallId: expect.any(String), toolName: 'rollDice', output: { rolled: 4 } },
    ]);
    const text = parts.slice(2) as Array<{ type: string; text: string }>;
    expect(text.map((p) => p.type)).toEqual(['text']); // the deltas after the tool joined into one part
    expect(text[0]!.text.length).toBeGreaterThan(0);
    // The ended answer keeps them on its message, as stored.
    const answer = room.getSnapshot().messages.find((m) => m.role === 'assistant')!;
    expect(answer.parts?.map((p) => p.type)).toEqual(['tool-call', 'tool-result', 'text']);
  });
});
