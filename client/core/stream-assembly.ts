import type { StreamChunk, StreamSnapshotEvent } from '../../adapters/socket.io/events.js';
import type { MessagePart } from '../../src/model.js';
import type { StreamView } from './types.js';

interface Assembling extends StreamView {
  /** The index of the next chunk to append; -1 appends whatever comes (a snapshot from another node). */
  next: number;
}

/**
 * Puts answers together from their chunks, by `index`: a chunk already in the text (a repeat, or
 * one a join snapshot covered) is dropped, so the text is each delta once, in order. The end event's
 * `content` is the final word on the text.
 */
export class StreamAssembly {
  private readonly byStream = new Map<string, Assembling>();
  private readonly byMessage = new Map<string, Assembling>();
  private cached: Record<string, StreamView> | null = null;

  /** A join mid-answer: the text so far; chunks below `index` are already in it. */
  snapshot(event: StreamSnapshotEvent): void {
    const held = this.byStream.get(event.streamId);
    if (held && held.next !== -1 && event.index !== -1 && held.next >= event.index) return; // already further along
    this.set({ streamId: event.streamId, messageId: event.messageId, content: event.content, parts: event.parts, tokens: event.tokens, next: event.index });
  }

  /** Appends a chunk; false when it was already applied. */
  chunk(chunk: StreamChunk): boolean {
    const held = this.byStream.get(chunk.id);
    if (held && held.next !== -1 && chunk.index < held.next) return false;
    const content = chunk.isComplete && chunk.content ? chunk.content : (held?.content ?? '') + chunk.delta;
    const parts = withChunk(held?.parts ?? [], chunk);
    this.set({ streamId: chunk.id, messageId: chunk.messageId, content, parts, tokens: chunk.tokens, next: held?.next === -1 ? -1 : chunk.index + 1 });
    return true;
  }

  end(streamId: string): void {
    const held = this.byStream.get(streamId);
    if (!held) return;
    this.byStream.delete(streamId);
    this.byMessage.delete(held.messageId);
    this.cached = null;
  }

  forMessage(messageId: string): StreamView | undefined {
    return this.byMessage.get(messageId);
  }

  /** Running answers by stream id (the same object until one changes). */
  views(): Record<string, StreamView> {
    if (!this.cached) {
      this.cached = {};
      for (const s of this.byStream.values()) this.cached[s.streamId] = Object.freeze({ streamId: s.streamId, messageId: s.messageId, content: s.content, parts: s.parts, tokens: s.tokens });
      Object.freeze(this.cached);
    }
    return this.cached;
  }

  private set(stream: Assembling): void {
    this.byStream.set(stream.streamId, stream);
    this.byMessage.set(stream.messageId, stream);
    this.cached = null;
  }
}

/** The parts after a chunk: its text continues the last text part, its tool part follows (a new list). */
function withChunk(parts: readonly MessagePart[], chunk: StreamChunk): readonly MessagePart[] {
  if (chunk.part) return [...parts, chunk.part];
  if (chunk.delta === '') return parts;
  const last = parts.at(-1);
  if (last?.type === 'text') return [...parts.slice(0, -1), { type: 'text', text: last.text + chunk.delta }];
  return [...parts, { type: 'text', text: chunk.delta }];
}
