import type { Message } from 'parley-chat';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, sleep, startChat, until, type ChatFixture, type Tab } from './harness.js';

/** Every client event of the protocol end to end, over real connections: several users, several tabs. */

afterEach(closeAll);

async function room(fixture: ChatFixture, members = ['alice', 'bob', 'carol']) {
  const session = await fixture.engine.createSession({ id: 'room-1', title: 'Room', createdBy: members[0]!, memberIds: members.slice(1) });
  return session.id;
}

async function joined(fixture: ChatFixture, userId: string, sessionId: string, name?: string): Promise<Tab> {
  const tab = await fixture.connect(userId, name === undefined ? {} : { name });
  const ack = await tab.call('session:join', { sessionId });
  expect(ack.ok, JSON.stringify(ack)).toBe(true);
  return tab;
}

describe('socket.io binding: client events', () => {
  it('session:join acks { session, members, presence }, ends with session:synced, and tells the others user:joined', async () => {
    const f = await startChat();
    const sessionId = await room(f);
    const bob = await joined(f, 'bob', sessionId);
    const alice = await f.connect('alice', { name: 'Alice' });
    const ack = await alice.call('session:join', { sessionId });
    expect(ack).toMatchObject({ ok: true, data: { session: { id: sessionId, title: 'Room' } } });
    expect(ack.data.members.map((m: { userId: string }) => m.userId)).toEqual(['alice', 'bob', 'carol']);
    // Names from the profiles the tokens carried (bob's and carol's have none).
    expect(ack.data.members.map((m: { name: string | null }) => m.name)).toEqual(['Alice', null, null]);
    expect(ack.data.presence).toEqual([
      { userId: 'alice', name: 'Alice', status: 'online', lastSeenAt: expect.any(String) },
      { userId: 'bob', name: null, status: 'online', lastSeenAt: expect.any(String) },
      { userId: 'carol', name: null, status: 'offline', lastSeenAt: null },
    ]);
    expect(alice.received.of('session:synced')).toEqual([{ sessionId, seq: 0, gap: false }]);
    const [joinedEvent] = await bob.received.waitFor('user:joined', 1, (e) => e.userId === 'alice');
    expect(joinedEvent).toEqual({ sessionId, userId: 'alice', name: 'Alice' });
    // the joiner hears it too, after its own sync
    await alice.received.waitFor('user:joined', 1, (e) => e.userId === 'alice');
    const order = alice.received.events.map((e) => e.event);
    expect(order.indexOf('session:synced')).toBeLessThan(order.indexOf('user:joined'));
  });

  it('a second tab of the same user joining does not announce user:joined again', async () => {
    const f = await startChat();
    const sessionId = await room(f);
    const bob = await joined(f, 'bob', sessionId);
    await joined(f, 'alice', sessionId);
    await joined(f, 'alice', sessionId);
    await sleep(50);
    expect(bob.received.of('user:joined').filter((e) => e.userId === 'alice')).toHaveLength(1);
  });

  it('message:send persists, acks the Message, broadcasts message:new to every socket (sender included) and message:delivered to the sender', async () => {
    const f = await startChat();
    const sessionId = await room(f);
    const alice = await joined(f, 'alice', sessionId);
    const alice2 = await joined(f, 'alice', sessionId);
    const bob = await joined(f, 'bob', sessionId);
    const carolOutside = await f.connect('carol'); // a member, but not joined: receives nothing
    const ack = await alice.call('message:send', { sessionId, content: 'Hello bob', clientMessageId: 'c-1' });
    expect(ack).toMatchObject({ ok: true, data: { sessionId, userId: 'alice', content: 'Hello bob', seq: 1, clientMessageId: 'c-1' } });
    const message = ack.data as Message;
    for (const tab of [alice, alice2, bob]) {
      const [received] = await tab.received.waitFor('message:new');
      expect(received).toEqual(message);
    }
    expect(alice.received.of('message:delivered')).toEqual([{ sessionId, clientMessageId: 'c-1', messageId: message.id, seq: 1 }]);
    expect(alice2.received.of('message:delivered')).toEqual([]);
    expect(bob.received.of('message:delivered')).toEqual([]);
    expect(carolOutside.received.of('message:new')).toEqual([]);
    expect((await f.engine.getMessageHistory(sessionId, 'bob')).messages.map((m) => m.content)).toEqual(['Hello bob']);

    // a retry with the same clientMessageId returns the first message, nothing new is broadcast
    const retry = await alice.call('message:send', { sessionId, content: 'Hello bob', clientMessageId: 'c-1' });
    expect(retry.data.id).toBe(message.id);
    await alice.received.waitFor('message:delivered', 2);
    await sleep(30);
    expect(bob.received.of('message:new')).toHaveLength(1);
  });

  it('message:edit broadcasts message:edited; message:delete broadcasts message:deleted without content', async () => {
    const f = await startChat();
    const sessionId = await room(f);
    const alice = await joined(f, 'alice', sessionId);
    const bob = await joined(f, 'bob', sessionId);
    const sent = (await alice.call('message:send', { sessionId, content: 'first' })).data as Message;
    const edit = await alice.call('message:edit', { messageId: sent.id, content: 'first, edited' });
    expect(edit).toMatchObject({ ok: true, data: { id: sent.id, content: 'first, edited', isEdited: true, changeSeq: 2 } });
    const [edited] = await bob.received.waitFor('message:edited');
    expect(edited).toEqual(edit.data);
    const del = await alice.call('message:delete', { messageId: sent.id });
    expect(del).toEqual({ ok: true, data: { sessionId, messageId: sent.id, seq: 3, deletedAt: expect.any(String) } });
    const [deleted] = await bob.received.waitFor('message:deleted');
    expect(deleted).toEqual(del.data);
    expect(Object.keys(deleted).sort()).toEqual(['deletedAt', 'messageId', 'seq', 'sessionId']);
  });

  it('a non-author cannot edit or delete; a non-member cannot join (nothing is written)', async () => {
    const f = await startChat();
    const sessionId = await room(f);
    const alice = await joined(f, 'alice', sessionId);
    const bob = await joined(f, 'bob', sessionId);
    const sent = (await alice.call('message:send', { sessionId, content: 'mine' })).data as Message;
    expect(await bob.call('message:edit', { messageId: sent.id, content: 'hijacked' })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await bob.call('message:delete', { messageId: sent.id })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    const mallory = await f.connect('mallory');
    expect(await mallory.call('session:join', { sessionId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await mallory.call('session:join', { sessionId: 'no-such-room' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await mallory.call('message:send', { sessionId, content: 'let me in' })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect((await f.engine.getMessage(sent.id)).content).toBe('mine');
    expect((await f.engine.getSession(sessionId)).lastSeq).toBe(1);
    // the refused joiner is not in the room: later messages do not reach it
    await alice.call('message:send', { sessionId, content: 'members only' });
    await bob.received.waitFor('message:new', 2);
    expect(mallory.received.of('message:new')).toEqual([]);
    expect(mallory.received.of('session:synced')).toEqual([]);
  });

  it('message:reaction broadcasts message:reaction:update; add/remove are idempotent', async () => {
    const f = await startChat();
    const sessionId = await room(f);
    const alice = await joined(f, 'alice', sessionId);
    const bob = await joined(f, 'bob', sessionId);
    const sent = (await alice.call('message:send', { sessionId, content: 'react to me' })).data as Message;
    const added = await bob.call('message:reaction', { messageId: sent.id, emoji: '👍' });
    expect(added).toEqual({ ok: true, data: { added: true, reactions: [{ emoji: '👍', count: 1, userIds: ['bob'] }] } });
    const [update] = await alice.received.waitFor('message:reaction:update');
    expect(update).toEqual({ sessionId, messageId: sent.id, seq: 2, reactions: [{ emoji: '👍', count: 1, userIds: ['bob'] }] });
    expect(await bob.call('message:reaction', { messageId: sent.id, emoji: '👍', action: 'add' })).toMatchObject({ ok: true, data: { added: true } });
    expect(await bob.call('message:reaction', { messageId: sent.id, emoji: '👍', action: 'remove' })).toMatchObject({ ok: true, data: { added: false, reactions: [] } });
    await alice.received.waitFor('message:reaction:update', 2);
    await sleep(30);
    expect(alice.received.of('message:reaction:update')).toHaveLength(2); // the no-op add broadcast nothing
  });

  it('message:seen persists the read cursor and broadcasts message:seen:update', async () => {
    const f = await startChat();
    const sessionId = await room(f);
    const alice = await joined(f, 'alice', sessionId);
    const bob = await joined(f, 'bob', sessionId);
    const sent = (await alice.call('message:send', { sessionId, content: 'did you read this?' })).data as Message;
    const seen = await bob.call('message:seen', { sessionId, messageId: sent.id });
    expect(seen).toEqual({ ok: true, data: { sessionId, userId: 'bob', messageId: sent.id, seq: 1 } });
    const [update] = await alice.received.waitFor('message:seen:update');
    expect(update).toEqual({ sessionId, userId: 'bob', messageId: sent.id, seq: 1 });
    const bobMember = (await f.engine.listMembers(sessionId)).find((m) => m.userId === 'bob')!;
    expect(bobMember.lastReadSeq).toBe(1);
  });

  it('typing:start / typing:stop reach the others but skip every tab of the typist; the name comes from the token', async () => {
    const f = await startChat();
    const sessionId = await room(f);
    const alice = await joined(f, 'alice', sessionId, 'Alice');
    const alice2 = await joined(f, 'alice', sessionId, 'Alice');
    const bob = await joined(f, 'bob', sessionId);
    const carol = await joined(f, 'carol', sessionId);
    expect(await alice.call('typing:start', { sessionId, userName: 'Mallory' })).toEqual({ ok: true, data: { expiresInMs: 5000 } });
    for (const tab of [bob, carol]) expect(await tab.received.waitFor('typing:start')).toEqual([{ sessionId, userId: 'alice', name: 'Alice' }]);
    // bob has no name in his token: the payload's userName is the fallback
    await bob.call('typing:start', { sessionId, userName: 'Bobby' });
    expect(await alice.received.waitFor('typing:start')).toEqual([{ sessionId, userId: 'bob', name: 'Bobby' }]);
    expect(await alice.call('typing:stop', { sessionId })).toEqual({ ok: true, data: null });
    // The stop names the typist from their stored profile.
    expect(await bob.received.waitFor('typing:stop')).toEqual([{ sessionId, userId: 'alice', name: 'Alice' }]);
    await sleep(30);
    expect(alice.received.of('typing:start').filter((e) => e.userId === 'alice')).toEqual([]);
    expect(alice2.received.of('typing:start').filter((e) => e.userId === 'alice')).toEqual([]);
  });

  it('sending a message ends its author’s typing indicator', async () => {
    const f = await startChat();
    const sessionId = await room(f);
    const alice = await joined(f, 'alice', sessionId);
    const bob = await joined(f, 'bob', sessionId);
    await alice.call('typing:start', { sessionId });
    await bob.received.waitFor('typing:start');
    await alice.call('message:send', { sessionId, content: 'done typing' });
    expect(await bob.received.waitFor('typing:stop')).toEqual([{ sessionId, userId: 'alice' }]);
    const order = bob.received.events.map((e) => e.event);
    expect(order.indexOf('message:new')).toBeLessThan(order.indexOf('typing:stop'));
  });

  it('session:leave unsubscribes only that socket; user:left when the user’s last socket leaves', async () => {
    const f = await startChat();
    const sessionId = await room(f);
    const alice = await joined(f, 'alice', sessionId);
    const alice2 = await joined(f, 'alice', sessionId);
    const bob = await joined(f, 'bob', sessionId);
    expect(await alice.call('session:leave', { sessionId })).toEqual({ ok: true, data: null });
    await bob.call('message:send', { sessionId, content: 'one' });
    await alice2.received.waitFor('message:new');
    await sleep(30);
    expect(alice.received.of('message:new')).toEqual([]);
    expect(bob.received.of('user:left')).toEqual([]);
    await alice2.call('session:leave', { sessionId });
    expect(await bob.received.waitFor('user:left')).toEqual([{ sessionId, userId: 'alice' }]);
    expect(await alice.call('session:leave', { sessionId })).toEqual({ ok: true, data: null }); // idempotent
  });

  it('messages written through the engine (as REST or a job would) reach sockets the same way', async () => {
    const f = await startChat();
    const sessionId = await room(f);
    const alice = await joined(f, 'alice', sessionId);
    const bob = await joined(f, 'bob', sessionId);
    const viaRest = await f.engine.createMessage({ sessionId, userId: 'carol', content: 'from REST' });
    const fromJob = await f.engine.createMessage({ sessionId, userId: 'system-bot', content: 'from a job' }, { trusted: true });
    for (const tab of [alice, bob]) {
      expect(await tab.received.waitFor('message:new', 2)).toEqual([viaRest, fromJob]);
    }
    const attachment = await f.engine.addAttachment(
      viaRest.id,
      { fileName: 'a.png', fileUrl: 'https://cdn.example.com/a.png', mimeType: 'image/png', fileSize: 10 },
      'carol',
    );
    expect(await bob.received.waitFor('attachment:added')).toEqual([{ sessionId, messageId: viaRest.id, seq: 3, attachments: [attachment] }]);
    await f.engine.deleteAttachment(attachment.id, 'carol');
    expect(await bob.received.waitFor('attachment:deleted')).toEqual([{ sessionId, messageId: viaRest.id, seq: 4, attachmentId: attachment.id }]);
  });

  it('member:added / member:removed reach the session and every socket of the user concerned, joined or not', async () => {
    const f = await startChat();
    const sessionId = await room(f, ['alice', 'bob']);
    const alice = await joined(f, 'alice', sessionId);
    const dave = await f.connect('dave'); // not a member yet: in no session room
    const daveOtherTab = await f.connect('dave');
    const eve = await f.connect('eve'); // never concerned

    await f.engine.addMember(sessionId, 'dave', 'alice');
    const added = { sessionId, userId: 'dave', role: 'member', byUserId: 'alice' };
    for (const tab of [alice, dave, daveOtherTab]) expect(await tab.received.waitFor('member:added')).toEqual([added]);
    // the added user can join at once
    expect((await dave.call('session:join', { sessionId })).ok).toBe(true);

    await f.engine.removeMember(sessionId, 'dave', 'alice');
    const removed = { sessionId, userId: 'dave', byUserId: 'alice' };
    for (const tab of [alice, dave, daveOtherTab]) expect(await tab.received.waitFor('member:removed')).toEqual([removed]);
    // dave's joined tab is in both rooms and hears each change once
    await sleep(30);
    expect(dave.received.of('member:added')).toHaveLength(1);
    expect(dave.received.of('member:removed')).toHaveLength(1);
    expect(eve.received.of('member:added')).toEqual([]);
    expect(eve.received.of('member:removed')).toEqual([]);

    // a session created with members tells each of them
    const created = await f.engine.createSession({ title: 'New', createdBy: 'alice', memberIds: ['dave'] });
    expect(await dave.received.waitFor('member:added', 1, (e) => e.sessionId === created.id)).toEqual([
      { sessionId: created.id, userId: 'dave', role: 'member', byUserId: 'alice' },
    ]);
  });

  it('a member removed from the session stops receiving it at once', async () => {
    const f = await startChat();
    const sessionId = await room(f);
    const alice = await joined(f, 'alice', sessionId);
    const bob = await joined(f, 'bob', sessionId);
    await f.engine.removeMember(sessionId, 'bob', 'alice');
    expect(await bob.received.waitFor('user:left')).toEqual([{ sessionId, userId: 'bob' }]);
    await until(async () => (await f.io.of('/chat').in('session:room-1').fetchSockets()).length === 1, 2000, 'bob kicked');
    await alice.call('message:send', { sessionId, content: 'bob is gone' });
    await alice.received.waitFor('message:new');
    await sleep(30);
    expect(bob.received.of('message:new')).toEqual([]);
    expect(await bob.call('session:join', { sessionId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });

    // re-added, the same socket joins again and gets live messages again
    await f.engine.addMember(sessionId, 'bob', 'alice');
    expect((await bob.call('session:join', { sessionId, lastSeq: 0 })).ok).toBe(true);
    expect(bob.received.of('message:new').map((m) => m.content)).toEqual(['bob is gone']); // the replay
    await alice.call('message:send', { sessionId, content: 'welcome back bob' });
    await bob.received.waitFor('message:new', 1, (m) => m.content === 'welcome back bob');
  });

  it('ignores unknown events, survives a client-sent "error" event, and refuses oversize payloads', async () => {
    const f = await startChat({ attach: { maxPayloadBytes: 1024 } });
    const sessionId = await room(f);
    const alice = await joined(f, 'alice', sessionId);
    (alice.socket as any).emit('no:such:event', { x: 1 });
    (alice.socket as any).emit('error', { token: 'whatever' });
    (alice.socket as any).emit('__proto__', { x: 1 });
    const big = await alice.call('message:send', { sessionId, content: 'x'.repeat(2000) });
    expect(big).toMatchObject({ ok: false, error: { code: 'VALIDATION', message: expect.stringContaining('too large') } });
    expect(await alice.call('message:send', { sessionId, content: 'still here' })).toMatchObject({ ok: true });
    expect(alice.socket.connected).toBe(true);
  });

  it('a send without an ack callback still works, and the socket stays up', async () => {
    const f = await startChat();
    const sessionId = await room(f);
    const alice = await joined(f, 'alice', sessionId);
    const bob = await joined(f, 'bob', sessionId);
    (alice.socket as any).emit('message:send', { sessionId, content: 'no ack' });
    (alice.socket as any).emit('message:send', { sessionId, nonsense: true });
    await bob.received.waitFor('message:new');
    expect(await alice.call('message:seen', { sessionId, messageId: bob.received.of('message:new')[0].id })).toMatchObject({ ok: true });
  });
});
