/**
 * The pure part of `insertMessages`, shared by every write path: which items of a batch are
 * created and which return a stored (or earlier) message, the seqs each session hands out, the
 * reply counts, and the messages as stored. No database here: each function is a rule of the
 * storage contract (`src/ports/storage.ts`) on plain values.
 */
import type { Attachment, Message } from '../../../src/model.js';
import type { InsertedMessage, NewAttachment, NewMessage } from '../../../src/ports/storage.js';

/** The identity of a send for duplicate detection: session + sender + client id. */
export function clientKey(m: { sessionId: string; userId: string | null; clientMessageId: string | null }): string {
  return JSON.stringify([m.sessionId, m.userId, m.clientMessageId]);
}

/** A send the engine left to storage to authorize (`requireMembership`). */
export function needsMembership(m: NewMessage): m is NewMessage & { userId: string } {
  return m.requireMembership === true && m.userId !== null;
}

export function memberKey(m: { sessionId: string; userId: string }): string {
  return `${m.sessionId}\u0000${m.userId}`;
}

/** Where an item's result comes from: a message created by this batch, a stored one, or an earlier item. */
export type Slot = { kind: 'create'; index: number } | { kind: 'existing'; key: string } | { kind: 'same-as'; index: number };

/**
 * Which items are created, which return a stored message (`existing`, by {@link clientKey}) or an
 * earlier item of this batch with the same client key.
 */
export function planBatch(batch: readonly NewMessage[], existing: ReadonlyMap<string, unknown>): { slots: Slot[]; toCreate: NewMessage[] } {
  const slots: Slot[] = [];
  const toCreate: NewMessage[] = [];
  const firstInBatch = new Map<string, number>();
  for (const item of batch) {
    const key = item.clientMessageId === null ? null : clientKey(item);
    if (key !== null && existing.has(key)) slots.push({ kind: 'existing', key });
    else if (key !== null && firstInBatch.has(key)) slots.push({ kind: 'same-as', index: firstInBatch.get(key)! });
    else {
      if (key !== null) firstInBatch.set(key, toCreate.length);
      slots.push({ kind: 'create', index: toCreate.length });
      toCreate.push(item);
    }
  }
  return { slots, toCreate };
}

/** Per session: messages created (seqs taken) and how many of them are top-level (messageCount). */
export function countPerSession(toCreate: readonly NewMessage[]): Map<string, { count: number; topLevel: number }> {
  const perSession = new Map<string, { count: number; topLevel: number }>();
  for (const m of toCreate) {
    const c = perSession.get(m.sessionId) ?? { count: 0, topLevel: 0 };
    c.count++;
    if (m.parentMessageId === null) c.topLevel++;
    perSession.set(m.sessionId, c);
  }
  return perSession;
}

/** New replies per parent id. */
export function replyCounts(toCreate: readonly NewMessage[]): Map<string, number> {
  const replies = new Map<string, number>();
  for (const m of toCreate) if (m.parentMessageId !== null) replies.set(m.parentMessageId, (replies.get(m.parentMessageId) ?? 0) + 1);
  return replies;
}

/**
 * The messages `toCreate` becomes once each session's `last_seq` was raised by its count: gapless
 * seqs in batch order, and reply counts that include replies to a message of the same batch.
 */
export function numberMessages(toCreate: readonly NewMessage[], lastSeqAfter: ReadonlyMap<string, number>): Message[] {
  const nextSeq = new Map<string, number>();
  for (const [id, c] of countPerSession(toCreate)) nextSeq.set(id, lastSeqAfter.get(id)! - c.count + 1);
  const replies = replyCounts(toCreate);
  return toCreate.map((m) => {
    const seq = nextSeq.get(m.sessionId)!;
    nextSeq.set(m.sessionId, seq + 1);
    return createdMessage(m, seq, replies.get(m.id) ?? 0);
  });
}

/** Parents outside the created messages whose reply count goes up (a parent inside was created with its count). */
export function outsideParentBumps(created: readonly Message[], toCreate: readonly NewMessage[]): [string, number][] {
  const createdIds = new Set(created.map((m) => m.id));
  return [...replyCounts(toCreate)].filter(([id]) => !createdIds.has(id));
}

/** The message as stored for a new item with its seq. */
export function createdMessage(m: NewMessage, seq: number, replyCount: number): Message {
  const at = m.at.toISOString();
  return {
    id: m.id,
    sessionId: m.sessionId,
    userId: m.userId,
    agentId: m.agentId,
    content: m.content,
    role: m.role,
    metadata: structuredClone(m.metadata), // the caller's objects stay the caller's
    tokens: m.tokens,
    parentMessageId: m.parentMessageId,
    replyCount,
    seq,
    changeSeq: seq,
    clientMessageId: m.clientMessageId,
    isEdited: false,
    editedAt: null,
    isDeleted: false,
    deletedAt: null,
    createdAt: at,
    updatedAt: at,
    attachments: m.attachments.map((a) => ({ ...attachmentOf(a, m.id), createdAt: at })),
    reactions: [],
  };
}

/** The batch's results in input order, from its plan, the created messages and the stored ones by client key. */
export function resultsOf(slots: readonly Slot[], created: readonly Message[], stored: ReadonlyMap<string, Message>): InsertedMessage[] {
  return slots.map((slot) => {
    if (slot.kind === 'create') return { message: created[slot.index]!, created: true };
    if (slot.kind === 'same-as') return { message: structuredClone(created[slot.index]!), created: false };
    return { message: stored.get(slot.key)!, created: false };
  });
}

export function attachmentOf(a: NewAttachment, messageId: string): Omit<Attachment, 'createdAt'> {
  return {
    id: a.id,
    messageId,
    fileName: a.fileName,
    fileUrl: a.fileUrl,
    mimeType: a.mimeType,
    fileSize: a.fileSize,
    metadata: structuredClone(a.metadata),
  };
}

export function uniqueBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) {
    const k = key(item);
    if (!seen.has(k)) seen.set(k, item);
  }
  return [...seen.values()];
}

export function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
