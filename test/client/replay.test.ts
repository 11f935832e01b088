import { memoryPersistence } from 'parley-chat/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clientFor, closeClients, TestServer, until } from './harness.js';

let server: TestServer;
beforeEach(async () => {
  server = await new TestServer().start();
});
afterEach(async () => {
  closeClients();
  await server.dispose();
});

async function post(sessionId: string, count: number, from = 1): Promise<void> {
  for (let i = from; i < from + count; i++) await server.engine.createMessage({ sessionId, userId: 'bob', content: `m${i}` });
}

/** Every top-level message stored in the session, oldest first. */
async function allStored(sessionId: string): Promise<string[]> {
  const { total } = await server.engine.getMessageHistory(sessionId, undefined, { limit: 1, offset: 0 });
  const contents: string[] = [];
  for (let offset = 0; offset < total; offset += 100) {
    const page = await server.engine.getMessageHistory(sessionId, undefined, { limit: 100, offset });
    contents.unshift(...page.messages.map((m) => m.content));
  }
  return contents;
}

function expectOrderedAndUnique(messages: readonly { id: string; seq: number | null }[]): void {
  const seqs = messages.map((m) => m.seq!);
  expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  expect(new Set(messages.map((m) => m.id)).size).toBe(messages.length);
}

describe('replay and gap', () => {
  it('a client that missed more than 100 messages ends on the latest page: ordered, no duplicates, no hole', async () => {
    const { id: sessionId } = await server.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    await post(sessionId, 30);
    const alice = clientFor(server, 'alice');
    const room = alice.session(sessionId);
    await until(() => room.getSnapshot().messages.length === 30, 'the first 30');

    alice.socket.disconnect(); // offline, as on a train
    await post(sessionId, 250, 31);
    alice.socket.connect();
    await until(() => room.getSnapshot().messages.at(-1)?.content === 'm280' && !room.getSnapshot().gap, 'the latest page');

    const snapshot = room.getSnapshot();
    expectOrderedAndUnique(snapshot.messages);
    const everything = await allStored(sessionId);
    // What is held is the newest stretch of the history, without a hole.
    const held = snapshot.messages.map((m) => m.content);
    expect(held).toEqual(everything.slice(everything.length - held.length));
    expect(held.length).toBeGreaterThanOrEqual(100);
    expect(snapshot.hasOlder).toBe(true);

    // loadOlder pages back by seq until the start, still ordered and without duplicates.
    while (await room.loadOlder());
    expect(room.getSnapshot().messages.map((m) => m.content)).toEqual(everything);
    expectOrderedAndUnique(room.getSnapshot().messages);
    expect(room.getSnapshot().hasOlder).toBe(false);
  });

  it('a reload with more than 100 missed also ends on the latest page, from the persisted cursor', async () => {
    const { id: sessionId } = await server.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    await post(sessionId, 5);
    const persistence = memoryPersistence();
    const first = clientFor(server, 'alice', { persistence });
    const room = first.session(sessionId);
    await until(() => room.getSnapshot().messages.length === 5, 'the first 5');
    first.close();

    await post(sessionId, 150, 6);
    const again = clientFor(server, 'alice', { persistence }).session(sessionId);
    await until(() => again.getSnapshot().state === 'joined' && !again.getSnapshot().gap && again.getSnapshot().messages.at(-1)?.content === 'm155', 'the latest page');
    const everything = await allStored(sessionId);
    const held = again.getSnapshot().messages.map((m) => m.content);
    expect(held).toEqual(everything.slice(everything.length - held.length));
    expectOrderedAndUnique(again.getSnapshot().messages);
  });

  it('a re-join replays what changed while away: edits and deletions of held messages applied by changeSeq', async () => {
    const { id: sessionId } = await server.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    const a = await server.engine.createMessage({ sessionId, userId: 'bob', content: 'typo' });
    const b = await server.engine.createMessage({ sessionId, userId: 'bob', content: 'oops' });
    const alice = clientFor(server, 'alice');
    const room = alice.session(sessionId);
    await until(() => room.getSnapshot().messages.length === 2, 'two messages');

    alice.socket.disconnect();
    await server.engine.editMessage(a.id, 'fixed', 'bob');
    await server.engine.deleteMessage(b.id, 'bob');
    await post(sessionId, 1, 3);
    alice.socket.connect();
    await until(() => room.getSnapshot().messages.length === 3, 'the new message');
    expect(room.getSnapshot().messages.map((m) => [m.content, m.isDeleted])).toEqual([
      ['fixed', false],
      ['', true],
      ['m3', false],
    ]);
    // The unread count counted bob's three messages once, not again on the replay.
    await until(() => alice.getSnapshot().sessions[0]?.unreadCount === 2, 'unread: typo and m3 (the deleted one no longer counts)');
  });
});
