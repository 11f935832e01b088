import { describe, expect, it } from 'vitest';
import { contents, type ConformanceKit } from './kit.js';

/** The storage contract's rules for full-text search. */
export function defineSearchCases(kit: ConformanceKit): void {
  const { db, clock, uid, expectCode, newSession, draft, attachment, post, react, softDelete } = kit;

  // ---- search -----------------------------------------------------------------------------

  describe('search', () => {
    const search = (sessionId: string, terms: string[], limit = 50, offset = 0) => db().searchMessages(sessionId, terms, { limit, offset, maxCount: 1000 });

    it('matches whole words, case-insensitively (hello matches "Hello world", hell does not)', async () => {
      const session = await newSession();
      await post(session.id, { content: 'Hello world' });
      await post(session.id, { content: 'HELLO there' });
      await post(session.id, { content: 'say hello!' });
      await post(session.id, { content: 'hellothere and shell' });
      await post(session.id, { content: 'nothing to see' });
      const hello = await search(session.id, ['hello']);
      expect(contents(hello)).toEqual(['say hello!', 'HELLO there', 'Hello world']);
      expect(hello.total).toBe(3);
      expect(await search(session.id, ['hell'])).toEqual({ messages: [], total: 0, totalExact: true });
      expect(contents(await search(session.id, ['world']))).toEqual(['Hello world']);
    });

    it('a message matches only when it contains every term, in any order', async () => {
      const session = await newSession();
      await post(session.id, { content: 'the quick brown fox' });
      await post(session.id, { content: 'a brown dog' });
      await post(session.id, { content: 'fox, quick!' });
      expect(contents(await search(session.id, ['quick', 'fox']))).toEqual(['fox, quick!', 'the quick brown fox']);
      expect(contents(await search(session.id, ['fox', 'brown']))).toEqual(['the quick brown fox']);
      expect(await search(session.id, ['fox', 'cat'])).toEqual({ messages: [], total: 0, totalExact: true });
    });

    it('words are runs of letters and digits: punctuation, hyphens, apostrophes and underscores separate words', async () => {
      const session = await newSession();
      await post(session.id, { content: 'a well-known fact' });
      await post(session.id, { content: "it's room 101 (east wing)" });
      await post(session.id, { content: 'snake_case,comma;semicolon' });
      await post(session.id, { content: 'abc123 is one word' });
      expect(contents(await search(session.id, ['known']))).toEqual(['a well-known fact']);
      expect(contents(await search(session.id, ['101', 'east']))).toEqual(["it's room 101 (east wing)"]);
      expect(contents(await search(session.id, ['wing']))).toEqual(["it's room 101 (east wing)"]);
      expect(contents(await search(session.id, ['case', 'semicolon']))).toEqual(['snake_case,comma;semicolon']);
      expect(contents(await search(session.id, ['abc123']))).toEqual(['abc123 is one word']);
      expect(await search(session.id, ['123'])).toEqual({ messages: [], total: 0, totalExact: true });
    });

    it('non-ASCII words match case-insensitively; accents are significant (no stemming, no folding)', async () => {
      const session = await newSession();
      await post(session.id, { content: 'Über den Wolken' });
      await post(session.id, { content: 'un café noir' });
      expect(contents(await search(session.id, ['über']))).toEqual(['Über den Wolken']);
      expect(contents(await search(session.id, ['café']))).toEqual(['un café noir']);
      expect(await search(session.id, ['cafe'])).toEqual({ messages: [], total: 0, totalExact: true });
      expect(await search(session.id, ['uber'])).toEqual({ messages: [], total: 0, totalExact: true });
    });

    it('returns newest first with total counting every match; offset and limit page through them', async () => {
      const session = await newSession();
      for (let i = 1; i <= 5; i++) {
        await post(session.id, { content: `match number ${i}` });
        await post(session.id, { content: `filler ${i}` });
      }
      const page = (limit: number, offset: number) => search(session.id, ['match'], limit, offset);
      const first = await page(2, 0);
      expect(contents(first)).toEqual(['match number 5', 'match number 4']);
      expect(first.total).toBe(5);
      expect(contents(await page(2, 2))).toEqual(['match number 3', 'match number 2']);
      expect(contents(await page(2, 4))).toEqual(['match number 1']);
      expect(await page(2, 10)).toEqual({ messages: [], total: 5, totalExact: true });
    });

    it('authorize: a member searches; a non-member gets FORBIDDEN, an unknown session NOT_FOUND; memberId null checks existence only', async () => {
      const session = await newSession({ createdBy: 'owner-s', memberIds: ['reader-s'] });
      await post(session.id, { content: 'needle in a haystack' });
      const find = (memberId: string | null, sessionId = session.id) =>
        db().searchMessages(sessionId, ['needle'], { limit: 10, offset: 0, maxCount: 1000, authorize: { memberId } });
      expect(contents(await find('reader-s'))).toEqual(['needle in a haystack']);
      expect(await find(null)).toMatchObject({ total: 1, totalExact: true });
      await expectCode(find('outsider-s'), 'FORBIDDEN');
      await expectCode(find('reader-s', uid('missing')), 'NOT_FOUND');
      await expectCode(find(null, uid('missing')), 'NOT_FOUND');
      // Also when there is nothing to search for.
      const none = (memberId: string | null, sessionId = session.id) =>
        db().searchMessages(sessionId, [], { limit: 10, offset: 0, maxCount: 1000, authorize: { memberId } });
      expect(await none('reader-s')).toEqual({ messages: [], total: 0, totalExact: true });
      await expectCode(none('outsider-s'), 'FORBIDDEN');
      await expectCode(none(null, uid('missing')), 'NOT_FOUND');
    });

    it('counts at most maxCount matches (totalExact: false past it); pages beyond the count are still served', async () => {
      const session = await newSession();
      const messages = await db().insertMessages(Array.from({ length: 7 }, (_, i) => draft(session.id, { content: `common word ${i + 1}` })));
      expect(messages.every((m) => m.created)).toBe(true);
      const capped = (limit: number, offset: number, maxCount: number) => db().searchMessages(session.id, ['common'], { limit, offset, maxCount });
      expect(await capped(2, 0, 3)).toMatchObject({ total: 3, totalExact: false });
      expect(contents(await capped(2, 0, 3))).toEqual(['common word 7', 'common word 6']);
      expect(contents(await capped(2, 4, 3))).toEqual(['common word 3', 'common word 2']); // past the counted 3
      expect(await capped(2, 8, 3)).toMatchObject({ messages: [], totalExact: false });
      expect(await capped(2, 0, 7)).toMatchObject({ total: 7, totalExact: true }); // exactly maxCount: exact
      expect(await capped(2, 0, 100)).toMatchObject({ total: 7, totalExact: true });
      expect(await capped(2, 0, 0)).toMatchObject({ total: 0, totalExact: false });
    });

    it('replies are searched too, and results carry reactions and attachments', async () => {
      const session = await newSession();
      const root = await post(session.id, { content: 'parent topic', attachments: [attachment()] });
      await post(session.id, { content: 'a reply about the topic', parentMessageId: root.id });
      await react(root.id, 'bob', '🎉', 'add');
      const found = await search(session.id, ['topic']);
      expect(contents(found)).toEqual(['a reply about the topic', 'parent topic']);
      expect(found.messages[1]).toEqual(await db().getMessage(root.id));
    });

    it('deleted messages never match', async () => {
      const session = await newSession();
      const doomed = await post(session.id, { content: 'secret plan' });
      await post(session.id, { content: 'public plan' });
      await softDelete(doomed.id);
      expect(contents(await search(session.id, ['plan']))).toEqual(['public plan']);
      expect(await search(session.id, ['secret'])).toEqual({ messages: [], total: 0, totalExact: true });
    });

    it('messages of other sessions never match', async () => {
      const mine = await newSession();
      const other = await newSession();
      await post(other.id, { content: 'pineapple' });
      expect(await search(mine.id, ['pineapple'])).toEqual({ messages: [], total: 0, totalExact: true });
      expect(await search(uid('missing'), ['pineapple'])).toEqual({ messages: [], total: 0, totalExact: true });
      expect((await search(other.id, ['pineapple'])).total).toBe(1);
    });

    it('an edited message matches its new text and no longer its old text (also after a bumpSeq: false flush)', async () => {
      const session = await newSession();
      const message = await post(session.id, { content: 'original wording' });
      const at = clock();
      await db().updateMessage(message.id, { content: 'revised wording', isEdited: true, editedAt: at, at }, { bumpSeq: true });
      expect(await search(session.id, ['original'])).toEqual({ messages: [], total: 0, totalExact: true });
      expect(contents(await search(session.id, ['revised']))).toEqual(['revised wording']);
      await db().updateMessage(message.id, { content: 'streamed wording', at: clock() }, { bumpSeq: false });
      expect(await search(session.id, ['revised'])).toEqual({ messages: [], total: 0, totalExact: true });
      expect(contents(await search(session.id, ['streamed', 'wording']))).toEqual(['streamed wording']);
    });
  });
}
