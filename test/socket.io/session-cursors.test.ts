import { MemoryStorage } from 'parley-chat';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, sleep, startChat, until, type ChatFixture } from './harness.js';

/**
 * What a socket's joins and leaves store and announce (docs/protocol.md, "Joining a session"): the
 * delivery cursor a reconnecting client is replayed from, and who hears user:joined / user:left.
 */

afterEach(closeAll);

// No ping comes round during these tests unless one asks for it: nothing is confirmed by a pong.
const NO_PINGS = { server: { pingInterval: 60_000, pingTimeout: 60_000 } };

async function sessionWith(f: ChatFixture, messages: number, memberIds = ['bob']) {
  const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice', memberIds });
  for (let i = 0; i < messages; i++) await f.engine.createMessage({ sessionId, userId: 'alice', content: `m${i}` });
  return sessionId;
}

const storedCursor = async (f: ChatFixture, sessionId: string, userId: string) =>
  (await f.engine.listMembers(sessionId)).find((m) => m.userId === userId)!.lastDeliveredSeq;

/** The connection drops without a disconnect packet (network loss). */
const dropNetwork = (socket: unknown) => (socket as { io: { engine: { close(): void } } }).io.engine.close();

describe('socket.io binding: the delivery cursor a join leaves behind', () => {
  it('a dropped connection stores the lastSeq the client joined with: it had that much, not the replay', async () => {
    const f = await startChat(NO_PINGS);
    const sessionId = await sessionWith(f, 5);
    const bob = await f.connect('bob');
    expect((await bob.call('session:join', { sessionId, lastSeq: 3 })).ok).toBe(true);
    expect((await bob.received.waitFor('message:new', 2)).map((m) => m.content)).toEqual(['m3', 'm4']);
    dropNetwork(bob.socket);
    await until(async () => (await storedCursor(f, sessionId, 'bob')) === 3, 3000, 'cursor saved');
    await sleep(50);
    expect(await storedCursor(f, sessionId, 'bob')).toBe(3);
  });

  it('a lastSeq beyond the newest change counts as the newest change', async () => {
    const f = await startChat(NO_PINGS);
    const sessionId = await sessionWith(f, 2);
    const bob = await f.connect('bob');
    expect((await bob.call('session:join', { sessionId, lastSeq: 99 })).ok).toBe(true);
    dropNetwork(bob.socket);
    await until(async () => (await storedCursor(f, sessionId, 'bob')) === 2, 3000, 'cursor saved');
  });

  it('leaving a session, or disconnecting on purpose, stores everything the socket was sent', async () => {
    const f = await startChat(NO_PINGS);
    const left = await sessionWith(f, 3);
    const closed = await sessionWith(f, 4);
    const bob = await f.connect('bob');
    // a first join without a cursor replays nothing, and says it is synced up to the newest change
    expect((await bob.call('session:join', { sessionId: left })).ok).toBe(true);
    expect((await bob.call('session:join', { sessionId: closed })).ok).toBe(true);
    expect(await bob.call('session:leave', { sessionId: left })).toEqual({ ok: true, data: null });
    expect(await storedCursor(f, left, 'bob')).toBe(3);
    await bob.close();
    await until(async () => (await storedCursor(f, closed, 'bob')) === 4, 3000, 'cursor saved on disconnect');
  });

  it('a socket that joined a session without being a member (open policy) leaves without trouble', async () => {
    const f = await startChat({ ...NO_PINGS, engineOptions: { authorize: 'open' } });
    const sessionId = await sessionWith(f, 2, []);
    const alice = await f.connect('alice');
    await alice.call('session:join', { sessionId });
    const dave = await f.connect('dave');
    const ack = await dave.call('session:join', { sessionId });
    expect(ack.ok, JSON.stringify(ack)).toBe(true);
    expect(dave.received.of('session:synced')).toEqual([{ sessionId, seq: 2, gap: true }]);
    await dave.close();
    expect(await alice.received.waitFor('user:left', 1, (e) => e.userId === 'dave')).toEqual([{ sessionId, userId: 'dave' }]);
    // dave is a member of nothing, yet the session his socket was in hears he went offline
    const [offline] = await alice.received.waitFor('presence:update', 1, (p) => p.userId === 'dave');
    expect(offline).toMatchObject({ userId: 'dave', status: 'offline' });
    expect(f.reported).toEqual([]);
  });

  it('a cursor the storage cannot save on disconnect is reported to the host with the user; the others still hear user:left', async () => {
    const storage = new MemoryStorage();
    const reported: { error: unknown; context: { what: string; userId?: string } }[] = [];
    const f = await startChat({ ...NO_PINGS, storage, attach: { onError: (error, context) => reported.push({ error, context }) } });
    const sessionId = await sessionWith(f, 1);
    const alice = await f.connect('alice');
    await alice.call('session:join', { sessionId });
    const bob = await f.connect('bob');
    await bob.call('session:join', { sessionId });
    storage.setDeliveredCursor = async () => {
      throw new Error('connection to the database lost');
    };
    await bob.close();
    expect(await alice.received.waitFor('user:left', 1, (e) => e.userId === 'bob')).toEqual([{ sessionId, userId: 'bob' }]);
    await until(() => reported.length > 0, 3000, 'the failure reported');
    expect(reported.map((r) => r.context)).toEqual([{ what: 'disconnect', userId: 'bob' }]);
  });
});

describe('socket.io binding: a join when the answers streaming cannot be read', () => {
  it('still replays and acks, without snapshots, and reports the failure to the host', async () => {
    const storage = new MemoryStorage();
    const reported: { error: unknown; context: { what: string } }[] = [];
    const f = await startChat({ ...NO_PINGS, storage, attach: { onError: (error, context) => reported.push({ error, context }) } });
    const sessionId = await sessionWith(f, 2);
    storage.listStreams = async () => {
      throw new Error('connection to the database lost');
    };
    const bob = await f.connect('bob');
    const ack = await bob.call('session:join', { sessionId, lastSeq: 0 });
    expect(ack.ok).toBe(true);
    expect((await bob.received.waitFor('message:new', 2)).map((m) => m.content)).toEqual(['m0', 'm1']);
    await bob.received.waitFor('session:synced');
    expect(bob.received.of('stream:snapshot')).toEqual([]);
    await until(() => reported.length > 0, 3000, 'the failure reported');
    expect(reported.map((r) => r.context.what)).toEqual(['stream snapshots']);
  });
});

describe('socket.io binding: who hears a socket join and leave', () => {
  it('joining a session the socket is already in is announced once, and replays again', async () => {
    const f = await startChat(NO_PINGS);
    const sessionId = await sessionWith(f, 2);
    const alice = await f.connect('alice');
    await alice.call('session:join', { sessionId });
    const bob = await f.connect('bob');
    await bob.call('session:join', { sessionId });
    expect((await bob.call('session:join', { sessionId, lastSeq: 1 })).ok).toBe(true);
    expect((await bob.received.waitFor('message:new', 1)).map((m) => m.content)).toEqual(['m1']);
    await alice.received.waitFor('user:joined', 1, (e) => e.userId === 'bob');
    await sleep(50);
    expect(alice.received.of('user:joined').filter((e) => e.userId === 'bob')).toHaveLength(1);
    // still in the room, once: a live message arrives once
    await alice.call('message:send', { sessionId, content: 'live' });
    await bob.received.waitFor('message:new', 1, (m) => m.content === 'live');
    await sleep(30);
    expect(bob.received.of('message:new').filter((m) => m.content === 'live')).toHaveLength(1);
  });

  it('a refused join leaves nothing behind: the socket hears nothing of the session, and no one hears of it', async () => {
    const f = await startChat(NO_PINGS);
    const sessionId = await sessionWith(f, 1);
    const alice = await f.connect('alice');
    await alice.call('session:join', { sessionId });
    const eve = await f.connect('eve');
    expect(await eve.call('session:join', { sessionId })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    await alice.call('message:send', { sessionId, content: 'members only' });
    await alice.received.waitFor('message:new', 1, (m) => m.content === 'members only');
    await eve.close();
    await sleep(50);
    expect(eve.received.of('message:new')).toEqual([]);
    expect(eve.received.of('session:synced')).toEqual([]);
    expect(alice.received.of('user:joined').filter((e) => e.userId === 'eve')).toEqual([]);
    expect(alice.received.of('user:left').filter((e) => e.userId === 'eve')).toEqual([]);
  });

  it('a member removed from the session is not announced as leaving again when its socket leaves or closes', async () => {
    const f = await startChat(NO_PINGS);
    const sessionId = await sessionWith(f, 1, ['bob', 'carol']);
    const alice = await f.connect('alice');
    await alice.call('session:join', { sessionId });
    const bob = await f.connect('bob');
    await bob.call('session:join', { sessionId });
    const carol = await f.connect('carol');
    await carol.call('session:join', { sessionId });

    await f.engine.removeMember(sessionId, 'bob', 'alice');
    await f.engine.removeMember(sessionId, 'carol', 'alice');
    await alice.received.waitFor('user:left', 2);
    const leftBefore = alice.received.of('user:left').length;
    // one leaves the session it was taken out of, the other just closes
    expect(await bob.call('session:leave', { sessionId })).toEqual({ ok: true, data: null });
    await carol.close();
    await sleep(80);
    expect(alice.received.of('user:left')).toHaveLength(leftBefore);
    expect(f.reported).toEqual([]);
  });
});
