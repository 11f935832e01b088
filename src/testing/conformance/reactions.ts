import { describe, expect, it } from 'vitest';
import { newId } from '../../ids.js';
import type { Reaction } from '../../model.js';
import { must, byEmoji, type ConformanceKit } from './kit.js';

/** The storage contract's rules for reactions and attachments. */
export function defineReactionsCases(kit: ConformanceKit): void {
  const { db, clock, newSession, attachment, post, lastSeq, react } = kit;

  // ---- reactions --------------------------------------------------------------------------

  describe('reactions', () => {
    it('add stores the reaction (added and changed true), takes the next seq, and returns the message with changeSeq = that seq', async () => {
      const session = await newSession();
      const message = await post(session.id);
      const result = await react(message.id, 'alice', '👍', 'add');
      expect(result?.added).toBe(true);
      expect(result?.changed).toBe(true);
      expect(result?.reactions).toEqual([{ emoji: '👍', count: 1, userIds: ['alice'] }]);
      // Whether a reaction touches updatedAt is the adapter's choice; everything else must be as before.
      expect(result?.message).toEqual({ ...message, changeSeq: 2, reactions: result?.reactions, updatedAt: expect.any(String) });
      expect(await lastSeq(session.id)).toBe(2);
      expect(await db().getReactions(message.id)).toEqual(result?.reactions);
      expect((await db().getMessage(message.id))?.reactions).toEqual(result?.reactions);
    });

    it('add of an existing reaction changes nothing (added true, changed false, no seq): unique per message + user + emoji', async () => {
      const session = await newSession();
      const message = await post(session.id);
      await react(message.id, 'alice', '👍', 'add');
      const again = await react(message.id, 'alice', '👍', 'add');
      expect(again).toMatchObject({ added: true, changed: false, reactions: [{ emoji: '👍', count: 1, userIds: ['alice'] }] });
      expect(again?.message.changeSeq).toBe(2);
      expect(await lastSeq(session.id)).toBe(2);
    });

    it('remove deletes an existing reaction (added false, changed true, next seq); removing a missing one changes nothing', async () => {
      const session = await newSession();
      const message = await post(session.id);
      await react(message.id, 'alice', '👍', 'add');
      const removed = await react(message.id, 'alice', '👍', 'remove');
      expect(removed).toMatchObject({ added: false, changed: true, reactions: [] });
      expect(removed?.message.changeSeq).toBe(3);
      expect(await lastSeq(session.id)).toBe(3);
      const missing = await react(message.id, 'alice', '👍', 'remove');
      expect(missing).toMatchObject({ added: false, changed: false, reactions: [] });
      expect(await lastSeq(session.id)).toBe(3);
      expect(await db().getReactions(message.id)).toEqual([]);
    });

    it('toggle adds when absent and removes when present, each a change with its own seq', async () => {
      const session = await newSession();
      const message = await post(session.id);
      const on = await react(message.id, 'alice', '🎉', 'toggle');
      expect(on).toMatchObject({ added: true, changed: true, reactions: [{ emoji: '🎉', count: 1, userIds: ['alice'] }] });
      expect(on?.message.changeSeq).toBe(2);
      const off = await react(message.id, 'alice', '🎉', 'toggle');
      expect(off).toMatchObject({ added: false, changed: true, reactions: [] });
      expect(off?.message.changeSeq).toBe(3);
      const onAgain = await react(message.id, 'alice', '🎉', 'toggle');
      expect(onAgain?.added).toBe(true);
      expect(await lastSeq(session.id)).toBe(4);
    });

    it('groups reactions by emoji with count and userIds in the order the reactions were made; an emoji nobody uses disappears', async () => {
      const session = await newSession();
      const message = await post(session.id);
      await react(message.id, 'alice', '👍', 'add');
      await react(message.id, 'bob', '❤️', 'add');
      await react(message.id, 'carol', '👍', 'add');
      await react(message.id, 'alice', '❤️', 'add');
      const last = await react(message.id, 'bob', '👍', 'add');
      const expected: Reaction[] = [
        { emoji: '👍', count: 3, userIds: ['alice', 'carol', 'bob'] },
        { emoji: '❤️', count: 2, userIds: ['bob', 'alice'] },
      ];
      expect(byEmoji(must(last).reactions)).toEqual(byEmoji(expected));
      expect(byEmoji(await db().getReactions(message.id))).toEqual(byEmoji(expected));
      expect(byEmoji(must(await db().getMessage(message.id)).reactions)).toEqual(byEmoji(expected));

      await react(message.id, 'bob', '❤️', 'remove');
      const final = await react(message.id, 'alice', '❤️', 'remove');
      expect(final?.reactions).toEqual([{ emoji: '👍', count: 3, userIds: ['alice', 'carol', 'bob'] }]);
      expect(await lastSeq(session.id)).toBe(1 + 5 + 2);
    });

    it('reactions of one message do not leak onto another', async () => {
      const session = await newSession();
      const one = await post(session.id);
      const two = await post(session.id);
      await react(one.id, 'alice', '👍', 'add');
      expect(await db().getReactions(two.id)).toEqual([]);
      expect((await db().getMessage(two.id))?.reactions).toEqual([]);
      const other = await react(two.id, 'alice', '👍', 'add');
      expect(other).toMatchObject({ added: true, changed: true });
      expect(await db().getReactions(one.id)).toEqual([{ emoji: '👍', count: 1, userIds: ['alice'] }]);
    });

    it('emoji strings round-trip exactly (variation selectors, ZWJ sequences, skin tones, :shortcodes:)', async () => {
      const session = await newSession();
      const message = await post(session.id);
      const emojis = ['❤️', '❤', '👨‍👩‍👧‍👦', '👍🏽', '🏳️‍🌈', ':tada:'];
      for (const emoji of emojis) await react(message.id, 'alice', emoji, 'add');
      const stored = await db().getReactions(message.id);
      expect(stored.map((r) => r.emoji).sort()).toEqual([...emojis].sort());
      expect(stored.every((r) => r.count === 1)).toBe(true);
    });

    it('setReaction returns null for an unknown message; getReactions returns []', async () => {
      expect(await react(newId(), 'alice', '👍', 'add')).toBeNull();
      expect(await react(newId(), 'alice', '👍', 'toggle')).toBeNull();
      expect(await db().getReactions(newId())).toEqual([]);
    });
  });

  // ---- attachments ------------------------------------------------------------------------

  describe('attachments', () => {
    it('addAttachments stores a batch on an existing message as one change (one seq) and returns them with the updated message', async () => {
      const session = await newSession();
      const existing = attachment({ fileName: 'first.png' });
      const message = await post(session.id, { attachments: [existing] });
      const at = clock();
      const files = [attachment({ fileName: 'second.txt', metadata: { pages: 2 } }), attachment({ fileName: 'third.csv' })];
      const result = must(await db().addAttachments(message.id, files, at));
      const added = files.map((f) => ({ ...f, messageId: message.id, createdAt: at.toISOString() }));
      expect(result.attachments).toEqual(added);
      expect(result.message.changeSeq).toBe(2);
      expect(result.message.seq).toBe(1);
      expect(result.message.attachments.map((a) => a.fileName)).toEqual(['first.png', 'second.txt', 'third.csv']);
      expect(await lastSeq(session.id)).toBe(2);
      expect(await db().getAttachments(message.id)).toEqual(result.message.attachments);
      expect((await db().getMessage(message.id))?.attachments).toEqual(result.message.attachments);
    });

    it('getAttachment and getAttachments read what was stored; null and [] for unknown ids', async () => {
      const session = await newSession();
      const file = attachment({ fileName: 'notes.md', mimeType: 'text/markdown', fileSize: 42, metadata: { source: 'upload' } });
      const message = await post(session.id, { attachments: [file] });
      expect(await db().getAttachment(file.id)).toEqual({ ...file, messageId: message.id, createdAt: message.createdAt });
      expect(await db().getAttachments(message.id)).toHaveLength(1);
      expect(await db().getAttachment(newId())).toBeNull();
      expect(await db().getAttachments(newId())).toEqual([]);
    });

    it('deleteAttachment removes one attachment as a change to its message (one seq); deleting it again returns null', async () => {
      const session = await newSession();
      const keep = attachment({ fileName: 'keep.png' });
      const drop = attachment({ fileName: 'drop.png' });
      const message = await post(session.id, { attachments: [keep, drop] });
      const result = must(await db().deleteAttachment(drop.id, clock()));
      expect(result.attachment).toEqual({ ...drop, messageId: message.id, createdAt: message.createdAt });
      expect(result.message.attachments.map((a) => a.id)).toEqual([keep.id]);
      expect(result.message.changeSeq).toBe(2);
      expect(await lastSeq(session.id)).toBe(2);
      expect(await db().getAttachment(drop.id)).toBeNull();
      expect((await db().getAttachments(message.id)).map((a) => a.id)).toEqual([keep.id]);
      expect(await db().deleteAttachment(drop.id, clock())).toBeNull();
      expect(await lastSeq(session.id)).toBe(2);
    });

    it('addAttachments and deleteAttachment return null for unknown ids', async () => {
      expect(await db().addAttachments(newId(), [attachment()], clock())).toBeNull();
      expect(await db().deleteAttachment(newId(), clock())).toBeNull();
    });
  });
}
