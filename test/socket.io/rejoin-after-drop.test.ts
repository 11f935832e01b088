import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, startChat } from './harness.js';

/**
 * After a dropped connection the server stores only the delivery cursor a pong confirmed, so it
 * can lag behind what the client saw; a client that re-joins with the `lastSeq` it kept gets
 * exactly what it missed, nothing it already had.
 */

afterEach(closeAll);

const SEQ_EVENTS = new Set(['message:new', 'message:edited', 'message:deleted', 'message:reaction:update']);

describe('socket.io binding: re-joining after a dropped connection', () => {
  it('with lastSeq, the replay holds only what was missed, although the stored cursor lags', async () => {
    // No ping comes round during the test, so nothing the client read is confirmed by a pong.
    const f = await startChat({ server: { pingInterval: 60_000, pingTimeout: 60_000 } });
    const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    const alice = await f.connect('alice');
    await alice.call('session:join', { sessionId });
    const bob = await f.connect('bob');
    await bob.call('session:join', { sessionId });
    for (let i = 0; i < 5; i++) await alice.call('message:send', { sessionId, content: `seen ${i}` });
    const seen = await bob.received.waitFor('message:new', 5);
    const lastSeq = Math.max(...seen.map((m) => m.changeSeq));

    (bob.socket as any).io.engine.close(); // the network drops: no disconnect packet
    const stored = async () => (await f.engine.listMembers(sessionId)).find((m) => m.userId === 'bob')!.lastDeliveredSeq;
    await alice.received.waitFor('user:left', 1, (e) => e.userId === 'bob');
    expect(await stored()).toBeLessThan(lastSeq); // the lag a client must not trust

    const missed = [];
    for (let i = 0; i < 3; i++) missed.push((await alice.call('message:send', { sessionId, content: `missed ${i}` })).data);
    await alice.call('message:edit', { messageId: seen[4].id, content: 'seen 4, edited' });

    const back = await f.connect('bob');
    expect((await back.call('session:join', { sessionId, lastSeq })).ok).toBe(true);
    const syncedAt = back.received.events.findIndex((e) => e.event === 'session:synced');
    const replayed = back.received.events.slice(0, syncedAt).filter((e) => SEQ_EVENTS.has(e.event));
    expect(replayed.map((e) => [e.event, e.payload.id])).toEqual([
      ...missed.map((m) => ['message:new', m.id]),
      ['message:edited', seen[4].id], // a change to a message it had is news, with a new seq
    ]);
    expect(replayed.every((e) => e.payload.changeSeq > lastSeq)).toBe(true);
    expect(back.received.events[syncedAt]!.payload).toEqual({ sessionId, seq: lastSeq + 4, gap: false });
  });
});
