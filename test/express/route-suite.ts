import { ChatEngine, ScriptedProvider, type StorageAdapter } from 'parley-chat';
import { responseSchemas } from 'parley-chat/express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { startChatApp, type ChatApp, type Client } from './harness.js';

type ResponseName = keyof typeof responseSchemas;

/** Asserts a success body has the documented shape (the schema the OpenAPI document is generated from). */
function shape<T = any>(name: ResponseName, body: unknown): T {
  const result = responseSchemas[name].safeParse(body);
  expect(result.success, `${name}: ${JSON.stringify(result.error?.issues)}`).toBe(true);
  return body as T;
}

/**
 * Every route's success path over real HTTP, with the documented status and shape. Run once per
 * storage (memory, SQLite), so the wire shape holds whatever the storage returns.
 */
export function describeRestRoutes(name: string, createStorage: () => StorageAdapter | Promise<StorageAdapter>): void {
  describe(`REST routes on ${name}`, () => {
    let app: ChatApp;
    let alice: Client;
    let bob: Client;
    let sessionId: string;
    let firstId: string;

    beforeAll(async () => {
      const engine = new ChatEngine({
        storage: await createStorage(),
        rateLimits: NO_RATE_LIMITS,
        llm: new ScriptedProvider({
          tokensPerSecond: 100,
          // 'again' gets a long answer (~10 s) so the stop below surely lands mid-stream
          reply: (r) => (r.messages.at(-1)?.content === 'again' ? 'word '.repeat(1000) : 'one two three four five six seven eight nine ten'),
        }),
      });
      await engine.init();
      app = await startChatApp({ engine });
      alice = await app.as('alice');
      bob = await app.as('bob');
    });
    afterAll(async () => {
      await app.close();
      await app.engine.close();
    });

    it('POST /sessions creates a session owned by the caller (201 Session)', async () => {
      const reply = await alice.post('/sessions', { id: 'room-1', title: 'Support', memberIds: ['bob'], metadata: { topic: 'billing' } });
      expect(reply.status).toBe(201);
      const session = shape('Session', reply.body);
      expect(session).toMatchObject({ id: 'room-1', title: 'Support', createdBy: 'alice', metadata: { topic: 'billing' }, lastSeq: 0 });
      sessionId = session.id;
      // without a body: a generated id, no title
      const bare = await bob.post('/sessions');
      expect(bare.status).toBe(201);
      expect(shape('Session', bare.body)).toMatchObject({ createdBy: 'bob', title: null });
    });

    it('GET /sessions/:sessionId returns the session', async () => {
      const reply = await bob.get(`/sessions/${sessionId}`);
      expect(reply.status).toBe(200);
      expect(shape('Session', reply.body).id).toBe(sessionId);
    });

    it('POST /messages sends as the caller (201 Message); a retried clientMessageId returns the first', async () => {
      const reply = await alice.post('/messages', { sessionId, content: 'Hello Bob', clientMessageId: 'c-1', metadata: { lang: 'en' } });
      expect(reply.status).toBe(201);
      const message = shape('Message', reply.body);
      expect(message).toMatchObject({ sessionId, userId: 'alice', content: 'Hello Bob', role: 'user', seq: 1, metadata: { lang: 'en' } });
      firstId = message.id;
      const retry = await alice.post('/messages', { sessionId, content: 'Hello Bob', clientMessageId: 'c-1' });
      expect(retry.status).toBe(201);
      expect(retry.body.id).toBe(firstId);
      const withAttachment = await bob.post('/messages', {
        sessionId,
        content: 'Here is the invoice',
        attachments: [{ fileName: 'invoice.pdf', fileUrl: 'https://cdn.example.com/i.pdf', mimeType: 'application/pdf', fileSize: 1234 }],
      });
      expect(withAttachment.status).toBe(201);
      expect(shape('Message', withAttachment.body).attachments).toHaveLength(1);
    });

    it('GET /sessions lists the caller\'s sessions with unread counts ({ sessions })', async () => {
      const reply = await bob.get('/sessions');
      expect(reply.status).toBe(200);
      const { sessions } = shape('SessionList', reply.body);
      const room = sessions.find((s: { id: string }) => s.id === sessionId);
      expect(room).toMatchObject({ role: 'member', unreadCount: 1 });
      expect(sessions).toHaveLength(2); // room-1 and the one bob created
    });

    it('GET /sessions/:sessionId/messages pages history ({ messages, total }) with limit/offset and seq cursors', async () => {
      for (const content of ['three', 'four', 'five']) expect((await alice.post('/messages', { sessionId, content })).status).toBe(201);
      const all = shape('MessagePage', (await bob.get(`/sessions/${sessionId}/messages`)).body);
      expect(all.total).toBe(5);
      expect(all.messages.map((m: { seq: number }) => m.seq)).toEqual([1, 2, 3, 4, 5]);
      const latest = shape('MessagePage', (await bob.get(`/sessions/${sessionId}/messages?limit=2`)).body);
      expect(latest.messages.map((m: { content: string }) => m.content)).toEqual(['four', 'five']);
      const older = (await bob.get(`/sessions/${sessionId}/messages?limit=2&offset=2`)).body;
      expect(older.messages.map((m: { seq: number }) => m.seq)).toEqual([2, 3]);
      const before = (await bob.get(`/sessions/${sessionId}/messages?before=3&limit=10`)).body;
      expect(before.messages.map((m: { seq: number }) => m.seq)).toEqual([1, 2]);
      const after = (await bob.get(`/sessions/${sessionId}/messages?after=3`)).body;
      expect(after.messages.map((m: { seq: number }) => m.seq)).toEqual([4, 5]);
    });

    it('GET /messages/:messageId returns the message', async () => {
      const reply = await bob.get(`/messages/${firstId}`);
      expect(reply.status).toBe(200);
      expect(shape('Message', reply.body)).toMatchObject({ id: firstId, content: 'Hello Bob' });
    });

    it('PUT /messages/:messageId edits the text (author only)', async () => {
      const reply = await alice.put(`/messages/${firstId}`, { content: 'Hello Bob!' });
      expect(reply.status).toBe(200);
      expect(shape('Message', reply.body)).toMatchObject({ content: 'Hello Bob!', isEdited: true });
      expect(reply.body.editedAt).not.toBeNull();
    });

    it('POST/GET /messages/:messageId/reactions toggles and lists reactions', async () => {
      const added = await bob.post(`/messages/${firstId}/reactions`, { emoji: '👍' });
      expect(added.status).toBe(200);
      expect(shape('ReactionResult', added.body)).toEqual({ added: true, reactions: [{ emoji: '👍', count: 1, userIds: ['bob'] }] });
      await alice.post(`/messages/${firstId}/reactions`, { emoji: '👍', action: 'add' });
      const list = await alice.get(`/messages/${firstId}/reactions`);
      expect(list.status).toBe(200);
      expect(shape('ReactionList', list.body)).toEqual({ reactions: [{ emoji: '👍', count: 2, userIds: ['bob', 'alice'] }] });
      const removed = await bob.post(`/messages/${firstId}/reactions`, { emoji: '👍' });
      expect(removed.body).toEqual({ added: false, reactions: [{ emoji: '👍', count: 1, userIds: ['alice'] }] });
    });

    it('GET /messages/:messageId/thread returns the replies ({ messages })', async () => {
      const reply = await bob.post('/messages', { sessionId, content: 'a reply', parentMessageId: firstId });
      expect(reply.status).toBe(201);
      const thread = await alice.get(`/messages/${firstId}/thread`);
      expect(thread.status).toBe(200);
      const { messages } = shape('MessageList', thread.body);
      expect(messages.map((m: { content: string }) => m.content)).toEqual(['a reply']);
      // the thread pages through history too
      const page = (await alice.get(`/sessions/${sessionId}/messages?parentMessageId=${firstId}`)).body;
      expect(shape('MessagePage', page).total).toBe(1);
      expect(shape('Message', (await alice.get(`/messages/${firstId}`)).body).replyCount).toBe(1);
    });

    it('GET /sessions/:sessionId/search finds whole words, newest first ({ messages, total, totalExact })', async () => {
      await alice.post('/messages', { sessionId, content: 'The invoice is late' });
      const reply = await bob.get(`/sessions/${sessionId}/search?query=INVOICE`);
      expect(reply.status).toBe(200);
      const page = shape('SearchPage', reply.body);
      expect(page).toMatchObject({ total: 2, totalExact: true });
      expect(page.messages.map((m: { content: string }) => m.content)).toEqual(['The invoice is late', 'Here is the invoice']);
      const second = (await bob.get(`/sessions/${sessionId}/search?query=invoice&limit=1&offset=1`)).body;
      expect(second.messages.map((m: { content: string }) => m.content)).toEqual(['Here is the invoice']);
      expect((await bob.get(`/sessions/${sessionId}/search?query=${encodeURIComponent('voice')}`)).body.total).toBe(0);
    });

    it('GET /sessions/:sessionId/presence lists every member ({ presence })', async () => {
      const reply = await bob.get(`/sessions/${sessionId}/presence`);
      expect(reply.status).toBe(200);
      const { presence } = shape('PresenceList', reply.body);
      expect(presence.map((p: { userId: string }) => p.userId).sort()).toEqual(['alice', 'bob']);
      expect(presence.every((p: { status: string }) => p.status === 'offline')).toBe(true); // no transport attached
    });

    it('POST/GET /messages/:messageId/attachments and DELETE /attachments/:attachmentId', async () => {
      const created = await alice.post(`/messages/${firstId}/attachments`, {
        fileName: 'photo.png',
        fileUrl: 'https://cdn.example.com/photo.png',
        mimeType: 'image/png',
        fileSize: 2048,
        metadata: { width: 640 },
      });
      expect(created.status).toBe(201);
      const attachment = shape('Attachment', created.body);
      expect(attachment).toMatchObject({ messageId: firstId, fileName: 'photo.png', metadata: { width: 640 } });
      const list = await bob.get(`/messages/${firstId}/attachments`);
      expect(list.status).toBe(200);
      expect(shape('AttachmentList', list.body).attachments.map((a: { id: string }) => a.id)).toEqual([attachment.id]);
      const removed = await alice.delete(`/attachments/${attachment.id}`);
      expect(removed.status).toBe(200);
      expect(shape('Attachment', removed.body).id).toBe(attachment.id);
      expect((await bob.get(`/messages/${firstId}/attachments`)).body).toEqual({ attachments: [] });
    });

    it('members: GET lists ({ members }), POST adds (201 SessionMember), DELETE removes ({ removed })', async () => {
      const added = await alice.post(`/sessions/${sessionId}/members`, { userId: 'carol' });
      expect(added.status).toBe(201);
      expect(shape('SessionMember', added.body)).toMatchObject({ sessionId, userId: 'carol', role: 'member' });
      const list = await bob.get(`/sessions/${sessionId}/members`);
      expect(list.status).toBe(200);
      expect(shape('MemberList', list.body).members.map((m: { userId: string }) => m.userId).sort()).toEqual(['alice', 'bob', 'carol']);
      const removed = await alice.delete(`/sessions/${sessionId}/members/carol`);
      expect(removed.status).toBe(200);
      expect(shape('Removed', removed.body)).toEqual({ removed: true });
      expect((await alice.delete(`/sessions/${sessionId}/members/carol`)).body).toEqual({ removed: false });
    });

    it('POST /sessions/:sessionId/seen moves the read cursor and clears the unread count', async () => {
      const { messages } = (await bob.get(`/sessions/${sessionId}/messages?limit=1`)).body;
      const last = messages[0];
      const reply = await bob.post(`/sessions/${sessionId}/seen`, { messageId: last.id });
      expect(reply.status).toBe(200);
      expect(shape('SeenReceipt', reply.body)).toEqual({ sessionId, userId: 'bob', messageId: last.id, seq: last.seq });
      const room = (await bob.get('/sessions')).body.sessions.find((s: { id: string }) => s.id === sessionId);
      expect(room.unreadCount).toBe(0);
    });

    it('streams: POST /sessions/:id/streams starts (201), GET status/metrics answer during and after, POST /streams/:id/stop stops', async () => {
      const started = await alice.post(`/sessions/${sessionId}/streams`, { prompt: 'count to ten', config: { maxTokens: 100 } });
      expect(started.status).toBe(201);
      const { streamId, messageId } = shape('StreamStart', started.body);
      const during = await bob.get(`/streams/${streamId}/status`);
      expect(shape('StreamStatus', during.body)).toMatchObject({ streamId, messageId, sessionId });
      let status = during.body;
      for (let i = 0; i < 100 && status.status !== 'completed'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        status = (await bob.get(`/streams/${streamId}/status`)).body;
      }
      expect(shape('StreamStatus', status)).toMatchObject({ status: 'completed', tokensGenerated: 10, progress: 0.1, finishReason: 'stop' });
      const metrics = shape('StreamMetrics', (await bob.get(`/streams/${streamId}/metrics`)).body);
      expect(metrics).toMatchObject({ streamId, totalTokens: 10, errors: 0 });
      expect((await bob.get(`/messages/${messageId}`)).body.content).toBe('one two three four five six seven eight nine ten');

      const second = (await alice.post(`/sessions/${sessionId}/streams`, { prompt: 'again' })).body;
      expect((await bob.post(`/streams/${second.streamId}/stop`)).status).toBe(403); // neither requester nor owner
      const stopped = await alice.post(`/streams/${second.streamId}/stop`);
      expect(stopped.status).toBe(200);
      expect(shape('StreamStatus', stopped.body).status).toBe('stopped');
    });

    it('DELETE /messages/:messageId soft-deletes and returns the deleted message', async () => {
      const reply = await alice.delete(`/messages/${firstId}`);
      expect(reply.status).toBe(200);
      expect(shape('Message', reply.body)).toMatchObject({ id: firstId, content: '', isDeleted: true });
      expect(reply.body.deletedAt).not.toBeNull();
      expect((await bob.get(`/messages/${firstId}`)).body.isDeleted).toBe(true);
    });
  });
}
