import type { NewMessage } from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { clientKey, countPerSession, numberMessages, outsideParentBumps, planBatch, replyCounts, resultsOf } from '../../adapters/storage/kysely/batch-plan.js';
import { fitsOneStatement, planOneStatement } from '../../adapters/storage/postgres/one-statement-plan.js';

/**
 * The pure rules of a batch insert, shared by every SQL write path: duplicates, seqs, reply
 * counts, and which batches Postgres may store in one statement.
 */
let next = 0;
function item(overrides: Partial<NewMessage> = {}): NewMessage {
  next++;
  return {
    id: `m${next}`,
    sessionId: 's1',
    userId: 'alice',
    agentId: null,
    role: 'user',
    content: `message ${next}`,
    metadata: null,
    tokens: null,
    parentMessageId: null,
    clientMessageId: null,
    attachments: [],
    at: new Date('2026-01-02T03:04:05.000Z'),
    ...overrides,
  };
}

describe('planBatch', () => {
  it('creates new items, returns the stored message for a known client id, and the first item for a repeat in the batch', () => {
    const known = item({ clientMessageId: 'c-known' });
    const first = item({ clientMessageId: 'c-new' });
    const repeat = item({ clientMessageId: 'c-new' });
    const plain = item();
    const plan = planBatch([known, first, repeat, plain], new Map([[clientKey(known), 'stored']]));
    expect(plan.toCreate.map((m) => m.id)).toEqual([first.id, plain.id]);
    expect(plan.slots).toEqual([{ kind: 'existing', key: clientKey(known) }, { kind: 'create', index: 0 }, { kind: 'same-as', index: 0 }, { kind: 'create', index: 1 }]);
  });

  it('tells senders apart: the same client id from another user or session is a new message', () => {
    const batch = [item({ clientMessageId: 'c' }), item({ clientMessageId: 'c', userId: 'bob' }), item({ clientMessageId: 'c', sessionId: 's2' })];
    expect(planBatch(batch, new Map()).toCreate).toHaveLength(3);
  });
});

describe('seqs and reply counts', () => {
  it('numbers each session gaplessly in batch order, up to the last seq its bump returned', () => {
    const batch = [item(), item({ sessionId: 's2' }), item(), item({ parentMessageId: 'elsewhere' })];
    expect([...countPerSession(batch)]).toEqual([
      ['s1', { count: 3, topLevel: 2 }],
      ['s2', { count: 1, topLevel: 1 }],
    ]);
    const created = numberMessages(batch, new Map([['s1', 10], ['s2', 4]]));
    expect(created.map((m) => [m.sessionId, m.seq, m.changeSeq])).toEqual([
      ['s1', 8, 8],
      ['s2', 4, 4],
      ['s1', 9, 9],
      ['s1', 10, 10],
    ]);
  });

  it('a reply to a message of the same batch counts on the created parent; other parents are bumped afterwards', () => {
    const parent = item();
    const batch = [parent, item({ parentMessageId: parent.id }), item({ parentMessageId: parent.id }), item({ parentMessageId: 'older' })];
    expect(replyCounts(batch)).toEqual(new Map([[parent.id, 2], ['older', 1]]));
    const created = numberMessages(batch, new Map([['s1', 4]]));
    expect(created[0]!.replyCount).toBe(2);
    expect(outsideParentBumps(created, batch)).toEqual([['older', 1]]);
  });

  it('the stored message never shares objects with the caller, and a repeat is a copy of the first', () => {
    const metadata = { nested: { n: 1 } };
    const batch = [item({ clientMessageId: 'c', metadata }), item({ clientMessageId: 'c', metadata })];
    const plan = planBatch(batch, new Map());
    const created = numberMessages(plan.toCreate, new Map([['s1', 1]]));
    const [a, b] = resultsOf(plan.slots, created, new Map());
    expect(a!.created).toBe(true);
    expect(b).toEqual({ message: a!.message, created: false });
    expect(b!.message).not.toBe(a!.message);
    expect(a!.message.metadata).not.toBe(metadata);
  });
});

describe('Postgres one-statement insert', () => {
  it('takes top-level batches with distinct client ids from known users, and nothing else', () => {
    expect(fitsOneStatement([item(), item({ clientMessageId: 'a' }), item({ clientMessageId: 'b' })])).toBe(true);
    expect(fitsOneStatement([item({ parentMessageId: 'p' })])).toBe(false);
    expect(fitsOneStatement([item({ clientMessageId: 'a' }), item({ clientMessageId: 'a' })])).toBe(false);
    expect(fitsOneStatement([item({ clientMessageId: 'a', userId: null })])).toBe(false);
    expect(fitsOneStatement([item({ userId: null })])).toBe(true);
  });

  it('picks the statement by shape and binds the membership each sender needs', () => {
    const alone = planOneStatement([item({ requireMembership: true })]);
    expect(alone.shape).toBe('one');
    expect(alone.values['mustBeMember']).toBe(true);
    const session = planOneStatement([item({ requireMembership: true }), item()]);
    expect(session.shape).toBe('session');
    expect(session.values['mustBeMembers']).toEqual([true, false]);
    const attachment = { id: 'a1', fileName: 'f', fileUrl: 'https://x/f', mimeType: 'text/plain', fileSize: 1, metadata: null };
    const mixed = planOneStatement([item(), item({ sessionId: 's2', attachments: [attachment] })]);
    expect(mixed.shape).toBe('batch');
    expect(mixed.values['sessions']).toEqual(['s1', 's2']);
    expect(mixed.values['attMessageIds']).toEqual([(mixed.values['ids'] as string[])[1]]);
  });
});
