/**
 * The wire protocol of the `/chat` namespace (docs/protocol.md) as typed Socket.io event maps, so both the
 * host's server and its `socket.io-client` are fully typed.
 *
 * ```ts
 * import { io, type Socket } from 'socket.io-client';
 * import type { Session } from 'parley-chat';
 * import type { ClientToServerEvents, ServerToClientEvents } from 'parley-chat/socket.io';
 *
 * const token = await getJwt();
 * // A session to join: made over REST (the caller becomes its owner), or by your server.
 * const created = await fetch('https://chat.example.com/api/chat/sessions', {
 *   method: 'POST',
 *   headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
 *   body: JSON.stringify({ title: 'Support' }),
 * });
 * const { id: sessionId } = (await created.json()) as Session;
 *
 * const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io('https://chat.example.com/chat', { auth: { token } });
 * const lastSeq = new Map<string, number>(); // highest seq seen per session: send it back on re-join
 * socket.on('connect', () => {
 *   socket.emit('session:join', { sessionId, lastSeq: lastSeq.get(sessionId) }, (res) => {
 *     if (!res.ok) return console.error(res.error.code, res.error.message);
 *     console.log(res.data.members.length, 'members');
 *   });
 * });
 * socket.on('message:new', (m) => lastSeq.set(m.sessionId, Math.max(lastSeq.get(m.sessionId) ?? 0, m.changeSeq)));
 * socket.on('session:synced', ({ sessionId, seq, gap }) => { lastSeq.set(sessionId, seq); if (gap) loadHistory(sessionId); });
 * const res = await socket.emitWithAck('message:send', { sessionId, content: 'Hello!', clientMessageId: crypto.randomUUID() });
 * ```
 *
 * Adding an event is three edits: its payload schema in `payloads.ts`, a
 * line in these maps, and its handler in `handlers.ts`.
 */
import type { ChatErrorBody } from '../../src/errors.js';
import type { Attachment, MemberRole, Message, MessagePart, NamedMember, PresenceEntry, PresenceStatus, Reaction, Session, SessionMember, UserProfile } from '../../src/model.js';
import type {
  AuthRefreshPayload,
  MessageDeletePayload,
  MessageEditPayload,
  MessageReactionPayload,
  MessageSeenPayload,
  MessageSendPayload,
  SessionJoinPayload,
  SessionLeavePayload,
  StreamRequestPayload,
  StreamStopPayload,
  TypingStartPayload,
  TypingStopPayload,
  UsersGetPayload,
} from './payloads.js';
import type { StreamSnapshot, StreamStart } from '../../src/engine.js';
import type { StreamChunk, StreamMetrics, StreamPart, StreamStatusView, ToolCallMetric } from '../../src/streams/active-stream.js';

export type { StreamChunk, StreamMetrics, StreamPart, StreamStart, StreamStatusView, ToolCallMetric };
export type {
  AuthRefreshPayload,
  MessageDeletePayload,
  MessageEditPayload,
  MessageReactionPayload,
  MessageSeenPayload,
  MessageSendPayload,
  SessionJoinPayload,
  SessionLeavePayload,
  StreamRequestPayload,
  StreamStopPayload,
  TypingStartPayload,
  TypingStopPayload,
  UsersGetPayload,
};

/** Every ack: `{ ok: true, data }` or `{ ok: false, error: { code, message, details?, retryAfterMs? } }`. */
export type AckResponse<T> = { ok: true; data: T } | { ok: false; error: ChatErrorBody };
export type AckCallback<T> = (response: AckResponse<T>) => void;

// ---- server → client payloads ----------------------------------------------------------------

export interface ConnectionSuccessEvent {
  userId: string;
  socketId: string;
  /** ISO date: lets a client estimate its clock skew. */
  serverTime: string;
}

export interface UserJoinedEvent {
  sessionId: string;
  userId: string;
  name?: string;
}

export interface UserLeftEvent {
  sessionId: string;
  userId: string;
}

/**
 * Membership changed: sent to the session's joined
 * sockets and to every socket of the user concerned, joined or not — an added user learns of the
 * session at once (and can `session:join` it), a removed one can drop it from the list.
 */
export interface MemberAddedEvent {
  sessionId: string;
  userId: string;
  role: MemberRole;
  /** Who added them (null: the session's creator, or a server call without one). */
  byUserId: string | null;
}

export interface MemberRemovedEvent {
  sessionId: string;
  userId: string;
  byUserId: string | null;
}

export interface MessageDeliveredEvent {
  sessionId: string;
  clientMessageId: string | null;
  messageId: string;
  seq: number;
}

/** A deletion carries no content. */
export interface MessageDeletedEvent {
  sessionId: string;
  messageId: string;
  seq: number;
  deletedAt: string;
}

export interface MessageSeenUpdateEvent {
  sessionId: string;
  userId: string;
  messageId: string;
  /** The reader's new read cursor (not a change seq). */
  seq: number;
}

export interface MessageReactionUpdateEvent {
  sessionId: string;
  messageId: string;
  seq: number;
  reactions: Reaction[];
}

/** Attachment changes; they take a seq like any change. */
export interface AttachmentAddedEvent {
  sessionId: string;
  messageId: string;
  seq: number;
  /** The attachments added by this change. */
  attachments: Attachment[];
}

export interface AttachmentDeletedEvent {
  sessionId: string;
  messageId: string;
  seq: number;
  attachmentId: string;
}

export interface TypingEvent {
  sessionId: string;
  userId: string;
  name?: string;
}

export interface PresenceUpdateEvent {
  userId: string;
  /** The user's display name, when they have one. */
  name?: string;
  status: PresenceStatus;
  lastSeenAt: string | null;
}

/** Ends the replay of a `session:join`: the client is caught up to `seq`; `gap` means page history. */
export interface SessionSyncedEvent {
  sessionId: string;
  seq: number;
  gap: boolean;
}

/** An answer finished; its message is committed with `seq`. `content` is the whole answer. */
export interface StreamCompleteEvent {
  streamId: string;
  sessionId: string;
  messageId: string;
  seq: number;
  content: string;
  /** The whole answer's parts: text, tool calls and tool results in order (as `Message.parts`). */
  parts: MessagePart[];
  /**
   * The answer's final token count, as stored on its message (`Message.tokens`) and in
   * `metrics.totalTokens`. Show this once the stream ends: a chunk's `tokens` counts what had arrived
   * then, and the upstream's own count, when it reports one, replaces it only at the end.
   */
  tokens: number;
  /** Why the upstream stopped: usually `stop`; `length` when the answer hit a token or character cap. */
  finishReason: string | null;
  metrics: StreamMetrics;
}

/** An answer was stopped (by a user or a shutdown); the partial text is kept. */
export interface StreamStoppedEvent {
  streamId: string;
  sessionId: string;
  messageId: string;
  seq: number;
  content: string;
  /** The partial answer's parts: what was streamed, finished tool calls and results included. */
  parts: MessagePart[];
  /** The partial answer's token count as stored on its message (`Message.tokens`); null if the final write failed. */
  tokens: number | null;
}

/** An answer failed; what was streamed is kept. */
export interface StreamErrorEvent {
  streamId: string;
  sessionId: string;
  messageId: string;
  seq: number;
  code: string;
  message: string;
  /** The kept partial answer's parts (empty if it could not be stored). */
  parts: MessagePart[];
  /** The kept partial answer's token count as stored on its message (`Message.tokens`); null if it could not be stored. */
  tokens: number | null;
}

/**
 * The socket's identity (its token) expired: every event but `auth:refresh` is now refused with
 * UNAUTHORIZED, and the socket is disconnected after the binding's grace (`authExpiryGraceMs`)
 * unless an `auth:refresh` with a new token succeeds first. Sent once per expiry.
 */
export interface AuthExpiredEvent {
  /** ISO date: when the identity stopped being valid. */
  expiredAt: string;
}

/**
 * Sent to a socket that joins while an answer streams, after the replay: the engine's snapshot
 * (`content` so far; chunks with a lower `index` are already in it; -1 for a stream on another node).
 */
export type StreamSnapshotEvent = StreamSnapshot;

// ---- ack data ---------------------------------------------------------------------------------

export interface UsersGetAck {
  users: UserProfile[];
}

export interface SessionJoinAck {
  session: Session;
  /** With their display names. */
  members: NamedMember[];
  presence: PresenceEntry[];
}

export interface MessageSeenAck {
  sessionId: string;
  userId: string;
  messageId: string;
  seq: number;
}

export interface MessageReactionAck {
  added: boolean;
  reactions: Reaction[];
}

export interface AuthRefreshAck {
  userId: string;
  /** ISO date: when the new identity expires on this socket (null: never). */
  expiresAt: string | null;
}

export interface TypingStartAck {
  /** Refresh before this many ms, or the indicator expires. */
  expiresInMs: number;
}

// ---- the maps ---------------------------------------------------------------------------------

/** What the server sends. Session events carry `sessionId` and the change's `seq` (`changeSeq` on a Message). */
export interface ServerToClientEvents {
  'connection:success': (event: ConnectionSuccessEvent) => void;
  'user:joined': (event: UserJoinedEvent) => void;
  'user:left': (event: UserLeftEvent) => void;
  'member:added': (event: MemberAddedEvent) => void;
  'member:removed': (event: MemberRemovedEvent) => void;
  'message:new': (message: Message) => void;
  'message:edited': (message: Message) => void;
  'message:deleted': (event: MessageDeletedEvent) => void;
  'message:delivered': (event: MessageDeliveredEvent) => void;
  'message:seen:update': (event: MessageSeenUpdateEvent) => void;
  'message:reaction:update': (event: MessageReactionUpdateEvent) => void;
  'attachment:added': (event: AttachmentAddedEvent) => void;
  'attachment:deleted': (event: AttachmentDeletedEvent) => void;
  'typing:start': (event: TypingEvent) => void;
  'typing:stop': (event: TypingEvent) => void;
  'presence:update': (event: PresenceUpdateEvent) => void;
  'session:synced': (event: SessionSyncedEvent) => void;
  /** Coalesced tokens (at most one per STREAM_DELAY ms); `content` only on the final chunk. */
  'stream:chunk': (chunk: StreamChunk) => void;
  'stream:complete': (event: StreamCompleteEvent) => void;
  'stream:stopped': (event: StreamStoppedEvent) => void;
  'stream:error': (event: StreamErrorEvent) => void;
  'stream:snapshot': (event: StreamSnapshotEvent) => void;
  'auth:expired': (event: AuthExpiredEvent) => void;
}

/**
 * What a client may send. Every event takes an ack; a client that omits it still gets the effect
 * (and no reply). Payloads are strict: unknown keys are a VALIDATION error.
 */
export interface ClientToServerEvents {
  'session:join': (payload: SessionJoinPayload, ack: AckCallback<SessionJoinAck>) => void;
  'session:leave': (payload: SessionLeavePayload, ack: AckCallback<null>) => void;
  'message:send': (payload: MessageSendPayload, ack: AckCallback<Message>) => void;
  'message:edit': (payload: MessageEditPayload, ack: AckCallback<Message>) => void;
  'message:delete': (payload: MessageDeletePayload, ack: AckCallback<MessageDeletedEvent>) => void;
  'message:seen': (payload: MessageSeenPayload, ack: AckCallback<MessageSeenAck>) => void;
  'message:reaction': (payload: MessageReactionPayload, ack: AckCallback<MessageReactionAck>) => void;
  'typing:start': (payload: TypingStartPayload, ack: AckCallback<TypingStartAck>) => void;
  'typing:stop': (payload: TypingStopPayload, ack: AckCallback<null>) => void;
  /** Ask an agent: the prompt is stored as your message; the answer streams to the whole session. */
  'stream:request': (payload: StreamRequestPayload, ack: AckCallback<StreamStart>) => void;
  /** Stop an answer (the requester or a session owner), on whichever node it runs. */
  'stream:stop': (payload: StreamStopPayload, ack: AckCallback<StreamStatusView>) => void;
  /**
   * A new token for this socket, before or after its identity expires: same user only. Also set
   * it as the client's `auth` so that a reconnect presents it.
   */
  'auth:refresh': (payload: AuthRefreshPayload, ack: AckCallback<AuthRefreshAck>) => void;
  /** Display names and avatars of up to 100 users, in the order asked; ids without a profile are left out. */
  'users:get': (payload: UsersGetPayload, ack: AckCallback<UsersGetAck>) => void;
}

export type ClientEventName = keyof ClientToServerEvents;
export type ServerEventName = keyof ServerToClientEvents;

/** The ack data of a client event. */
export type AckDataOf<E extends ClientEventName> = Parameters<ClientToServerEvents[E]>[1] extends AckCallback<infer T> ? T : never;

/** Between nodes (`serverSideEmit`, through the host's adapter). */
export interface InterServerEvents {
  /** A stop for a stream this node may run; the answer is true when it ran it (see `Transport.requestStop`). */
  'parley:stream-stop': (streamId: string, claimed: (claimed: boolean) => void) => void;
  /** A node's heartbeat: the users it holds sockets for and the sessions those joined (see NodeRoster). */
  'parley:roster': (nodeId: string, roster: [userId: string, sessionIds: string[]][]) => void;
}

/** `socket.data` of a chat socket. Plain JSON, because cluster adapters ship it to other nodes (`fetchSockets`). */
export interface ChatSocketData {
  userId: string;
  name?: string;
  /** ms since epoch: orders a user's sockets to pick "the first one in". */
  connectedAt: number;
  /**
   * Sessions this socket joined and when (ms since epoch), flat: `[sessionId, joinedAt, …]`. Orders
   * a user's sockets in a session ("the first one in").
   */
  joined: (string | number)[];
}
