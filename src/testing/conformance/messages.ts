import { describe, expect, it } from 'vitest';
import { isChatError } from '../../errors.js';
import { newId } from '../../ids.js';
import type { Message } from '../../model.js';
import { must, type ConformanceKit } from './kit.js';

/** The storage contract's rules for messages. */
export function defineMessagesCases(kit: ConformanceKit): void {
  const { db, clock, uid, newSession, draft, attachment, post, sessionNow, lastSeq, react, softDelete } = kit;

  // ---- messages ---------------------------------------------------------------------------

  describe('messages', () => {
    it('insertMessages stores every field and returns the message with seq = changeSeq = 1 and createdAt = updatedAt = at', async () => {
      const session = await newSession();
      const at = clock();
      const input = draft(session.id, {
        userId: null,
        agentId: 'assistant',
        role: 'assistant',
        content: 'The answer is 42.',
        metadata: { status: 'completed', nested: { list: [1, 'two', true, null], n: -3.25 } },
        tokens: 42,
        clientMessageId: null,
        at,
      });
      const [result] = await db().insertMessages([input]);
      const expected: Message = {
        id: input.id,
        sessionId: session.id,
        userId: null,
        agentId: 'assistant',
        content: 'The answer is 42.',
        role: 'assistant',
        metadata: { status: 'completed', nested: { list: [1, 'two', true, null], n: -3.25 } },
        tokens: 42,
        parentMessageId: null,
        replyCount: 0,
        seq: 1,
        changeSeq: 1,
        clientMessageId: null,
        isEdited: false,
        editedAt: null,
        isDeleted: false,
        deletedAt: null,
        createdAt: at.toISOString(),
        updatedAt: at.toISOString(),
        attachments: [],
        reactions: [],
      };
      expect(result).toEqual({ message: expected, created: true });
      expect(await db().getMessage(input.id)).toEqual(expected);
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 1, messageCount: 1 });

      const user = await post(session.id, { userId: 'alice', clientMessageId: 'client-1', content: 'hi' });
      expect(user).toMatchObject({ userId: 'alice', agentId: null, role: 'user', clientMessageId: 'client-1', seq: 2, changeSeq: 2 });
    });

    it('a batch gets consecutive seqs in input order, results come back in input order, and numbering is gapless across batches', async () => {
      const session = await newSession();
      const first = await db().insertMessages(['a', 'b', 'c'].map((content) => draft(session.id, { content })));
      expect(first.map((r) => [r.message.content, r.message.seq, r.message.changeSeq, r.created])).toEqual([
        ['a', 1, 1, true],
        ['b', 2, 2, true],
        ['c', 3, 3, true],
      ]);
      const second = await db().insertMessages(['d', 'e'].map((content) => draft(session.id, { content })));
      expect(second.map((r) => [r.message.content, r.message.seq])).toEqual([
        ['d', 4],
        ['e', 5],
      ]);
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 5, messageCount: 5 });
    });

    it('a batch may span sessions: each session numbers its own messages', async () => {
      const one = await newSession();
      const two = await newSession();
      await post(one.id);
      const results = await db().insertMessages([
        draft(one.id, { content: '1b' }),
        draft(two.id, { content: '2a' }),
        draft(one.id, { content: '1c' }),
        draft(two.id, { content: '2b' }),
        draft(two.id, { content: '2c' }),
      ]);
      expect(results.map((r) => [r.message.content, r.message.sessionId, r.message.seq])).toEqual([
        ['1b', one.id, 2],
        ['2a', two.id, 1],
        ['1c', one.id, 3],
        ['2b', two.id, 2],
        ['2c', two.id, 3],
      ]);
      expect(await sessionNow(one.id)).toMatchObject({ lastSeq: 3, messageCount: 3 });
      expect(await sessionNow(two.id)).toMatchObject({ lastSeq: 3, messageCount: 3 });
    });

    it('requireMembership: a member\'s send is stored; a non-member\'s rejects with FORBIDDEN and writes nothing of its batch', async () => {
      const session = await newSession({ createdBy: 'owner-m', memberIds: ['member-m'] });
      const [ok] = await db().insertMessages([draft(session.id, { userId: 'member-m', requireMembership: true, clientMessageId: 'c-ok' })]);
      expect(ok).toMatchObject({ created: true, message: { userId: 'member-m', seq: 1 } });

      // Alone, in a batch with members' sends (one statement or one transaction: nothing of it stays),
      // and even when its client id is already stored by someone else's send.
      for (const batch of [
        [draft(session.id, { userId: 'outsider', requireMembership: true })],
        [
          draft(session.id, { userId: 'member-m', requireMembership: true }),
          draft(session.id, { userId: 'outsider', requireMembership: true, attachments: [attachment()] }),
          draft(session.id, { userId: 'owner-m', requireMembership: true }),
        ],
        // One session, no attachments (Postgres: its own statement).
        [
          draft(session.id, { userId: 'member-m', requireMembership: true }),
          draft(session.id, { userId: 'outsider', requireMembership: true }),
          draft(session.id, { userId: 'owner-m', requireMembership: true }),
        ],
      ]) {
        const error = await db().insertMessages(batch).then(() => null, (e: unknown) => e);
        expect(isChatError(error) && error.code, String(error)).toBe('FORBIDDEN');
      }
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 1, messageCount: 1 });
      expect((await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: null })).messages.map((m) => m.userId)).toEqual(['member-m']);

      // A removed member is an outsider; without the flag (a trusted or already authorized write) anyone may be the author.
      expect(await db().removeMember(session.id, 'member-m')).toBe(true);
      const removed = await db().insertMessages([draft(session.id, { userId: 'member-m', requireMembership: true })]).then(() => null, (e: unknown) => e);
      expect(isChatError(removed) && removed.code).toBe('FORBIDDEN');
      const [trusted] = await db().insertMessages([draft(session.id, { userId: 'outsider' })]);
      expect(trusted).toMatchObject({ created: true, message: { seq: 2 } });

      // An unknown session is NOT_FOUND, not FORBIDDEN.
      const unknown = await db().insertMessages([draft(uid('nowhere'), { userId: 'member-m', requireMembership: true })]).then(() => null, (e: unknown) => e);
      expect(isChatError(unknown) && unknown.code).toBe('NOT_FOUND');
    });

    it("a message's attachments are stored with it (createdAt = the message's at) and take no seq of their own", async () => {
      const session = await newSession();
      const at = clock();
      const files = [attachment({ fileName: 'a.png', mimeType: 'image/png', metadata: { width: 640, height: 480 } }), attachment({ fileName: 'b.txt', mimeType: 'text/plain', fileSize: 0 })];
      const message = await post(session.id, { attachments: files, at });
      const expected = files.map((f) => ({ ...f, messageId: message.id, createdAt: at.toISOString() }));
      expect(message.attachments).toEqual(expected);
      expect((await db().getMessage(message.id))?.attachments).toEqual(expected);
      expect(await db().getAttachments(message.id)).toEqual(expected);
      expect(await db().getAttachment(must(files[1]).id)).toEqual(expected[1]);
      expect(await lastSeq(session.id)).toBe(1);
    });

    it("each top-level message raises the session's messageCount; each reply raises its parent's replyCount instead (deleted ones stay counted)", async () => {
      const session = await newSession();
      const root = await post(session.id);
      const first = await post(session.id, { parentMessageId: root.id });
      const second = await post(session.id, { parentMessageId: root.id });
      const nested = await post(session.id, { parentMessageId: first.id });
      expect(first).toMatchObject({ parentMessageId: root.id, replyCount: 0 });
      expect(nested.parentMessageId).toBe(first.id);

      expect((await db().getMessage(root.id))?.replyCount).toBe(2);
      expect((await db().getMessage(first.id))?.replyCount).toBe(1);
      expect((await db().getMessage(second.id))?.replyCount).toBe(0);
      expect(await sessionNow(session.id)).toMatchObject({ messageCount: 1, lastSeq: 4 });

      await softDelete(second.id);
      await softDelete(root.id);
      expect((await db().getMessage(root.id))?.replyCount).toBe(2);
      expect((await sessionNow(session.id)).messageCount).toBe(1);
    });

    it('a clientMessageId already stored for the same session and user returns the stored message with created: false and writes nothing', async () => {
      const session = await newSession();
      const first = await post(session.id, { userId: 'alice', clientMessageId: 'retry-me', content: 'first', attachments: [attachment()] });
      const parent = await post(session.id);
      const before = await sessionNow(session.id);

      const retry = draft(session.id, {
        userId: 'alice',
        clientMessageId: 'retry-me',
        content: 'second',
        parentMessageId: parent.id,
        attachments: [attachment()],
      });
      const [result] = await db().insertMessages([retry]);
      expect(result).toEqual({ message: await db().getMessage(first.id), created: false });
      expect(result?.message.content).toBe('first');
      expect(await sessionNow(session.id)).toEqual(before);
      expect(await db().getMessage(retry.id)).toBeNull();
      expect(await db().getAttachment(must(retry.attachments[0]).id)).toBeNull();
      expect((await db().getMessage(parent.id))?.replyCount).toBe(0);
    });

    it('the same clientMessageId twice inside one batch stores one message; the second result is the first message with created: false', async () => {
      const session = await newSession();
      const a = draft(session.id, { userId: 'alice', clientMessageId: 'dup', content: 'one' });
      const b = draft(session.id, { userId: 'alice', clientMessageId: 'dup', content: 'two' });
      const c = draft(session.id, { userId: 'alice', clientMessageId: 'other', content: 'three' });
      const results = await db().insertMessages([a, b, c]);
      expect(results.map((r) => [r.message.id, r.created, r.message.seq])).toEqual([
        [a.id, true, 1],
        [a.id, false, 1],
        [c.id, true, 2],
      ]);
      expect(results[1]?.message.content).toBe('one');
      expect(await db().getMessage(b.id)).toBeNull();
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 2, messageCount: 2 });
    });

    it('the same clientMessageId from a different user or in a different session is a different message', async () => {
      const one = await newSession();
      const two = await newSession();
      const results = await db().insertMessages([
        draft(one.id, { userId: 'alice', clientMessageId: 'same' }),
        draft(one.id, { userId: 'bob', clientMessageId: 'same' }),
        draft(two.id, { userId: 'alice', clientMessageId: 'same' }),
      ]);
      expect(results.map((r) => r.created)).toEqual([true, true, true]);
      expect(new Set(results.map((r) => r.message.id)).size).toBe(3);
      expect(await lastSeq(one.id)).toBe(2);
      expect(await lastSeq(two.id)).toBe(1);
    });

    it('messages without a clientMessageId are never de-duplicated', async () => {
      const session = await newSession();
      const results = await db().insertMessages([
        draft(session.id, { userId: 'alice', content: 'same' }),
        draft(session.id, { userId: 'alice', content: 'same' }),
      ]);
      expect(results.map((r) => [r.created, r.message.seq])).toEqual([
        [true, 1],
        [true, 2],
      ]);
    });

    it('a batch that fails part-way (an id already taken) writes nothing at all', async () => {
      const session = await newSession();
      const existing = await post(session.id, { content: 'existing' });
      const fresh = draft(session.id, { content: 'fresh', attachments: [attachment()] });
      const clash = draft(session.id, { id: existing.id, content: 'clash' });
      await expect(db().insertMessages([fresh, clash])).rejects.toBeDefined();
      expect(await db().getMessage(fresh.id)).toBeNull();
      expect(await db().getAttachment(must(fresh.attachments[0]).id)).toBeNull();
      expect(await db().getMessage(existing.id)).toEqual(existing);
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 1, messageCount: 1 });
      // The counter is intact: the next message still gets the next number.
      expect((await post(session.id)).seq).toBe(2);
    });

    it('getMessage returns null for an unknown id', async () => {
      expect(await db().getMessage(newId())).toBeNull();
    });

    it('updateMessage with bumpSeq: true applies the patch and gives the change the next seq (changeSeq); seq and createdAt stay', async () => {
      const session = await newSession();
      const message = await post(session.id, { content: 'original', metadata: { keep: true }, tokens: 3 });
      await post(session.id);
      const at = clock();
      const updated = await db().updateMessage(message.id, { content: 'edited', isEdited: true, editedAt: at, at }, { bumpSeq: true });
      expect(updated).toEqual({
        ...message,
        content: 'edited',
        isEdited: true,
        editedAt: at.toISOString(),
        updatedAt: at.toISOString(),
        changeSeq: 3,
      });
      expect(await db().getMessage(message.id)).toEqual(updated);
      expect(await lastSeq(session.id)).toBe(3);
    });

    it('updateMessage with bumpSeq: false applies the patch without touching changeSeq or lastSeq (an LLM flush)', async () => {
      const session = await newSession();
      const answer = await post(session.id, { userId: null, role: 'assistant', content: '', metadata: { status: 'streaming' } });
      const at = clock();
      const flushed = await db().updateMessage(answer.id, { content: 'partial answer', tokens: 7, at }, { bumpSeq: false });
      expect(flushed).toEqual({ ...answer, content: 'partial answer', tokens: 7, updatedAt: at.toISOString() });
      expect(await lastSeq(session.id)).toBe(1);

      const done = await db().updateMessage(answer.id, { content: 'full answer', metadata: { status: 'completed' }, at: clock() }, { bumpSeq: true });
      expect(done).toMatchObject({ content: 'full answer', metadata: { status: 'completed' }, tokens: 7, seq: 1, changeSeq: 2 });
      expect(await lastSeq(session.id)).toBe(2);
    });

    it('updateMessage changes only the fields present in the patch (metadata is replaced, not merged; null clears it)', async () => {
      const session = await newSession();
      const message = await post(session.id, { content: 'text', metadata: { a: 1, b: 2 }, tokens: 5 });
      const onlyTokens = await db().updateMessage(message.id, { tokens: 9, at: clock() }, { bumpSeq: false });
      expect(onlyTokens).toMatchObject({ content: 'text', metadata: { a: 1, b: 2 }, tokens: 9, isEdited: false, isDeleted: false });
      const replaced = await db().updateMessage(message.id, { metadata: { c: 3 }, at: clock() }, { bumpSeq: false });
      expect(replaced?.metadata).toEqual({ c: 3 });
      const cleared = await db().updateMessage(message.id, { metadata: null, tokens: null, at: clock() }, { bumpSeq: false });
      expect(cleared).toMatchObject({ content: 'text', metadata: null, tokens: null });
    });

    it('updateMessage returns null for an unknown message', async () => {
      expect(await db().updateMessage(newId(), { content: 'x', at: clock() }, { bumpSeq: true })).toBeNull();
    });

    it('soft delete (content "", isDeleted, deletedAt) is stored, takes a seq, and keeps the counters', async () => {
      const session = await newSession();
      const message = await post(session.id, { content: 'regrettable' });
      const at = clock();
      const deleted = await db().updateMessage(message.id, { content: '', isDeleted: true, deletedAt: at, at }, { bumpSeq: true });
      expect(deleted).toEqual({ ...message, content: '', isDeleted: true, deletedAt: at.toISOString(), updatedAt: at.toISOString(), changeSeq: 2 });
      expect(await db().getMessage(message.id)).toEqual(deleted);
      expect(await sessionNow(session.id)).toMatchObject({ lastSeq: 2, messageCount: 1 });
    });

    it('a message marked isDeleted is returned with content "" everywhere and never matches a search, even if the patch kept its text', async () => {
      const session = await newSession();
      const message = await post(session.id, { content: 'forgotten secret' });
      const at = clock();
      const deleted = await db().updateMessage(message.id, { isDeleted: true, deletedAt: at, at }, { bumpSeq: true });
      expect(deleted).toMatchObject({ content: '', isDeleted: true, deletedAt: at.toISOString() });
      expect((await db().getMessage(message.id))?.content).toBe('');
      expect((await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: null })).messages[0]?.content).toBe('');
      expect((await db().getChangesSince(session.id, 0, 10))[0]?.content).toBe('');
      expect(await db().searchMessages(session.id, ['secret'], { limit: 10, offset: 0, maxCount: 1000 })).toEqual({ messages: [], total: 0, totalExact: true });
    });

    it('returned messages are copies: mutating a returned message (or the input) does not change stored state', async () => {
      const session = await newSession();
      const input = draft(session.id, { metadata: { nested: { value: 1 } }, attachments: [attachment({ metadata: { k: 'v' } })] });
      const [result] = await db().insertMessages([input]);
      await react(input.id, 'alice', '👍', 'add');
      const stored = must(await db().getMessage(input.id));

      (input.metadata as { nested: { value: number } }).nested.value = 99;
      const returned = must(result).message;
      returned.content = 'mutated';
      (returned.metadata as { nested: { value: number } }).nested.value = 2;
      must(returned.attachments[0]).fileName = 'mutated';

      const got = must(await db().getMessage(input.id));
      got.content = 'mutated';
      (got.metadata as { nested: { value: number } }).nested.value = 3;
      must(got.attachments[0]).fileName = 'mutated';
      (must(got.attachments[0]).metadata as { k: string }).k = 'mutated';
      must(got.reactions[0]).userIds.push('mallory');
      must(got.reactions[0]).count = 7;
      got.attachments.length = 0;
      got.reactions.length = 0;

      const page = await db().getHistory(session.id, { limit: 10, offset: 0, parentMessageId: null });
      must(page.messages[0]).content = 'mutated';
      const reactions = await db().getReactions(input.id);
      must(reactions[0]).userIds.length = 0;

      expect(await db().getMessage(input.id)).toEqual(stored);
      expect(stored.metadata).toEqual({ nested: { value: 1 } });
      expect(stored.content).toBe('hello');
    });
  });
}
