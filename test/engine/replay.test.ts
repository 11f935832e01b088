import { describe, expect, it } from 'vitest';
import { expectChatError, memoryEngine } from '../support/engine.js';

/** Durable replay, at the engine level: what a re-joining client missed, once, in order. */
async function sessionWith(count: number) {
  const engine = await memoryEngine();
  const session = await engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
  const messages = [];
  for (let i = 0; i < count; i++) messages.push(await engine.createMessage({ sessionId: session.id, userId: 'alice', content: `m${i}` }));
  return { engine, sessionId: session.id, messages };
}

describe('joinSession replay', () => {
  for (const missed of [3, 100, 101]) {
    it(`a client that missed ${missed} messages gets exactly them, in order, with gap=${missed > 100}`, async () => {
      const { engine, sessionId } = await sessionWith(2);
      const before = await engine.joinSession(sessionId, 'bob', { lastSeq: 2 });
      expect(before).toMatchObject({ replay: [], seq: 2, gap: false });
      for (let i = 0; i < missed; i++) await engine.createMessage({ sessionId, userId: 'alice', content: `missed ${i}` });
      const join = await engine.joinSession(sessionId, 'bob', { lastSeq: 2 });
      const expected = Math.min(missed, 100);
      expect(join.replay.map((r) => r.message.content)).toEqual(Array.from({ length: expected }, (_, i) => `missed ${i}`));
      expect(join.replay.every((r) => r.type === 'created')).toBe(true);
      expect(join.gap).toBe(missed > 100);
      expect(join.seq).toBe(2 + expected);
      // continuing from the returned seq gives the rest, nothing twice
      const next = await engine.joinSession(sessionId, 'bob', { lastSeq: join.seq });
      expect(next.replay.map((r) => r.message.content)).toEqual(missed > 100 ? ['missed 100'] : []);
      expect(next.gap).toBe(false);
    });
  }

  it('edits, deletions and reactions on older messages replay as their current state, once each', async () => {
    const { engine, sessionId, messages } = await sessionWith(3);
    const [a, b, c] = messages as [(typeof messages)[0], (typeof messages)[0], (typeof messages)[0]];
    await engine.editMessage(a.id, 'a edited', 'alice');
    await engine.editMessage(a.id, 'a edited twice', 'alice');
    await engine.deleteMessage(b.id, 'alice');
    await engine.toggleReaction(c.id, 'bob', '🎉');
    const fresh = await engine.createMessage({ sessionId, userId: 'alice', content: 'new one' });
    await engine.editMessage(fresh.id, 'new one, edited', 'alice');
    const join = await engine.joinSession(sessionId, 'bob', { lastSeq: 3 });
    // ordered by each message's latest change: a (seq 5), b (6), c (7), fresh (9)
    expect(join.replay.map((r) => [r.type, r.message.id, r.message.content])).toEqual([
      ['changed', a.id, 'a edited twice'],
      ['deleted', b.id, ''],
      ['changed', c.id, 'm2'],
      ['created', fresh.id, 'new one, edited'],
    ]);
    expect(join.replay.find((r) => r.message.id === c.id)!.message.reactions).toEqual([{ emoji: '🎉', count: 1, userIds: ['bob'] }]);
    expect(join.seq).toBe((await engine.getSession(sessionId)).lastSeq);
  });

  it('without lastSeq, the stored delivery cursor is used; a first join gets no replay but a gap flag', async () => {
    const { engine, sessionId } = await sessionWith(5);
    expect(await engine.joinSession(sessionId, 'bob')).toMatchObject({ replay: [], seq: 5, gap: true });
    await engine.markDelivered(sessionId, 'bob', 5);
    await engine.markDelivered(sessionId, 'bob', 2); // never moves back
    await engine.createMessage({ sessionId, userId: 'alice', content: 'while bob was away' });
    const join = await engine.joinSession(sessionId, 'bob');
    expect(join.replay.map((r) => r.message.content)).toEqual(['while bob was away']);
    expect(join).toMatchObject({ seq: 6, gap: false });
  });

  it('a non-member cannot join, and a lastSeq past the end replays nothing', async () => {
    const { engine, sessionId } = await sessionWith(2);
    await expectChatError(engine.joinSession(sessionId, 'mallory'), 'FORBIDDEN');
    expect(await engine.joinSession(sessionId, 'bob', { lastSeq: 999 })).toMatchObject({ replay: [], gap: false });
    await expectChatError(engine.joinSession(sessionId, 'bob', { lastSeq: -1 }), 'VALIDATION');
  });
});
