import { MemoryStorage, type Message } from 'parley-chat';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, sleep, startChat, until, type ChatFixture, type Tab } from './harness.js';

/**
 * Durable replay over real reconnections: a client that was away gets exactly what it
 * missed, once, in seq order, then `session:synced` — from its `lastSeq` or from the delivery
 * cursor stored when its socket went; and a join racing live writes neither loses nor repeats.
 */

afterEach(closeAll);

const SEQ_EVENTS = new Set(['message:new', 'message:edited', 'message:deleted', 'message:reaction:update']);

/** The session changes a tab received for `sessionId` after index `from`, as [event, messageId, changeSeq]. */
function changes(tab: Tab, sessionId: string, from = 0): [string, string, number][] {
  return tab.received.events
    .slice(from)
    .filter((e) => SEQ_EVENTS.has(e.event) && e.payload.sessionId === sessionId)
    .map((e) => [e.event, e.payload.id ?? e.payload.messageId, e.payload.changeSeq ?? e.payload.seq]);
}

async function setup(f: ChatFixture) {
  const { id: sessionId } = await f.engine.createSession({ id: 'replay-room', createdBy: 'alice', memberIds: ['bob'] });
  const alice = await f.connect('alice');
  await alice.call('session:join', { sessionId });
  const bob = await f.connect('bob');
  await bob.call('session:join', { sessionId });
  const seen: Message[] = [];
  for (const content of ['before 1', 'before 2']) seen.push((await alice.call('message:send', { sessionId, content })).data);
  await bob.received.waitFor('message:new', 2);
  return { sessionId, alice, bob, seen };
}

/** While bob is away: `n` new messages, the first of them edited and the second deleted. */
async function whileAway(alice: Tab, sessionId: string, n: number) {
  const missed: Message[] = [];
  for (let i = 0; i < n; i++) missed.push((await alice.call('message:send', { sessionId, content: `missed ${i}` })).data);
  expect((await alice.call('message:edit', { messageId: missed[0]!.id, content: 'missed 0, edited' })).ok).toBe(true);
  if (n > 1) expect((await alice.call('message:delete', { messageId: missed[1]!.id })).ok).toBe(true);
  return missed;
}

/** Joins and collects everything up to `session:synced`; follows `gap` with a second join from the returned seq. */
async function rejoin(f: ChatFixture, sessionId: string, lastSeq: number | undefined) {
  const tab = await f.connect('bob');
  const first = await tab.call('session:join', lastSeq === undefined ? { sessionId } : { sessionId, lastSeq });
  expect(first.ok).toBe(true);
  const [synced] = tab.received.of('session:synced');
  const replayed = tab.received.events.slice(0, tab.received.events.findIndex((e) => e.event === 'session:synced'));
  return { tab, synced, replayed };
}

describe('socket.io binding: reconnection replay', () => {
  for (const n of [3, 100, 101]) {
    for (const mode of ['lastSeq', 'stored cursor'] as const) {
      it(`a client that missed ${n} messages (and edits) gets exactly them once, in order, gap=${n > 100} — from ${mode}`, async () => {
        const f = await startChat();
        const { sessionId, alice, bob } = await setup(f);
        await bob.close(); // a clean disconnect: the server stores bob's delivery cursor (2)
        await until(async () => (await f.engine.listMembers(sessionId)).find((m) => m.userId === 'bob')!.lastDeliveredSeq === 2, 2000, 'cursor saved');
        const missed = await whileAway(alice, sessionId, n);
        const lastSeq = (await f.engine.getSession(sessionId)).lastSeq;

        const { tab, synced, replayed } = await rejoin(f, sessionId, mode === 'lastSeq' ? 2 : undefined);
        const items = replayed.filter((e) => SEQ_EVENTS.has(e.event));
        expect(replayed.filter((e) => !SEQ_EVENTS.has(e.event)).map((e) => e.event)).toEqual(['connection:success']);
        expect(items).toHaveLength(Math.min(n, 100));
        const seqs = items.map((e) => e.payload.changeSeq ?? e.payload.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b)); // in seq order
        expect(new Set(items.map((e) => e.payload.id ?? e.payload.messageId)).size).toBe(items.length); // once each
        expect(synced).toEqual({ sessionId, seq: n > 100 ? seqs.at(-1) : lastSeq, gap: n > 100 });

        // a gap is closed by joining again from the synced seq: together, every missed message exactly once
        let all = items;
        if (synced.gap) {
          const before = tab.received.events.length;
          expect((await tab.call('session:join', { sessionId, lastSeq: synced.seq })).ok).toBe(true);
          const more = tab.received.events.slice(before).filter((e) => SEQ_EVENTS.has(e.event));
          expect(tab.received.of('session:synced').at(-1)).toEqual({ sessionId, seq: lastSeq, gap: false });
          all = [...items, ...more];
        }
        const byId = new Map(all.map((e) => [e.payload.id ?? e.payload.messageId, e]));
        expect(all).toHaveLength(n);
        expect([...byId.keys()].sort()).toEqual(missed.map((m) => m.id).sort());
        // the current state: the edit and the deletion, not the original text
        expect(byId.get(missed[0]!.id)!.payload).toMatchObject({ content: 'missed 0, edited', isEdited: true });
        const deleted = byId.get(missed[1]!.id)!; // message:new with its current (deleted) state, or message:deleted
        if (deleted.event === 'message:deleted') expect(Object.keys(deleted.payload).sort()).toEqual(['deletedAt', 'messageId', 'seq', 'sessionId']);
        else expect(deleted.payload).toMatchObject({ content: '', isDeleted: true });
        expect(byId.get(missed[2]!.id)!.payload).toMatchObject({ content: 'missed 2' });

        // and live traffic continues after the replay, without repeats
        const before = tab.received.events.length;
        await alice.call('message:send', { sessionId, content: 'welcome back' });
        await tab.received.waitFor('message:new', 1, (m) => m.content === 'welcome back');
        expect(changes(tab, sessionId, before).map(([event, , seq]) => [event, seq])).toEqual([['message:new', lastSeq + 1]]);
      });
    }
  }

  it('edits, deletions and reactions on messages the client already had replay as message:edited / message:deleted', async () => {
    const f = await startChat();
    const { sessionId, alice, bob, seen } = await setup(f);
    await bob.close();
    await alice.call('message:edit', { messageId: seen[0]!.id, content: 'before 1, edited' });
    await alice.call('message:delete', { messageId: seen[1]!.id });
    const { synced, replayed } = await rejoin(f, sessionId, undefined);
    expect(replayed.slice(1).map((e) => [e.event, e.payload.id ?? e.payload.messageId])).toEqual([
      ['message:edited', seen[0]!.id],
      ['message:deleted', seen[1]!.id],
    ]);
    expect(replayed[1]!.payload).toMatchObject({ content: 'before 1, edited', changeSeq: 3 });
    expect(replayed[2]!.payload).toEqual({ sessionId, messageId: seen[1]!.id, seq: 4, deletedAt: expect.any(String) });
    expect(synced).toEqual({ sessionId, seq: 4, gap: false });
  });

  it('after an abrupt disconnect only what a pong confirmed counts as delivered: nothing is skipped', async () => {
    const f = await startChat({ server: { pingInterval: 60, pingTimeout: 2000 } });
    const { sessionId, alice, bob } = await setup(f);
    await sleep(150); // a ping/pong round confirms seq 2
    (bob.socket as any).io.engine.close(); // the network drops: no disconnect packet
    await until(async () => (await f.engine.listMembers(sessionId)).find((m) => m.userId === 'bob')!.lastDeliveredSeq === 2, 2000, 'cursor saved');
    const missed = await whileAway(alice, sessionId, 3);
    const { replayed, synced } = await rejoin(f, sessionId, undefined);
    expect(replayed.filter((e) => SEQ_EVENTS.has(e.event)).map((e) => e.payload.id).sort()).toEqual(missed.map((m) => m.id).sort());
    expect(synced.gap).toBe(false);
  });

  it('a first join without a cursor replays nothing but says gap when there is history', async () => {
    const f = await startChat();
    const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    await f.engine.createMessage({ sessionId, userId: 'alice', content: 'old news' });
    const { replayed, synced } = await rejoin(f, sessionId, undefined);
    expect(replayed.map((e) => e.event)).toEqual(['connection:success']);
    expect(synced).toEqual({ sessionId, seq: 1, gap: true });
  });
});

/**
 * A storage whose writes become visible well before the engine hears back (as over a network; in
 * commit order), and whose change reads are slow: the worst case for a join racing live messages.
 */
function racyStorage(): MemoryStorage {
  const storage = new MemoryStorage();
  const insert = storage.insertMessages.bind(storage);
  const changesSince = storage.getChangesSince.bind(storage);
  let acknowledged: Promise<unknown> = Promise.resolve();
  storage.insertMessages = async (batch) => {
    const result = await insert(batch); // committed (and readable) now…
    const ack = acknowledged.then(() => sleep(Math.random() * 8)); // …the publish comes later, in order
    acknowledged = ack;
    await ack;
    return result;
  };
  storage.getChangesSince = async (...args) => {
    await sleep(Math.random() * 10);
    const changes = await changesSince(...args);
    await sleep(Math.random() * 10); // messages keep being published after the read
    return changes;
  };
  return storage;
}

describe('socket.io binding: a join racing live writes', () => {
  it('delivers every message exactly once and in seq order, whatever the interleaving', async () => {
    const f = await startChat({ storage: racyStorage() });
    const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    const writes: Promise<Message>[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 400; i++) {
        writes.push(f.engine.createMessage({ sessionId, userId: 'alice', content: `live ${i}` }));
        await sleep(1);
      }
    })();
    const tabs: Tab[] = [];
    for (let i = 0; i < 8; i++) {
      await sleep(5 + Math.random() * 10);
      const tab = await f.connect('bob');
      expect((await tab.call('session:join', { sessionId, lastSeq: 0 })).ok).toBe(true);
      tabs.push(tab);
    }
    writing = false;
    await writer;
    const all = await Promise.all(writes);
    const total = all.length;
    let checked = 0;
    for (const tab of tabs) {
      const synced = tab.received.of('session:synced')[0];
      if (synced.gap) continue; // joined after 100 messages: it pages history instead (covered above)
      checked++;
      await until(() => tab.received.of('message:new').length >= total, 5000, `tab got all ${total}`);
      await sleep(30);
      const seqs = tab.received.of('message:new').map((m) => m.seq);
      expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      const syncIndex = tab.received.events.findIndex((e) => e.event === 'session:synced');
      // nothing of the session reached the socket before its replay ended, except the replay itself
      expect(tab.received.events.slice(0, syncIndex).every((e) => e.event === 'connection:success' || e.event === 'message:new')).toBe(true);
    }
    expect(checked).toBeGreaterThanOrEqual(3);
  });
});
