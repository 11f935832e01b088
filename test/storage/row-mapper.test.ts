import { describe, expect, it } from 'vitest';
import { RowMapper } from '../../adapters/storage/kysely/rows.js';
import type { MessageRow } from '../../adapters/storage/kysely/schema.js';
import { postgresDialect } from '../../adapters/storage/postgres/dialect.js';
import { sqliteDialect } from '../../adapters/storage/sqlite/dialect.js';

/** Rows as each driver returns them become the same model objects. */
const at = '2026-01-02T03:04:05.000Z';
const DRIVERS = [
  { name: 'postgres', dialect: postgresDialect, date: new Date(at), yes: true, no: false, big: '7', json: (v: unknown) => v },
  { name: 'sqlite', dialect: sqliteDialect, date: at, yes: 1, no: 0, big: 7, json: (v: unknown) => JSON.stringify(v) },
] as const;

for (const driver of DRIVERS) {
  describe(`RowMapper: ${driver.name}`, () => {
    const rows = new RowMapper(driver.dialect);
    const row: MessageRow = {
      id: 'm1',
      session_id: 's1',
      user_id: 'alice',
      agent_id: null,
      role: 'user',
      content: 'hello',
      metadata: driver.json({ k: 1 }),
      parts: null,
      tokens: null,
      parent_message_id: null,
      reply_count: driver.big,
      seq: driver.big,
      change_seq: driver.big,
      client_message_id: 'c1',
      is_edited: driver.yes,
      edited_at: driver.date,
      is_deleted: driver.no,
      deleted_at: null,
      created_at: driver.date,
      updated_at: driver.date,
    };

    it('a message with its aggregated reactions (grouped by emoji, in reaction order) and attachments (in insertion order)', () => {
      const message = rows.messageWith({
        ...row,
        reactions: driver.json([
          [3, '🎉', 'carol'],
          [1, '👍', 'bob'],
          [2, '🎉', 'alice'],
        ]),
        attachments: driver.json([
          [9, 'a2', 'b.txt', 'https://x/b', 'text/plain', '2', null, at],
          [4, 'a1', 'a.txt', 'https://x/a', 'text/plain', 1, driver.json({ w: 1 }), at],
        ]),
      });
      expect(message).toMatchObject({ seq: 7, replyCount: 7, isEdited: true, editedAt: at, isDeleted: false, metadata: { k: 1 }, createdAt: at });
      expect(message.reactions).toEqual([
        { emoji: '👍', count: 1, userIds: ['bob'] },
        { emoji: '🎉', count: 2, userIds: ['alice', 'carol'] },
      ]);
      expect(message.attachments.map((a) => [a.id, a.fileSize, a.messageId])).toEqual([
        ['a1', 1, 'm1'],
        ['a2', 2, 'm1'],
      ]);
    });

    it('a deleted message never shows its stored text', () => {
      expect(rows.message({ ...row, is_deleted: driver.yes }, [], []).content).toBe('');
    });

    it('writes what it reads: a created message round-trips through its insert values', () => {
      const message = rows.message(row, [], []);
      const values = rows.messageValues({ ...message, isEdited: false, editedAt: null });
      expect(values).toMatchObject({ id: 'm1', seq: 7, metadata: '{"k":1}', is_deleted: driver.no, created_at: driver.date });
    });
  });
}
