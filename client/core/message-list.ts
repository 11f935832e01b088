import type { Message } from '../../src/model.js';
import type { ChatMessage, MessageStatus } from './types.js';

const ANSWER_STATUSES = new Set<MessageStatus>(['streaming', 'completed', 'stopped', 'error']);

/** The status a stored message shows: an answer's own status, otherwise `sent`. */
export function statusOf(message: Pick<Message, 'role' | 'metadata'>): MessageStatus {
  const status = message.role === 'assistant' ? message.metadata?.status : undefined;
  return typeof status === 'string' && ANSWER_STATUSES.has(status as MessageStatus) ? (status as MessageStatus) : 'sent';
}

/**
 * A server message as the client keeps it. The object came off the wire and is owned by the store,
 * so it gets its `status` in place rather than through a copy: with thousands of messages loaded, a
 * second object per message would double the store's memory.
 */
export function adopt(message: Message): ChatMessage {
  const adopted = message as unknown as ChatMessage;
  adopted.status = statusOf(message);
  return adopted;
}

/**
 * The session's stored messages, ordered by seq, each applied once: a message whose `changeSeq`
 * is not above the one held is a duplicate (a replay overlapping live events) and is dropped.
 * Messages are never mutated once held: a change replaces the object, so snapshots stay immutable.
 */
export class MessageList {
  private readonly byId = new Map<string, ChatMessage>();
  /** Sorted by seq. Messages mostly arrive in seq order, so inserting is usually a push. */
  private readonly ordered: ChatMessage[] = [];

  get size(): number {
    return this.ordered.length;
  }

  get(id: string): ChatMessage | undefined {
    return this.byId.get(id);
  }

  /** The lowest and highest seq held (null when empty). */
  get oldestSeq(): number | null {
    return this.ordered[0]?.seq ?? null;
  }

  /** Applies a stored message; false when it is not newer than the one held. */
  apply(message: ChatMessage): boolean {
    const held = this.byId.get(message.id);
    if (held) {
      if ((message.changeSeq ?? 0) <= (held.changeSeq ?? 0)) return false;
      this.replace(held, message);
      return true;
    }
    this.byId.set(message.id, message);
    const last = this.ordered[this.ordered.length - 1];
    if (!last || (last.seq ?? 0) < (message.seq ?? 0)) this.ordered.push(message);
    else this.ordered.splice(this.indexAfter(message.seq ?? 0), 0, message);
    return true;
  }

  /** Replaces a held message with a changed copy (same id, same seq). */
  replace(held: ChatMessage, next: ChatMessage): void {
    this.byId.set(next.id, next);
    const i = this.indexOf(held);
    if (i >= 0) this.ordered[i] = next;
  }

  /** Drops every message with a seq below `seq` (they are no longer contiguous with what follows). */
  dropBefore(seq: number): void {
    const end = this.indexAfter(seq - 1);
    for (const message of this.ordered.splice(0, end)) this.byId.delete(message.id);
  }

  /** A copy in seq order, for a snapshot. */
  toArray(): ChatMessage[] {
    return this.ordered.slice();
  }

  /** The first index whose seq is above `seq`. */
  private indexAfter(seq: number): number {
    let lo = 0;
    let hi = this.ordered.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ordered[mid]!.seq ?? 0) <= seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private indexOf(message: ChatMessage): number {
    const i = this.indexAfter((message.seq ?? 0) - 1);
    return this.ordered[i]?.id === message.id ? i : this.ordered.findIndex((m) => m.id === message.id);
  }
}
