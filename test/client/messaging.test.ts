import { ChatError, memoryPersistence } from 'parley-chat/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { clientFor, closeClients, TestServer, until } from './harness.js';

let server: TestServer;
beforeEach(async () => {
  server = await new TestServer().start();
});
afterEach(async () => {
  closeClients();
  await server.dispose();
});

async function sessionWith(...userIds: string[]): Promise<string> {
  const session = await server.engine.createSession({ createdBy: userIds[0]!, memberIds: userIds.slice(1) });
  return session.id;
}

/** What the server stored in a session, oldest first. */
async function stored(sessionId: string): Promise<string[]> {
  const page = await server.engine.getMessageHistory(sessionId, undefined, { limit: 100, offset: 0 });
  return page.messages.map((m) => m.content);
}

describe('two users', () => {
  it('a message shows at once as pending for its sender, then sent for both, and counts as unread for the other until seen', async () => {
    const sessionId = await sessionWith('alice', 'bob');
    const alice = clientFor(server, 'alice');
    const bob = clientFor(server, 'bob');
    const aliceRoom = alice.session(sessionId);
    const bobRoom = bob.session(sessionId);
    await until(() => aliceRoom.getSnapshot().state === 'joined' && bobRoom.getSnapshot().state === 'joined', 'both joined');
    await until(() => bob.getSnapshot().sessions.length === 1, "bob's session list");

    const sent = aliceRoom.send('Hello Bob');
    const pending = aliceRoom.getSnapshot().messages.at(-1);
    expect(pending).toMatchObject({ content: 'Hello Bob', status: 'pending', seq: null, userId: 'alice' });

    const message = await sent;
    expect(message).toMatchObject({ content: 'Hello Bob', userId: 'alice' });
    await until(() => bobRoom.getSnapshot().messages.some((m) => m.id === message.id), 'the message at bob');
    expect(aliceRoom.getSnapshot().messages).toEqual([expect.objectContaining({ id: message.id, status: 'sent', seq: message.seq })]);
    expect(bobRoom.getSnapshot().messages).toEqual([expect.objectContaining({ id: message.id, status: 'sent', content: 'Hello Bob' })]);
    await until(() => bob.getSnapshot().sessions[0]?.unreadCount === 1, "bob's unread count");
    expect(alice.getSnapshot()).toMatchObject({ status: 'online', userId: 'alice' });

    await bobRoom.markSeen(message.id);
    await until(() => bob.getSnapshot().sessions[0]?.unreadCount === 0, "bob's unread count after reading");
    await until(() => aliceRoom.getSnapshot().members.find((m) => m.userId === 'bob')?.lastReadSeq === message.seq, "bob's receipt at alice");
  });

  it('edits, reactions and deletions reach the other user, each applied once', async () => {
    const sessionId = await sessionWith('alice', 'bob');
    const aliceRoom = clientFor(server, 'alice').session(sessionId);
    const bobRoom = clientFor(server, 'bob').session(sessionId);
    await until(() => aliceRoom.getSnapshot().state === 'joined' && bobRoom.getSnapshot().state === 'joined', 'both joined');
    const first = await aliceRoom.send('frist');
    const second = await aliceRoom.send('to delete');
    await aliceRoom.edit(first.id, 'first');
    await bobRoom.react(first.id, '👍');
    await aliceRoom.delete(second.id);

    const settled = () => {
      const [a, b] = bobRoom.getSnapshot().messages;
      return a?.content === 'first' && a.reactions.length === 1 && b?.isDeleted === true;
    };
    await until(settled, 'the changes at bob');
    await until(() => aliceRoom.getSnapshot().messages[0]?.reactions[0]?.userIds[0] === 'bob', 'the reaction at alice');
    for (const room of [aliceRoom, bobRoom]) {
      const [a, b] = room.getSnapshot().messages;
      expect(a).toMatchObject({ content: 'first', isEdited: true, reactions: [{ emoji: '👍', count: 1, userIds: ['bob'] }] });
      expect(b).toMatchObject({ content: '', isDeleted: true });
      expect(room.getSnapshot().messages).toHaveLength(2);
    }
  });

  it('the snapshot is the same object until something changes', async () => {
    const sessionId = await sessionWith('alice');
    const alice = clientFor(server, 'alice');
    const room = alice.session(sessionId);
    await until(() => room.getSnapshot().state === 'joined', 'joined');
    const before = room.getSnapshot();
    expect(room.getSnapshot()).toBe(before);
    let heard = 0;
    const off = room.subscribe(() => heard++);
    await room.send('x');
    expect(room.getSnapshot()).not.toBe(before);
    expect(heard).toBeGreaterThan(0);
    expect(Object.isFrozen(room.getSnapshot().messages)).toBe(true);
    off();
  });
});

describe('a send that is refused', () => {
  it('fails with FORBIDDEN for a non-member, shows as failed with the code, and writes nothing', async () => {
    const sessionId = await sessionWith('alice');
    const mallory = clientFor(server, 'mallory');
    const room = mallory.session(sessionId);
    await until(() => mallory.getSnapshot().status === 'online', 'online');

    const error = await room.send('let me in').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChatError);
    expect((error as ChatError).code).toBe('FORBIDDEN');
    const [failed] = room.getSnapshot().messages;
    expect(failed).toMatchObject({ content: 'let me in', status: 'failed', error: { code: 'FORBIDDEN' } });
    await until(() => room.getSnapshot().state === 'error', 'the join refused');
    expect(room.getSnapshot().error?.code).toBe('FORBIDDEN');
    expect(await stored(sessionId)).toEqual([]);
  });

  it('a failed send can be retried with the same clientMessageId once the cause is gone, and is stored once', async () => {
    const sessionId = await sessionWith('alice');
    const bob = clientFor(server, 'bob');
    const room = bob.session(sessionId);
    await until(() => bob.getSnapshot().status === 'online', 'online');
    await expect(room.send('hello?')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const [failed] = room.getSnapshot().messages;

    await server.engine.addMember(sessionId, 'bob');
    const message = await room.retry(failed!.clientMessageId!);
    expect(message).toMatchObject({ content: 'hello?', clientMessageId: failed!.clientMessageId });
    expect(await stored(sessionId)).toEqual(['hello?']);
    // Being added re-joins the store that was refused.
    await until(() => room.getSnapshot().state === 'joined', 'joined once a member');
    await until(() => room.getSnapshot().messages.length === 1 && room.getSnapshot().messages[0]!.status === 'sent', 'shown as sent');
  });

  it('RATE_LIMITED sends are retried after retryAfterMs and stored once each, in order', async () => {
    await server.stop();
    server = await new TestServer({ engine: { rateLimits: { ...NO_RATE_LIMITS, 'message:send': { points: 2, durationMs: 1_000 } } } }).start();
    const sessionId = await sessionWith('alice');
    const room = clientFor(server, 'alice').session(sessionId);
    const sends = ['a', 'b', 'c', 'd', 'e'].map((text) => room.send(text));
    await Promise.all(sends);
    expect(await stored(sessionId)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(room.getSnapshot().messages.map((m) => m.status)).toEqual(['sent', 'sent', 'sent', 'sent', 'sent']);
  });
});

describe('the outbox', () => {
  it('sends what was typed while the server was down once it is back: once each, in the order typed', async () => {
    const sessionId = await sessionWith('alice', 'bob');
    const alice = clientFor(server, 'alice');
    const room = alice.session(sessionId);
    await until(() => room.getSnapshot().state === 'joined', 'joined');
    await room.send('before');

    await server.stop();
    await until(() => alice.getSnapshot().status === 'offline', 'offline');
    const sends = ['one', 'two', 'three'].map((text) => room.send(text));
    expect(room.getSnapshot().messages.map((m) => `${m.content}:${m.status}`)).toEqual(['before:sent', 'one:pending', 'two:pending', 'three:pending']);

    await server.start();
    await Promise.all(sends);
    expect(await stored(sessionId)).toEqual(['before', 'one', 'two', 'three']);
    await until(() => room.getSnapshot().messages.every((m) => m.status === 'sent'), 'all sent');
    expect(room.getSnapshot().messages.map((m) => m.content)).toEqual(['before', 'one', 'two', 'three']);
  });

  it('survives a reload: a new client with the same persistence shows the unsent messages and sends them once; the cursor is kept', async () => {
    const sessionId = await sessionWith('alice', 'bob');
    const persistence = memoryPersistence();
    const first = clientFor(server, 'alice', { persistence });
    const room = first.session(sessionId);
    await until(() => room.getSnapshot().state === 'joined', 'joined');
    await room.send('seen before the reload');
    const cursor = room.getSnapshot().cursor;
    expect(cursor).toBeGreaterThan(0);

    await server.stop();
    await until(() => first.getSnapshot().status === 'offline', 'offline');
    void room.send('typed offline 1').catch(() => {});
    void room.send('typed offline 2').catch(() => {});
    first.close(); // the page is reloaded

    const second = clientFor(server, 'alice', { persistence });
    const reloaded = second.session(sessionId);
    await until(() => reloaded.getSnapshot().messages.length === 2, 'the outbox shown after the reload');
    expect(reloaded.getSnapshot().messages.map((m) => `${m.content}:${m.status}`)).toEqual(['typed offline 1:pending', 'typed offline 2:pending']);

    await server.start();
    await until(() => reloaded.getSnapshot().messages.filter((m) => m.status === 'sent').length === 3, 'the outbox sent');
    await server.engine.createMessage({ sessionId, userId: 'bob', content: 'while alice was away' });
    await until(() => reloaded.getSnapshot().messages.length === 4, "bob's message");
    expect(reloaded.getSnapshot().cursor).toBeGreaterThan(cursor);
    expect(await stored(sessionId)).toEqual(['seen before the reload', 'typed offline 1', 'typed offline 2', 'while alice was away']);
    expect(reloaded.getSnapshot().messages.map((m) => m.content)).toEqual(['seen before the reload', 'typed offline 1', 'typed offline 2', 'while alice was away']);
  });
});
