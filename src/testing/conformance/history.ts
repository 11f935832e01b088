import { describe, expect, it } from 'vitest';
import { isChatError } from '../../errors.js';
import { newId } from '../../ids.js';
import { contents, must, range, type ConformanceKit } from './kit.js';

/** The storage contract's rules for history pages and getChangesSince. */
export function defineHistoryCases(kit: ConformanceKit): void {
  const { db, clock, uid, expectCode, newSession, attachment, post, lastSeq, react, softDelete } = kit;

  // ---- history ----------------------------------------------------------------------------

  /**
   * Top-level T1..T6 with replies and a reaction interleaved, so top-level seqs have gaps:
   * T1=1 T2=2 R1=3(re T2) T3=4 (reaction on T1 = 5) T4=6 R2=7(re T2) R1a=8(re R1) T5=9 T6=10.
   */
  const historyFixture = async () => {
    const session = await newSession();
    const t1 = await post(session.id, { content: 'T1' });
    const t2 = await post(session.id, { content: 'T2' });
    const r1 = await post(session.id, { content: 'R1', parentMessageId: t2.id });
    const t3 = await post(session.id, { content: 'T3', attachments: [attachment({ fileName: 't3.png' })] });
    await react(t1.id, 'alice', '👍', 'add');
    const t4 = await post(session.id, { content: 'T4' });
    const r2 = await post(session.id, { content: 'R2', parentMessageId: t2.id });
    const r1a = await post(session.id, { content: 'R1a', parentMessageId: r1.id });
    const t5 = await post(session.id, { content: 'T5' });
    const t6 = await post(session.id, { content: 'T6' });
    expect([t1, t2, r1, t3, t4, r2, r1a, t5, t6].map((m) => m.seq)).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10]);
    return { session, t1, t2, t3, t4, t5, t6, r1, r2, r1a };
  };

  describe('history', () => {
    it('without cursors: top-level messages only, ascending seq, the latest `limit`, total = messageCount', async () => {
      const { session } = await historyFixture();
      const page = await db().getHistory(session.id, { limit: 3, offset: 0, parentMessageId: null });
      expect(contents(page)).toEqual(['T4', 'T5', 'T6']);
      expect(page.messages.map((m) => m.seq)).toEqual([6, 9, 10]);
      expect(page.total).toBe(6);
      const all = await db().getHistory(session.id, { limit: 100, offset: 0, parentMessageId: null });
      expect(contents(all)).toEqual(['T1', 'T2', 'T3', 'T4', 'T5', 'T6']);
      expect(all.total).toBe(6);
    });

    it('offset counts from the newest; an offset at or beyond the end gives no messages and the same total', async () => {
      const { session } = await historyFixture();
      const page = (limit: number, offset: number) => db().getHistory(session.id, { limit, offset, parentMessageId: null });
      expect(contents(await page(2, 2))).toEqual(['T3', 'T4']);
      expect(contents(await page(3, 4))).toEqual(['T1', 'T2']);
      expect(contents(await page(1, 5))).toEqual(['T1']);
      expect(await page(3, 6)).toEqual({ messages: [], total: 6 });
      expect(await page(3, 100)).toEqual({ messages: [], total: 6 });
    });

    it("parentMessageId selects that message's direct replies only (not nested ones), total = its replyCount", async () => {
      const { session, t1, t2, r1 } = await historyFixture();
      const thread = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: t2.id });
      expect(contents(thread)).toEqual(['R1', 'R2']);
      expect(thread.total).toBe(2);
      expect(contents(await db().getHistory(session.id, { limit: 1, offset: 0, parentMessageId: t2.id }))).toEqual(['R2']);
      expect(contents(await db().getHistory(session.id, { limit: 1, offset: 1, parentMessageId: t2.id }))).toEqual(['R1']);
      const nested = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: r1.id });
      expect(contents(nested)).toEqual(['R1a']);
      expect(nested.total).toBe(1);
      expect(await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: t1.id })).toEqual({ messages: [], total: 0 });
      expect(await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: newId() })).toEqual({ messages: [], total: 0 });
    });

    it('before keeps seq < before: the latest `limit` of those after skipping `offset` from the newest; total ignores the cursor', async () => {
      const { session, t4 } = await historyFixture();
      const page = (before: number, limit: number, offset = 0) => db().getHistory(session.id, { limit, offset, parentMessageId: null, before });
      const p = await page(t4.seq, 2);
      expect(contents(p)).toEqual(['T2', 'T3']);
      expect(p.total).toBe(6);
      expect(contents(await page(t4.seq, 2, 1))).toEqual(['T1', 'T2']);
      expect(contents(await page(7, 10))).toEqual(['T1', 'T2', 'T3', 'T4']); // 7 is a reply's seq
      expect(contents(await page(1000, 2))).toEqual(['T5', 'T6']);
      expect(await page(1, 10)).toEqual({ messages: [], total: 6 });
      expect(await page(t4.seq, 10, 3)).toEqual({ messages: [], total: 6 });
    });

    it('after keeps seq > after: the first `limit` of those after skipping `offset` from the oldest; total ignores the cursor', async () => {
      const { session, t2 } = await historyFixture();
      const page = (after: number, limit: number, offset = 0) => db().getHistory(session.id, { limit, offset, parentMessageId: null, after });
      const p = await page(t2.seq, 2);
      expect(contents(p)).toEqual(['T3', 'T4']);
      expect(p.total).toBe(6);
      expect(contents(await page(t2.seq, 2, 1))).toEqual(['T4', 'T5']);
      expect(contents(await page(0, 2))).toEqual(['T1', 'T2']);
      expect(contents(await page(3, 10))).toEqual(['T3', 'T4', 'T5', 'T6']); // 3 is a reply's seq
      expect(await page(10, 5)).toEqual({ messages: [], total: 6 }); // after = lastSeq
      expect(await page(t2.seq, 5, 4)).toEqual({ messages: [], total: 6 });
    });

    it('after and before together keep after < seq < before, paged forward from after; total ignores the cursors', async () => {
      const { session, t1, t2, t5, t6 } = await historyFixture();
      const page = (after: number, before: number, limit: number, offset = 0) =>
        db().getHistory(session.id, { limit, offset, parentMessageId: null, after, before });
      const p = await page(t1.seq, t6.seq, 2);
      expect(contents(p)).toEqual(['T2', 'T3']);
      expect(p.total).toBe(6);
      expect(contents(await page(t1.seq, t6.seq, 2, 2))).toEqual(['T4', 'T5']);
      expect(contents(await page(t1.seq, t6.seq, 10, 3))).toEqual(['T5']);
      expect(contents(await page(t1.seq, t5.seq, 10))).toEqual(['T2', 'T3', 'T4']);
      expect(contents(await page(0, 1000, 10))).toEqual(['T1', 'T2', 'T3', 'T4', 'T5', 'T6']);
      expect(await page(t1.seq, t2.seq, 10)).toEqual({ messages: [], total: 6 }); // nothing strictly between
      expect(await page(t5.seq, t2.seq, 10)).toEqual({ messages: [], total: 6 }); // an empty range
    });

    it('cursors work inside a thread too', async () => {
      const { session, t2, r1, r2 } = await historyFixture();
      const after = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: t2.id, after: r1.seq });
      expect(after).toEqual({ messages: [must(await db().getMessage(r2.id))], total: 2 });
      const before = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: t2.id, before: r2.seq });
      expect(contents(before)).toEqual(['R1']);
      const between = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: t2.id, after: 0, before: r2.seq + 1 });
      expect(contents(between)).toEqual(['R1', 'R2']);
      expect(between.total).toBe(2);
    });

    it('page messages carry their reactions and attachments, equal to getMessage', async () => {
      const { session, t1, t3 } = await historyFixture();
      const page = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: null });
      const byId = new Map(page.messages.map((m) => [m.id, m]));
      expect(byId.get(t1.id)?.reactions).toEqual([{ emoji: '👍', count: 1, userIds: ['alice'] }]);
      expect(byId.get(t3.id)?.attachments.map((a) => a.fileName)).toEqual(['t3.png']);
      for (const message of page.messages) expect(message).toEqual(await db().getMessage(message.id));
      expect(page.messages.filter((m) => m.reactions.length > 0 || m.attachments.length > 0).map((m) => m.content)).toEqual(['T1', 'T3']);
    });

    it('deleted messages stay in history with content "" and isDeleted: true', async () => {
      const { session, t5 } = await historyFixture();
      await softDelete(t5.id);
      const page = await db().getHistory(session.id, { limit: 2, offset: 0, parentMessageId: null });
      expect(page.messages.map((m) => [m.content, m.isDeleted])).toEqual([
        ['', true],
        ['T6', false],
      ]);
      expect(page.total).toBe(6);
    });

    it('an unknown session has an empty history', async () => {
      expect(await db().getHistory(uid('missing'), { limit: 10, offset: 0, parentMessageId: null })).toEqual({ messages: [], total: 0 });
    });

    it('authorize: a member reads the page; a non-member gets FORBIDDEN, an unknown session NOT_FOUND; memberId null checks existence only', async () => {
      const session = await newSession({ createdBy: 'owner-h', memberIds: ['reader-h'] });
      await post(session.id, { content: 'one' });
      await post(session.id, { content: 'two' });
      const page = (memberId: string | null, sessionId = session.id) =>
        db().getHistory(sessionId, { limit: 10, offset: 0, parentMessageId: null, authorize: { memberId } });
      const asMember = await page('reader-h');
      expect(contents(asMember)).toEqual(['one', 'two']);
      expect(asMember.total).toBe(2);
      expect(await page('owner-h')).toEqual(asMember);
      expect(await page(null)).toEqual(asMember);
      await expectCode(page('outsider-h'), 'FORBIDDEN');
      await expectCode(page('reader-h', uid('missing')), 'NOT_FOUND');
      await expectCode(page(null, uid('missing')), 'NOT_FOUND');
      // An empty session still answers (no messages is not "no session"), and a removed member is an outsider.
      const empty = await newSession({ createdBy: 'owner-h', memberIds: ['reader-h'] });
      expect(await page('reader-h', empty.id)).toEqual({ messages: [], total: 0 });
      await db().removeMember(session.id, 'reader-h');
      const removed = await page('reader-h').then(() => null, (e: unknown) => e);
      expect(isChatError(removed) && removed.code).toBe('FORBIDDEN');
    });
  });

  // ---- changes since ----------------------------------------------------------------------

  describe('getChangesSince', () => {
    it('returns the messages created, edited, deleted, reacted or attached after the cursor, in changeSeq order, each once in its current state', async () => {
      const session = await newSession();
      const a = await post(session.id, { content: 'A' }); // 1
      const b = await post(session.id, { content: 'B' }); // 2
      const c = await post(session.id, { content: 'C' }); // 3
      const d = await post(session.id, { content: 'D' }); // 4
      const cursor = await lastSeq(session.id);
      const at = clock();
      await db().updateMessage(b.id, { content: 'B2', isEdited: true, editedAt: at, at }, { bumpSeq: true }); // 5
      await react(a.id, 'alice', '👍', 'add'); // 6
      await softDelete(c.id); // 7
      const e = await post(session.id, { content: 'E', parentMessageId: d.id }); // 8
      await db().addAttachments(d.id, [attachment()], clock()); // 9
      await react(b.id, 'bob', '🎉', 'add'); // 10: B's latest change
      await db().updateMessage(a.id, { metadata: { flushed: true }, at: clock() }, { bumpSeq: false }); // no seq

      const changes = await db().getChangesSince(session.id, cursor, 100);
      expect(changes.map((m) => [m.content, m.changeSeq])).toEqual([
        ['A', 6],
        ['', 7],
        ['E', 8],
        ['D', 9],
        ['B2', 10],
      ]);
      expect(changes.map((m) => m.id)).toEqual([a.id, c.id, e.id, d.id, b.id]);
      for (const message of changes) expect(message).toEqual(await db().getMessage(message.id));
      expect(changes[0]?.reactions).toEqual([{ emoji: '👍', count: 1, userIds: ['alice'] }]);
      expect(changes[0]?.metadata).toEqual({ flushed: true });
      expect(changes[1]?.isDeleted).toBe(true);
      expect(changes[3]?.attachments).toHaveLength(1);
    });

    it('respects the cursor and the limit', async () => {
      const session = await newSession();
      for (let i = 1; i <= 6; i++) await post(session.id, { content: `m${i}` });
      const seqs = async (after: number, limit: number) => (await db().getChangesSince(session.id, after, limit)).map((m) => m.changeSeq);
      expect(await seqs(0, 100)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(await seqs(0, 2)).toEqual([1, 2]);
      expect(await seqs(3, 2)).toEqual([4, 5]);
      expect(await seqs(5, 10)).toEqual([6]);
      expect(await seqs(6, 10)).toEqual([]);
      expect(await db().getChangesSince(uid('missing'), 0, 10)).toEqual([]);
    });
  });
}
