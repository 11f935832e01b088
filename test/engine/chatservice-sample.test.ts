import { ChatEngine } from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { testStorages } from '../support/storages.js';

/**
 * The ChatService usage sample (createMessage, getMessageHistory, …) that the engine's method names
 * come from, run as written (with the ids the library returns) against every storage: create, history, edit, delete, search, thread, reactions, attachments.
 */
const storages = await testStorages('chatservice');

for (const { name, create, skip } of storages) {
  describe.skipIf(skip !== undefined)(`the ChatService sample on ${name}${skip ? ` (${skip})` : ''}`, () => {
    it('works as written', async () => {
      const chatService = new ChatEngine({ storage: create() });
      await chatService.init();
      const session = await chatService.createSession({ createdBy: 'user-uuid', memberIds: ['user-2'] });

      // Create message
      const message = await chatService.createMessage({
        sessionId: session.id,
        userId: 'user-uuid',
        content: 'Hello world!',
        attachments: [{ fileName: 'document.pdf', fileUrl: 'https://cdn.example.com/document.pdf', mimeType: 'application/pdf', fileSize: 12345 }],
      });
      expect(message).toMatchObject({ sessionId: session.id, userId: 'user-uuid', content: 'Hello world!', role: 'user', seq: 1 });
      expect(message.attachments).toMatchObject([{ fileName: 'document.pdf', fileSize: 12345 }]);

      const reply = await chatService.createMessage({
        sessionId: session.id,
        userId: 'user-2',
        content: 'A reply in the thread',
        parentMessageId: message.id,
      });

      // Get message history with pagination
      const { messages, total } = await chatService.getMessageHistory(session.id, 'user-uuid', { limit: 50, offset: 0 });
      expect(total).toBe(1);
      expect(messages.map((m) => m.id)).toEqual([message.id]);
      expect(messages[0]!.replyCount).toBe(1);
      const thread = await chatService.getMessageHistory(session.id, 'user-uuid', { limit: 50, offset: 0, parentMessageId: message.id });
      expect(thread).toMatchObject({ total: 1, messages: [{ id: reply.id }] });

      // Edit message
      const updated = await chatService.editMessage(message.id, 'Updated content', 'user-uuid');
      expect(updated).toMatchObject({ content: 'Updated content', isEdited: true });
      expect(updated.editedAt).not.toBeNull();

      // Search messages
      const results = await chatService.searchMessages(session.id, 'user-uuid', 'updated', { limit: 20, offset: 0 });
      expect(results.total).toBe(1);
      expect(results.messages[0]!.id).toBe(message.id);

      // Get thread replies
      const replies = await chatService.getThreadMessages(message.id, 'user-uuid');
      expect(replies.map((m) => m.id)).toEqual([reply.id]);

      // Toggle reaction (add if not exists, remove if exists)
      const result = await chatService.toggleReaction(message.id, 'user-uuid', '👍');
      expect(result).toEqual({ added: true, reactions: [{ emoji: '👍', count: 1, userIds: ['user-uuid'] }] });
      const reactions = await chatService.getMessageReactions(message.id);
      expect(reactions).toEqual(result.reactions);

      // Add attachment
      const attachment = await chatService.addAttachment(message.id, {
        fileName: 'image.jpg',
        fileUrl: 'https://cdn.example.com/image.jpg',
        mimeType: 'image/jpeg',
        fileSize: 54321,
        metadata: { width: 1920, height: 1080 },
      });
      expect(attachment).toMatchObject({ messageId: message.id, metadata: { width: 1920, height: 1080 } });
      const attachments = await chatService.getAttachments(message.id);
      expect(attachments.map((a) => a.fileName)).toEqual(['document.pdf', 'image.jpg']);
      await chatService.deleteAttachment(attachment.id, 'user-uuid');
      expect((await chatService.getAttachments(message.id)).map((a) => a.fileName)).toEqual(['document.pdf']);

      // Delete message
      await chatService.deleteMessage(message.id, 'user-uuid');
      const afterDelete = await chatService.getMessage(message.id, 'user-uuid');
      expect(afterDelete).toMatchObject({ isDeleted: true, content: '' });
      expect((await chatService.searchMessages(session.id, 'user-uuid', 'updated')).total).toBe(0);

      // Unread counts and read cursors
      const [bobView] = await chatService.listSessions('user-2');
      expect(bobView).toMatchObject({ id: session.id, unreadCount: 0 });
      const [aliceView] = await chatService.listSessions('user-uuid');
      expect(aliceView).toMatchObject({ id: session.id, unreadCount: 1 });
      await chatService.markSeen(session.id, reply.id, 'user-uuid');
      expect((await chatService.listSessions('user-uuid'))[0]).toMatchObject({ unreadCount: 0, lastReadSeq: reply.seq });
      await chatService.close();
    });
  });
}
