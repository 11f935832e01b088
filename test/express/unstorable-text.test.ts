import { ChatEngine, ScriptedProvider } from 'parley-chat';
import { PostgresStorage } from 'parley-chat/postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_RATE_LIMITS, storedState } from '../support/engine.js';
import { dropSchema, PG_URL, postgresAvailable, uniqueSchema } from '../support/postgres.js';
import { startChat, type ChatFixture } from '../socket.io/harness.js';
import { expectError, startChatApp, type ChatApp, type Client } from './harness.js';

/**
 * U+0000 and unpaired surrogates over the wire, on the storage that cannot keep them (Postgres):
 * a 400 VALIDATION over REST, a VALIDATION ack over a socket that stays connected, nothing stored.
 */
const pgUp = await postgresAvailable();
const schema = uniqueSchema();

describe.skipIf(!pgUp)(`text no storage can keep, over REST and a socket, on Postgres${pgUp ? '' : ` (unreachable at ${PG_URL})`}`, () => {
  let engine: ChatEngine;
  let app: ChatApp;
  let chat: ChatFixture;
  let alice: Client;
  let sessionId: string;
  let messageId: string;

  beforeAll(async () => {
    engine = new ChatEngine({
      storage: new PostgresStorage({ connectionString: PG_URL, schema }),
      rateLimits: NO_RATE_LIMITS,
      llm: new ScriptedProvider({ tokensPerSecond: 0 }),
      streamLeaseMs: 0,
    });
    await engine.init();
    app = await startChatApp({ engine });
    chat = await startChat({ engine });
    alice = await app.as('alice');
    sessionId = (await alice.post('/sessions', { memberIds: ['bob'] })).body.id;
    messageId = (await alice.post('/messages', { sessionId, content: 'hello world' })).body.id;
  });
  afterAll(async () => {
    await chat?.close();
    await app?.close();
    await engine?.close();
    await dropSchema(schema);
  });

  it('REST answers 400 VALIDATION naming the field, and writes nothing', async () => {
    const before = await storedState(engine, sessionId);
    const sessions = (await alice.get('/sessions')).body.sessions.length;
    const refused = async (reply: Promise<{ status: number; body: any; headers: Headers }>, field: string) => {
      const answer = await reply;
      expectError(answer, 400, 'VALIDATION');
      expect(answer.body.error.message).toContain(field);
    };
    await refused(alice.post('/sessions', { title: 'a\u0000b' }), 'body.title');
    await refused(alice.post('/sessions', { metadata: { tags: ['ok', 'no\u0000'] } }), 'body.metadata.tags.1');
    await refused(alice.post('/messages', { sessionId, content: 'hi', metadata: { '\uD800': 1 } }), 'body.metadata');
    await refused(alice.post('/messages', { sessionId, content: 'hi\uDC00' }), 'body.content');
    await refused(
      alice.post(`/messages/${messageId}/attachments`, { fileName: 'a.png', fileUrl: 'https://cdn.example.com/a\u0000.png', mimeType: 'image/png', fileSize: 1 }),
      'body.fileUrl',
    );
    await refused(alice.put(`/messages/${messageId}`, { content: 'edited\u0000' }), 'body.content');
    await refused(alice.get(`/sessions/${sessionId}/search?query=${encodeURIComponent('hello\u0000')}`), 'query.query');
    await refused(alice.post(`/sessions/${sessionId}/streams`, { prompt: '\u0000' }), 'body.prompt');
    expect(await storedState(engine, sessionId)).toEqual(before);
    expect((await alice.get('/sessions')).body.sessions).toHaveLength(sessions);
  });

  it('a socket gets a VALIDATION ack, stays connected, and nothing is stored', async () => {
    const before = await storedState(engine, sessionId);
    const tab = await chat.connect('alice');
    expect((await tab.call('session:join', { sessionId })).ok).toBe(true);
    for (const [event, payload, field] of [
      ['message:send', { sessionId, content: 'hi\u0000' }, 'content'],
      ['message:send', { sessionId, content: 'hi', attachments: [{ fileName: 'a\uD800', fileUrl: 'https://cdn.example.com/a', mimeType: 'image/png', fileSize: 1 }] }, 'fileName'],
      ['message:send', { sessionId, content: 'hi', attachments: [{ fileName: 'a.png', fileUrl: 'https://cdn.example.com/\u0000', mimeType: 'image/png', fileSize: 1 }] }, 'fileUrl'],
      ['message:edit', { messageId, content: '\uDC00' }, 'content'],
      ['message:reaction', { messageId, emoji: ':ok\u0000:' }, 'emoji'],
      ['typing:start', { sessionId, userName: 'Alice\u0000' }, 'userName'],
      ['stream:request', { sessionId, prompt: 'tell me\u0000' }, 'prompt'],
    ] as const) {
      const ack = await tab.call(event, payload);
      expect(ack.ok, `${event} ${JSON.stringify(payload)}`).toBe(false);
      expect(ack.error.code).toBe('VALIDATION');
      expect(ack.error.message).toContain(field);
    }
    expect(tab.socket.connected).toBe(true);
    expect(await storedState(engine, sessionId)).toEqual(before);
    const sent = await tab.call('message:send', { sessionId, content: 'still here' });
    expect(sent.ok).toBe(true);
    await tab.close();
  });
});
