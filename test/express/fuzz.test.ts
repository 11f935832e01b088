import fc from 'fast-check';
import { responseSchemas } from 'parley-chat/express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedState } from '../support/engine.js';
import { startChatApp, type ChatApp, type Client, type Reply } from './harness.js';

/**
 * Random JSON bodies: every answer is a documented JSON error or a success, never a 500, and a
 * refused request writes nothing.
 */

const keys = ['sessionId', 'content', 'userId', 'senderId', 'parentMessageId', 'attachments', 'clientMessageId', 'metadata', '__proto__', 'constructor'];

/** Bodies near the real shape (so some succeed) mixed with arbitrary JSON. */
function bodies(sessionId: string, messageId: string) {
  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom(sessionId, messageId, '', ' ', 'x'.repeat(10_001), 'a\u0000b', '\uD800', 'javascript:alert(1)', -1, 1e308, null),
    fc.string({ maxLength: 40 }),
  );
  const nearMessage = fc.record(
    {
      sessionId: fc.oneof(fc.constant(sessionId), value),
      content: fc.oneof(fc.string({ minLength: 1, maxLength: 50 }), value),
      parentMessageId: fc.oneof(fc.constant(messageId), value),
      clientMessageId: fc.oneof(fc.stringMatching(/^[a-z0-9-]{1,20}$/), value),
      attachments: fc.oneof(
        fc.array(
          fc.record({ fileName: fc.string({ maxLength: 10 }), fileUrl: fc.constantFrom('https://x.example/a', 'file:///etc', 'javascript:x'), mimeType: fc.constantFrom('image/png', 'nope'), fileSize: fc.integer() }, { requiredKeys: [] }),
          { maxLength: 12 },
        ),
        value,
      ),
      metadata: fc.oneof(fc.object({ maxDepth: 2 }), value),
      extra: fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 2 }),
    },
    { requiredKeys: [] },
  ).map(({ extra, ...rest }) => ({ ...extra, ...rest }));
  const valid = fc.record(
    {
      sessionId: fc.constant(sessionId),
      content: fc.string({ minLength: 1, maxLength: 50 }).filter((c) => c.trim().length > 0),
      parentMessageId: fc.constant(messageId),
      clientMessageId: fc.stringMatching(/^[a-z0-9-]{1,20}$/),
    },
    { requiredKeys: ['sessionId', 'content'] },
  );
  return fc.oneof(
    { weight: 1, arbitrary: valid },
    { weight: 3, arbitrary: nearMessage },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  );
}

function expectWellFormed(reply: Reply, successStatus: number): void {
  expect(reply.status).not.toBeGreaterThanOrEqual(500);
  if (reply.status === successStatus) {
    expect(responseSchemas.Message.safeParse(reply.body).success).toBe(true);
  } else {
    expect([400, 403, 404, 409, 413]).toContain(reply.status);
    expect(responseSchemas.ErrorResponse.safeParse(reply.body).success, JSON.stringify(reply.body)).toBe(true);
  }
}

describe('fuzzing the write routes with random JSON bodies', () => {
  let app: ChatApp;
  let alice: Client;
  let sessionId: string;
  let messageId: string;

  beforeAll(async () => {
    app = await startChatApp();
    alice = await app.as('alice');
    sessionId = (await alice.post('/sessions', { id: 'fuzz-room' })).body.id;
    messageId = (await alice.post('/messages', { sessionId, content: 'the original' })).body.id;
  });
  afterAll(() => app.close());

  it('POST /messages: a Message or a JSON error, never a 500; a refusal writes nothing', async () => {
    let created = 0;
    await fc.assert(
      fc.asyncProperty(bodies(sessionId, messageId), async (body) => {
        const before = await storedState(app.engine, sessionId);
        const reply = await alice.post('/messages', body);
        expectWellFormed(reply, 201);
        if (reply.status === 201) {
          created++;
          expect(reply.body.userId).toBe('alice'); // whatever the body said
        } else {
          expect(await storedState(app.engine, sessionId)).toEqual(before);
        }
      }),
      { numRuns: 300 },
    );
    expect(created).toBeGreaterThan(0); // the generator does reach the success path
  });

  it('PUT /messages/:id: a Message or a JSON error, never a 500; a refusal writes nothing', async () => {
    const content = fc.oneof(fc.string({ minLength: 1, maxLength: 50 }), fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('', '   ', 'x'.repeat(10_001), 'a\u0007b'));
    const body = fc.oneof(
      fc.record({ content }),
      fc.record({ content, extra: fc.constantFrom(...keys) }).map(({ content, extra }) => ({ content, [extra]: 'bob' })),
      fc.jsonValue({ maxDepth: 3 }),
    );
    let edited = 0;
    await fc.assert(
      fc.asyncProperty(body, async (payload) => {
        const before = await storedState(app.engine, sessionId);
        const reply = await alice.put(`/messages/${messageId}`, payload);
        expectWellFormed(reply, 200);
        if (reply.status === 200) edited++;
        else expect(await storedState(app.engine, sessionId)).toEqual(before);
      }),
      { numRuns: 300 },
    );
    expect(edited).toBeGreaterThan(0);
  });
});
