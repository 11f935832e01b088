import { defineTool, type MessagePart } from 'parley-chat';
import { OpenAICompatibleProvider } from 'parley-chat/openai';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { messagePageSchema, messageSchema } from '../../adapters/express/response-schemas.js';
import { sseTranscript } from '../llm/transcripts/index.js';
import { startFakeOpenAI, type FakeOpenAI, type RecordedRequest } from '../support/fake-openai.js';
import { clientFor, closeClients, TestServer, tokenFor, until } from './harness.js';

/**
 * An answer's parts as members get them: live in the client's messages, in the snapshot of a
 * member who joins while a tool runs, in the replay of one who joins later, and over REST — a real
 * server (Express, Socket.io, SQLite) with a local upstream that asks for a tool, then answers.
 */
const call = sseTranscript('openai-tool-call.sse');
const text = sseTranscript('openai-text.sse');
const CALL_ID = 'call_Qk7X2mV9pLr4TnB8sWc1YdHe';
const PARTS: MessagePart[] = [
  { type: 'tool-call', toolCallId: CALL_ID, toolName: 'lookupOrder', input: { orderId: 'A-1042' } },
  { type: 'tool-result', toolCallId: CALL_ID, toolName: 'lookupOrder', output: { status: 'shipped' } },
  { type: 'text', text: 'Order A-1042 has shipped.' },
];

let server: TestServer;
let upstream: FakeOpenAI;
afterEach(async () => {
  closeClients();
  await server.dispose();
  await upstream.close();
});

describe('parts reach members', () => {
  it('live, in the snapshot of a member who joins while the tool runs, in a later replay and over REST', async () => {
    const hasResult = (r: RecordedRequest) => r.body.messages.some((m: { role: string }) => m.role === 'tool');
    upstream = await startFakeOpenAI({ transcripts: {}, select: (r) => (hasResult(r) ? text : call) });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let running!: () => void;
    const started = new Promise<void>((resolve) => (running = resolve));
    const lookupOrder = defineTool({
      description: 'Order status by id',
      input: z.object({ orderId: z.string() }),
      execute: async () => {
        running();
        await gate;
        return { status: 'shipped' };
      },
    });
    server = await new TestServer({
      engine: {
        llm: new OpenAICompatibleProvider({ baseURL: upstream.baseURL, model: 'gpt-4o-mini' }),
        agents: { assistant: { tools: { lookupOrder } } },
        streamDelayMs: 10,
      },
    }).start();
    const { id: sessionId } = await server.engine.createSession({ createdBy: 'alice', memberIds: ['bob', 'carol'] });
    const room = clientFor(server, 'alice').session(sessionId);
    await until(() => room.getSnapshot().state === 'joined', 'joined');
    await room.ask('Where is A-1042?', { agentId: 'assistant' });
    await started;
    const answerOf = (r: typeof room) => r.getSnapshot().messages.find((m) => m.role === 'assistant');
    await until(() => answerOf(room)?.parts?.length === 1, 'the tool call, live');
    expect(answerOf(room)!.parts).toEqual([PARTS[0]]);

    // Bob joins while the tool runs: the stream snapshot carries the call.
    const bobRoom = clientFor(server, 'bob').session(sessionId);
    await until(() => Object.keys(bobRoom.getSnapshot().streams).length === 1, 'the running answer for bob');
    expect(Object.values(bobRoom.getSnapshot().streams)[0]!.parts).toEqual([PARTS[0]]);
    expect(answerOf(bobRoom)).toMatchObject({ status: 'streaming', parts: [PARTS[0]] });

    release();
    for (const r of [room, bobRoom]) await until(() => answerOf(r)?.status === 'completed', 'completed');
    for (const r of [room, bobRoom]) expect(answerOf(r)).toMatchObject({ content: 'Order A-1042 has shipped.', parts: PARTS });

    // Carol joins afterwards: the replay carries the stored parts.
    const carolRoom = clientFor(server, 'carol').session(sessionId);
    await until(() => carolRoom.getSnapshot().state === 'joined' && answerOf(carolRoom) !== undefined, 'carol caught up');
    expect(answerOf(carolRoom)).toMatchObject({ status: 'completed', parts: PARTS });
    expect(carolRoom.getSnapshot().messages.find((m) => m.role === 'user')).not.toHaveProperty('parts');

    // REST: the page and the message, each matching the documented schema.
    const headers = { authorization: `Bearer ${await tokenFor('carol')}` };
    const page = messagePageSchema.parse(await (await fetch(`${server.url}/api/chat/sessions/${sessionId}/messages`, { headers })).json());
    const answer = page.messages.find((m) => m.role === 'assistant')!;
    expect(answer.parts).toEqual(PARTS);
    const one = messageSchema.parse(await (await fetch(`${server.url}/api/chat/messages/${answer.id}`, { headers })).json());
    expect(one.parts).toEqual(PARTS);

    // Deleted by the session's owner: no text, no parts, live and stored.
    await server.engine.deleteMessage(answer.id, 'alice');
    for (const r of [room, bobRoom, carolRoom]) await until(() => answerOf(r)?.isDeleted === true, 'deleted');
    for (const r of [room, bobRoom, carolRoom]) expect(answerOf(r)).not.toHaveProperty('parts');
    expect(await server.engine.getMessage(answer.id)).not.toHaveProperty('parts');
  });
});
