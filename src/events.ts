import type { Attachment, Message, MessagePart, MemberRole, Reaction, Session } from './model.js';
import type { StreamChunk, StreamMetrics } from './streams/active-stream.js';

/**
 * Domain events: every state change the engine commits emits exactly one. A transport
 * (the Socket.io binding) subscribes and delivers them, so a write through REST or a server job
 * reaches websocket clients with no extra code. Session events carry the change's `seq`.
 */
export interface ChatEvents {
  'session.created': { session: Session };
  /** A user became a member of a session. */
  'member.joined': { sessionId: string; userId: string; role: MemberRole; byUserId: string | null };
  /** A user stopped being a member (removed, or left). */
  'member.left': { sessionId: string; userId: string; byUserId: string | null };
  'message.created': { sessionId: string; seq: number; message: Message };
  'message.edited': { sessionId: string; seq: number; message: Message };
  /** The deleted message (content '') travels too, for transports that keep state. */
  'message.deleted': { sessionId: string; seq: number; messageId: string; deletedAt: string; message: Message };
  'reaction.updated': {
    sessionId: string;
    seq: number;
    messageId: string;
    reactions: Reaction[];
    userId: string;
    emoji: string;
    added: boolean;
  };
  'attachment.added': { sessionId: string; seq: number; messageId: string; attachments: Attachment[] };
  'attachment.deleted': { sessionId: string; seq: number; messageId: string; attachmentId: string };
  /** A member's read cursor moved forward. */
  'receipt.seen': { sessionId: string; userId: string; messageId: string; seq: number };
  /** A member started or stopped typing (expiry is the transport's job). */
  'typing.updated': { sessionId: string; userId: string; name: string | null; typing: boolean };
  /** Coalesced tokens of an LLM answer (at most one per STREAM_DELAY ms). */
  'stream.chunk': StreamChunk;
  /** The answer finished; `answer` is the committed message (seq = its changeSeq). */
  'stream.completed': { streamId: string; sessionId: string; messageId: string; seq: number; content: string; parts: MessagePart[]; finishReason: string | null; metrics: StreamMetrics; answer: Message | null };
  /** Stopped by a user or by shutdown; the partial answer is kept. */
  'stream.stopped': { streamId: string; sessionId: string; messageId: string; seq: number; content: string; parts: MessagePart[]; answer: Message | null };
  /** The upstream failed; the partial answer is kept. `message` is the error's text. */
  'stream.error': { streamId: string; sessionId: string; messageId: string; seq: number; code: string; message: string; answer: Message | null };
  /** A listener threw; the write it followed is committed regardless. */
  error: { event: string; error: unknown };
}

export type ChatEventName = Exclude<keyof ChatEvents, 'error'>;

/** eventemitter3's typed map: one payload argument per event. */
export type ChatEventListeners = { [K in keyof ChatEvents]: (payload: ChatEvents[K]) => void };
