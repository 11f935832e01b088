import type { OutboxEntry } from './outbox.js';
import type { ChatMessage } from './types.js';

/**
 * An unsent (or refused) outbox entry shown as a message: `pending` or `failed`, no seq yet, its
 * `clientMessageId` standing in for the id the server has not given it.
 */
export function pendingMessage(entry: OutboxEntry, userId: string | null): ChatMessage {
  return {
    id: entry.clientMessageId,
    sessionId: entry.sessionId,
    userId: entry.userId ?? userId,
    agentId: null,
    content: entry.content,
    role: 'user',
    metadata: null,
    tokens: null,
    parentMessageId: entry.parentMessageId ?? null,
    replyCount: 0,
    seq: null,
    changeSeq: null,
    clientMessageId: entry.clientMessageId,
    isEdited: false,
    editedAt: null,
    isDeleted: false,
    deletedAt: null,
    createdAt: entry.createdAt,
    updatedAt: entry.createdAt,
    attachments: (entry.attachments ?? []).map((a, i) => ({ id: `${entry.clientMessageId}:${i}`, messageId: entry.clientMessageId, createdAt: entry.createdAt, ...a, metadata: a.metadata ?? null })),
    reactions: [],
    status: entry.failed ? 'failed' : 'pending',
    ...(entry.failed && { error: entry.failed }),
  };
}
