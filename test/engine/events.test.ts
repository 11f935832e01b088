import type { ChatEvents } from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { memoryEngine } from '../support/engine.js';

describe('domain events', () => {
  it('every committed change emits exactly one event, carrying the change’s seq', async () => {
    const engine = await memoryEngine();
    const log: { event: keyof ChatEvents; seq?: number }[] = [];
    for (const event of [
      'session.created',
      'member.joined',
      'member.left',
      'message.created',
      'message.edited',
      'message.deleted',
      'reaction.updated',
      'attachment.added',
      'attachment.deleted',
      'receipt.seen',
      'typing.updated',
    ] as const) {
      engine.on(event, ((payload: { seq?: number }) => {
        log.push({ event, ...(payload.seq !== undefined && { seq: payload.seq }) });
      }) as never);
    }
    const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    const m = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'hi' });
    await engine.editMessage(m.id, 'hello', 'alice');
    await engine.toggleReaction(m.id, 'bob', '👍');
    await engine.toggleReaction(m.id, 'bob', '👍', 'remove');
    await engine.toggleReaction(m.id, 'bob', '👍', 'remove'); // nothing changed: no event
    const a = await engine.addAttachment(m.id, { fileName: 'a', fileUrl: 'https://x.example/a', mimeType: 'text/plain', fileSize: 1 }, 'alice');
    await engine.deleteAttachment(a.id, 'alice');
    await engine.markSeen(session.id, m.id, 'bob');
    await engine.markSeen(session.id, m.id, 'bob'); // cursor did not move: no event
    await engine.setTyping(session.id, 'bob', true);
    await engine.deleteMessage(m.id, 'alice');
    await engine.deleteMessage(m.id, 'alice'); // already deleted: no event
    await engine.addMember(session.id, 'carol', 'alice');
    await engine.removeMember(session.id, 'carol', 'alice');
    expect(log).toEqual([
      { event: 'session.created' },
      { event: 'member.joined' },
      { event: 'member.joined' },
      { event: 'message.created', seq: 1 },
      { event: 'message.edited', seq: 2 },
      { event: 'reaction.updated', seq: 3 },
      { event: 'reaction.updated', seq: 4 },
      { event: 'attachment.added', seq: 5 },
      { event: 'attachment.deleted', seq: 6 },
      { event: 'receipt.seen', seq: 1 },
      { event: 'typing.updated' },
      { event: 'message.deleted', seq: 7 },
      { event: 'member.joined' },
      { event: 'member.left' },
    ]);
  });

  it('a throwing listener never fails the write it follows', async () => {
    const engine = await memoryEngine();
    const reported: unknown[] = [];
    engine.on('error', ({ error }) => reported.push(error));
    engine.on('message.created', () => {
      throw new Error('listener bug');
    });
    const session = await engine.createSession({ createdBy: 'alice' });
    const message = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'hi' });
    expect(await engine.getMessage(message.id)).toMatchObject({ content: 'hi' });
    expect(reported).toHaveLength(1);
  });

  it('a retried send (same clientMessageId) returns the first message and emits nothing new', async () => {
    const engine = await memoryEngine();
    const created: string[] = [];
    engine.on('message.created', ({ message }) => created.push(message.id));
    const session = await engine.createSession({ createdBy: 'alice' });
    const first = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'hi', clientMessageId: 'c-1' });
    const retry = await engine.createMessage({ sessionId: session.id, userId: 'alice', content: 'hi', clientMessageId: 'c-1' });
    expect(retry.id).toBe(first.id);
    expect(created).toEqual([first.id]);
    expect((await engine.getMessageHistory(session.id, 'alice')).total).toBe(1);
  });

  it('concurrent sends are grouped but each is stored once, with gapless seqs', async () => {
    const engine = await memoryEngine();
    const session = await engine.createSession({ createdBy: 'alice' });
    const sent = await Promise.all(
      Array.from({ length: 300 }, (_, i) => engine.createMessage({ sessionId: session.id, userId: 'alice', content: `m${i}`, clientMessageId: `c${i % 250}` })),
    );
    const unique = new Set(sent.map((m) => m.id));
    expect(unique.size).toBe(250);
    const seqs = [...new Set(sent.map((m) => m.seq))].sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
  });

  it('a closed engine refuses calls with UNAVAILABLE', async () => {
    const engine = await memoryEngine();
    await engine.close();
    await expect(engine.createSession({ createdBy: 'alice' })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
