import { ChatEngine, MemoryStorage, ScriptedProvider, type AuthorizePolicy } from 'parley-chat';
import { afterEach, describe, expect, it } from 'vitest';
import { expectChatError, NO_RATE_LIMITS } from '../support/engine.js';

const engines: ChatEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

const file = (name: string) => ({ fileName: name, fileUrl: `https://cdn.example.com/${name}`, mimeType: 'image/png', fileSize: 10 });

/** A session owned by `owner` with member `member`, who wrote one message (with an attachment). */
async function room(authorize: AuthorizePolicy | undefined) {
  const engine = new ChatEngine({
    storage: new MemoryStorage(),
    rateLimits: NO_RATE_LIMITS,
    llm: new ScriptedProvider({ tokensPerSecond: 1000, reply: 'ok' }),
    ...(authorize !== undefined && { authorize }),
  });
  engines.push(engine);
  await engine.init();
  const { id: sessionId } = await engine.createSession({ createdBy: 'owner', memberIds: ['member'] });
  const message = await engine.createMessage({ sessionId, userId: 'member', content: 'hello', attachments: [file('a.png')] });
  return { engine, sessionId, messageId: message.id, attachmentId: message.attachments[0]!.id };
}

describe("authorize: 'open' (public rooms) for someone who is not a member", () => {
  it('may read, write, react, type, mark seen and ask for an answer, as a member could', async () => {
    const { engine, sessionId, messageId } = await room('open');
    await expect(engine.getMessage(messageId, 'visitor')).resolves.toMatchObject({ content: 'hello' });
    await expect(engine.listMembers(sessionId, 'visitor')).resolves.toHaveLength(2);
    await expect(engine.toggleReaction(messageId, 'visitor', '👍')).resolves.toBeDefined();
    expect(await engine.getMessageReactions(messageId, 'visitor')).toEqual([{ emoji: '👍', count: 1, userIds: ['visitor'] }]);
    await expect(engine.setTyping(sessionId, 'visitor', true)).resolves.toBeUndefined();
    await expect(engine.markSeen(sessionId, messageId, 'visitor')).resolves.toMatchObject({ userId: 'visitor', messageId });
    const answer = await engine.requestStream({ sessionId, userId: 'visitor', prompt: 'hi there' });
    expect(answer.streamId).toEqual(expect.any(String));
    await expect(engine.stopStream(answer.streamId, 'visitor')).resolves.toBeDefined();
  });

  it('may edit, delete and attach files to their own messages only', async () => {
    const { engine, sessionId, messageId, attachmentId } = await room('open');
    const own = await engine.createMessage({ sessionId, userId: 'visitor', content: 'mine' });
    await expect(engine.editMessage(own.id, 'mine, edited', 'visitor')).resolves.toMatchObject({ content: 'mine, edited' });
    const attached = await engine.addAttachment(own.id, file('b.png'), 'visitor');
    await expect(engine.deleteAttachment(attached.id, 'visitor')).resolves.toBeDefined();
    await expect(engine.deleteMessage(own.id, 'visitor')).resolves.toMatchObject({ isDeleted: true });
    await expectChatError(engine.editMessage(messageId, 'taken over', 'visitor'), 'FORBIDDEN');
    await expectChatError(engine.deleteMessage(messageId, 'visitor'), 'FORBIDDEN');
    await expectChatError(engine.addAttachment(messageId, file('c.png'), 'visitor'), 'FORBIDDEN');
    await expectChatError(engine.deleteAttachment(attachmentId, 'visitor'), 'FORBIDDEN');
  });

  it('may not stop an answer someone else asked for; its requester and an owner may', async () => {
    const { engine, sessionId } = await room('open');
    const first = await engine.requestStream({ sessionId, userId: 'member', prompt: 'one' });
    await expectChatError(engine.stopStream(first.streamId, 'visitor'), 'FORBIDDEN');
    await expect(engine.stopStream(first.streamId, 'owner')).resolves.toBeDefined();
  });

  it('manages no members: neither adds, nor removes anyone, nor "leaves"', async () => {
    const { engine, sessionId } = await room('open');
    await expectChatError(engine.addMember(sessionId, 'friend', 'visitor'), 'FORBIDDEN');
    await expectChatError(engine.removeMember(sessionId, 'member', 'visitor'), 'FORBIDDEN');
    await expectChatError(engine.removeMember(sessionId, 'visitor', 'visitor'), 'FORBIDDEN');
    // Members keep their rights: the owner manages members, a member leaves.
    await expect(engine.addMember(sessionId, 'friend', 'owner')).resolves.toMatchObject({ userId: 'friend' });
    await expect(engine.removeMember(sessionId, 'member', 'member')).resolves.toEqual({ removed: true });
  });
});

describe("authorize: 'members' passed explicitly is the default policy", () => {
  for (const authorize of ['members', undefined] as const) {
    it(`${authorize ?? 'no authorize option'}: a non-member may do nothing; a member may`, async () => {
      const { engine, sessionId, messageId } = await room(authorize);
      await expectChatError(engine.getMessage(messageId, 'visitor'), 'FORBIDDEN');
      await expectChatError(engine.createMessage({ sessionId, userId: 'visitor', content: 'hi' }), 'FORBIDDEN');
      await expectChatError(engine.toggleReaction(messageId, 'visitor', '👍'), 'FORBIDDEN');
      await expectChatError(engine.setTyping(sessionId, 'visitor', true), 'FORBIDDEN');
      await expectChatError(engine.markSeen(sessionId, messageId, 'visitor'), 'FORBIDDEN');
      await expectChatError(engine.requestStream({ sessionId, userId: 'visitor', prompt: 'hi' }), 'FORBIDDEN');
      await expect(engine.toggleReaction(messageId, 'member', '👍')).resolves.toBeDefined();
    });
  }
});
