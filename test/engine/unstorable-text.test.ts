import { ChatEngine, ScriptedProvider, type StorageAdapter } from 'parley-chat';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectChatError, NO_RATE_LIMITS, storedState } from '../support/engine.js';
import { testStorages } from '../support/storages.js';

/**
 * Postgres cannot store U+0000 in text or jsonb, nor an unpaired surrogate in jsonb, where SQLite
 * and memory take both: every storage must give the same answer, so the engine refuses them in
 * every string it accepts, naming the field, before anything is written.
 */
const storages = await testStorages('unstorable');

const NUL = '\u0000';
const LONE_HIGH = '\uD800';
const LONE_LOW = '\uDC00';
const url = 'https://cdn.example.com/a.png';
const attachment = { fileName: 'a.png', fileUrl: url, mimeType: 'image/png', fileSize: 1 };

for (const { name, create, skip } of storages) {
  describe.skipIf(skip !== undefined)(`text no storage can keep, on ${name}${skip ? ` (${skip})` : ''}`, () => {
    let storage: StorageAdapter;
    let engine: ChatEngine;
    let sessionId: string;
    let messageId: string;

    beforeAll(async () => {
      storage = create();
      engine = new ChatEngine({ storage, rateLimits: NO_RATE_LIMITS, llm: new ScriptedProvider({ reply: 'ok' }), streamLeaseMs: 0 });
      await engine.init();
      sessionId = (await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] })).id;
      messageId = (await engine.createMessage({ sessionId, userId: 'alice', content: 'first', attachments: [attachment] })).id;
    });
    afterAll(() => engine.close());

    /** Refused as VALIDATION with a message naming `field`, and nothing of the session changed. */
    async function refused(call: () => Promise<unknown>, field: string): Promise<void> {
      const before = await storedState(storage, sessionId);
      const sessionsBefore = (await engine.listSessions('alice')).length;
      const error = await expectChatError(call(), 'VALIDATION');
      expect(error.message).toContain(field);
      expect(await storedState(storage, sessionId)).toEqual(before);
      expect((await engine.listSessions('alice')).length).toBe(sessionsBefore);
      expect((await engine.getMessage(messageId)).attachments).toHaveLength(1);
    }

    const bad = [
      ['U+0000', NUL],
      ['a lone high surrogate', LONE_HIGH],
      ['a lone low surrogate', LONE_LOW],
    ] as const;

    describe.each(bad)('%s', (_, char) => {
      it('in a session title or its metadata (keys and values, at any depth)', async () => {
        await refused(() => engine.createSession({ createdBy: 'alice', title: `a${char}b` }), 'session.title');
        await refused(() => engine.createSession({ createdBy: 'alice', metadata: { note: `a${char}` } }), 'session.metadata.note');
        await refused(() => engine.createSession({ createdBy: 'alice', metadata: { [`k${char}`]: 1 } }), 'session.metadata');
        await refused(() => engine.createSession({ createdBy: 'alice', metadata: { a: { b: [1, { c: `x${char}` }] } } }), 'session.metadata.a.b.1.c');
        await refused(() => engine.createSession({ createdBy: 'alice', metadata: { a: [{ [`${char}`]: true }] } }), 'session.metadata.a.0');
      });

      it('in message content, metadata, attachments and ids', async () => {
        const send = (fields: Record<string, unknown>) => () =>
          engine.createMessage({ sessionId, userId: 'alice', content: 'hi', ...fields } as never);
        await refused(send({ content: `hi${char}there` }), 'message.content');
        await refused(send({ metadata: { [`x${char}`]: 'y' } }), 'message.metadata');
        await refused(send({ metadata: { list: ['ok', `no${char}`] } }), 'message.metadata.list.1');
        await refused(send({ clientMessageId: `c${char}` }), 'message.clientMessageId');
        await refused(send({ attachments: [{ ...attachment, fileUrl: `${url}?q=${char}` }] }), 'message.attachments.0.fileUrl');
        await refused(send({ attachments: [{ ...attachment, fileName: `a${char}.png` }] }), 'message.attachments.0.fileName');
        await refused(send({ attachments: [{ ...attachment, mimeType: `image/png${char}` }] }), 'message.attachments.0.mimeType');
        await refused(send({ attachments: [{ ...attachment, metadata: { [char]: 1 } }] }), 'message.attachments.0.metadata');
        await refused(() => engine.editMessage(messageId, `edited${char}`, 'alice'), 'content');
      });

      it('in an attachment added later', async () => {
        const add = (fields: Record<string, unknown>) => () => engine.addAttachment(messageId, { ...attachment, ...fields }, 'alice');
        await refused(add({ fileUrl: `https://cdn.example.com/${char}.png` }), 'attachment.fileUrl');
        await refused(add({ fileName: `${char}` }), 'attachment.fileName');
        await refused(add({ metadata: { deep: { deeper: { deepest: char } } } }), 'attachment.metadata.deep.deeper.deepest');
      });

      it('in a search query, a reaction, an LLM request and a typing name', async () => {
        await refused(() => engine.searchMessages(sessionId, 'alice', `first${char}`), 'query');
        await refused(() => engine.toggleReaction(messageId, 'alice', `:ok${char}:`), 'emoji');
        await refused(() => engine.requestStream({ sessionId, userId: 'alice', prompt: `hello${char}` }), 'stream.prompt');
        await refused(() => engine.requestStream({ sessionId, userId: 'alice', prompt: 'hi', agentId: `a${char}` }), 'stream.agentId');
        await refused(() => engine.requestStream({ sessionId, userId: 'alice', prompt: 'hi', config: { model: `m${char}` } }), 'stream.config.model');
        await refused(() => engine.setTyping(sessionId, 'alice', true, `Alice${char}`), 'name');
      });
    });

    it('still takes the same text without those characters, on every field', async () => {
      const session = await engine.createSession({ createdBy: 'alice', title: 'T\u00e9 \u{1F600}', metadata: { 'k\u00e9': ['\u{1F600}', { n: 1 }] } });
      expect(session.title).toBe('T\u00e9 \u{1F600}');
      expect(session.metadata).toEqual({ 'k\u00e9': ['\u{1F600}', { n: 1 }] });
      const message = await engine.createMessage({
        sessionId,
        userId: 'alice',
        content: 'tab\tnew\nline \u{1F600}',
        metadata: { '\u{1F600}': 'x\ty' },
        attachments: [{ ...attachment, fileName: '\u00e9t\u00e9.png', fileUrl: 'https://cdn.example.com/%00.png?\u00e9' }],
      });
      expect(message.metadata).toEqual({ '\u{1F600}': 'x\ty' });
      expect(message.attachments[0]).toMatchObject({ fileName: '\u00e9t\u00e9.png', fileUrl: 'https://cdn.example.com/%00.png?\u00e9' });
    });
  });
}
