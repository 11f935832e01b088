import type { ChatErrorBody, ChatErrorCode } from '../../src/errors.js';
import type { Socket } from 'socket.io-client';
import type { ClientToServerEvents, MessageSendPayload, ServerToClientEvents } from '../../adapters/socket.io/events.js';
import type { Message, MessagePart, PresenceEntry, SessionMember, SessionSummary } from '../../src/model.js';

export type { ChatErrorBody, ChatErrorCode };

/** The client's socket, typed from the same event maps as the server binding. */
export type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/**
 * Where a message stands for this client. Your own sends: `pending` (not acknowledged yet, maybe
 * waiting in the outbox), `sent`, or `failed` (see `error`). Answers: `streaming`, `completed`,
 * `stopped`, `error`. Everything else: `sent`.
 */
export type MessageStatus = 'pending' | 'sent' | 'failed' | 'streaming' | 'completed' | 'stopped' | 'error';

/**
 * A message as the client shows it: the server's `Message` plus its `status`. A pending or failed
 * send has no `seq` yet (null), and its `id` is its `clientMessageId` until the server stores it.
 */
export interface ChatMessage extends Omit<Message, 'seq' | 'changeSeq' | 'parts'> {
  seq: number | null;
  changeSeq: number | null;
  /**
   * An agent's answer as it happened (text, tool calls, tool results), kept up to date while it
   * streams; absent on messages without parts (see `Message.parts`).
   */
  parts?: readonly MessagePart[];
  status: MessageStatus;
  /** Why a send failed, or why an answer ended in `error`. */
  error?: ChatErrorBody;
}

/** A new attachment, as sent (the server adds ids and dates). */
export type AttachmentInput = NonNullable<MessageSendPayload['attachments']>[number];

/** An answer that is streaming now. Its text is also the `content` of the message `messageId`. */
export interface StreamView {
  streamId: string;
  messageId: string;
  content: string;
  /** Its parts so far (text, tool calls, tool results), also the `parts` of the message. */
  parts: readonly MessagePart[];
  tokens: number;
}

export interface TypingUser {
  userId: string;
  name?: string;
}

/** A member of the session, with the display name the server knows for them (else the id). */
export interface MemberView extends SessionMember {
  name: string;
  avatarUrl: string | null;
}

export interface SessionSnapshot {
  sessionId: string;
  /** `joining` until the first replay ends; `joined`; `left`; `error` (see `error`: e.g. FORBIDDEN). */
  state: 'joining' | 'joined' | 'left' | 'error';
  error: ChatErrorBody | null;
  /** By seq; your own pending and failed sends last, in the order typed. */
  messages: readonly ChatMessage[];
  typing: readonly TypingUser[];
  presence: readonly PresenceEntry[];
  members: readonly MemberView[];
  /** Answers streaming now, by stream id. */
  streams: Readonly<Record<string, StreamView>>;
  /** True while more was missed than the replay carried and the latest page is being fetched. */
  gap: boolean;
  /** Whether older messages exist than the oldest loaded (`loadOlder()`). */
  hasOlder: boolean;
  /** The highest seq applied: the cursor a re-join replays from. */
  cursor: number;
}

export type ConnectionStatus = 'connecting' | 'online' | 'offline' | 'unauthorized';

export interface ClientSnapshot {
  status: ConnectionStatus;
  /** The user the server knows this client as (null until the first connection). */
  userId: string | null;
  /** The user's sessions, with unread counts (from `GET /sessions`, kept up to date live). */
  sessions: readonly SessionSummary[];
}
