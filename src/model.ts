/**
 * The data model every part of Parley speaks. Everything here is plain JSON:
 * dates are ISO-8601 strings, so a value can go to a socket or an HTTP body unchanged.
 */

export type JsonObject = { [key: string]: unknown };

export type MessageRole = 'user' | 'assistant' | 'system';
export type MemberRole = 'owner' | 'member';

/** One emoji on one message, with everyone who reacted with it. */
export interface Reaction {
  emoji: string;
  count: number;
  /** In the order the reactions were made. */
  userIds: string[];
}

/** Metadata about a file stored elsewhere (Parley never stores the bytes). */
export interface Attachment {
  id: string;
  messageId: string;
  fileName: string;
  fileUrl: string;
  mimeType: string;
  fileSize: number;
  metadata: JsonObject | null;
  createdAt: string;
}

/** Text the agent wrote. */
export interface TextPart {
  type: 'text';
  text: string;
}

/** A tool the agent called, with the input it gave (JSON; the model's text when that was not JSON). */
export interface ToolCallPart {
  type: 'tool-call';
  toolCallId: string;
  toolName: string;
  input: unknown;
}

/**
 * A tool call's result. A failed call's `output` is `{ error }` with only the kind of failure
 * (`isError: true`), never what the tool threw.
 */
export interface ToolResultPart {
  type: 'tool-result';
  toolCallId: string;
  toolName: string;
  output: unknown;
  isError?: boolean;
}

/** One piece of an agent's answer, in the order it happened. */
export type MessagePart = TextPart | ToolCallPart | ToolResultPart;

export interface Message {
  id: string;
  sessionId: string;
  /** The sender; null for messages written by the server itself (an agent's answer, a system note). */
  userId: string | null;
  agentId: string | null;
  /** Plain text, never HTML. Empty for a deleted message. */
  content: string;
  role: MessageRole;
  metadata: JsonObject | null;
  tokens: number | null;
  parentMessageId: string | null;
  /** Number of direct replies (thread size); counts deleted replies too. */
  replyCount: number;
  /** Session sequence number at creation: ordering and replay cursor. */
  seq: number;
  /** Session sequence number of the latest change to this message (creation, edit, delete, reaction, attachment). */
  changeSeq: number;
  clientMessageId: string | null;
  isEdited: boolean;
  editedAt: string | null;
  isDeleted: boolean;
  deletedAt: string | null;
  createdAt: string;
  updatedAt: string;
  attachments: Attachment[];
  reactions: Reaction[];
  /**
   * An agent's answer as it happened: its text, tool calls and tool results in order (`content` is
   * the text parts joined). Absent on messages that have none: members' messages, system notes, an
   * answer before its first part, a deleted answer, and answers stored before parts were kept.
   */
  parts?: MessagePart[];
  /**
   * The author's display name as their profile has it now (null: none, or a server message). Set on
   * every message the engine returns or emits; storage adapters leave it out.
   */
  authorName?: string | null;
}

export interface Session {
  id: string;
  title: string | null;
  createdBy: string;
  metadata: JsonObject | null;
  /** The highest seq committed in this session (0 when nothing happened yet). */
  lastSeq: number;
  /** Number of top-level messages (deleted ones included): the `total` of a history page. */
  messageCount: number;
  createdAt: string;
}

export interface SessionMember {
  sessionId: string;
  userId: string;
  role: MemberRole;
  /** Highest seq the user has marked seen (`markSeen`). */
  lastReadSeq: number;
  /** Highest seq delivered to the user's sockets: the replay cursor when a client re-joins. */
  lastDeliveredSeq: number;
  lastSeenAt: string | null;
  joinedAt: string;
}

/** A member as the engine lists it: the membership with the user's profile (null fields when they have none). */
export interface NamedMember extends SessionMember {
  name: string | null;
  avatarUrl: string | null;
}

/** A session as listed for one user. */
export interface SessionSummary extends Session {
  role: MemberRole;
  lastReadSeq: number;
  /** Messages after `lastReadSeq` written by someone else and not deleted. */
  unreadCount: number;
}

/**
 * How a user is shown: the display name and avatar their `authenticate` result carried last. The
 * host owns its users; Parley keeps only this copy so no client has to show a bare id.
 */
export interface UserProfile {
  id: string;
  /** Null when the host never gave one (show the id, or your own fallback). */
  name: string | null;
  /** An absolute http(s) URL, or null. */
  avatarUrl: string | null;
}

export type PresenceStatus = 'online' | 'offline';

export interface PresenceEntry {
  userId: string;
  /** The user's display name (their `UserProfile`); null when they have none. */
  name: string | null;
  status: PresenceStatus;
  lastSeenAt: string | null;
}

export interface MessagePage {
  messages: Message[];
  total: number;
}

/** A page of search results, newest first. */
export interface SearchPage extends MessagePage {
  /**
   * False when the matches reached the engine's `limits.maxSearchCount`: there are at least `total`
   * (show "1,000+"). Pages past `total` can still be read.
   */
  totalExact: boolean;
}

export type StreamStatus = 'pending' | 'streaming' | 'completed' | 'stopped' | 'error';

/** One LLM stream (the `chat_streams` row): status and metrics answer from it on any node, after the end too. */
export interface StreamRecord {
  id: string;
  sessionId: string;
  /** The assistant message the answer is written into. */
  messageId: string;
  /** The user message holding the prompt. */
  promptMessageId: string;
  /** Who asked (may stop it, with the session's owners). */
  userId: string;
  agentId: string | null;
  model: string | null;
  status: StreamStatus;
  finishReason: string | null;
  maxTokens: number | null;
  tokensGenerated: number;
  promptTokens: number | null;
  /** Bytes of answer text emitted to clients, counted once (not per viewer). */
  bytesEmitted: number;
  /** Upstream failures seen (retried ones included). */
  errors: number;
  errorMessage: string | null;
  /** Which process runs it (for stops and crash recovery across nodes). */
  nodeId: string | null;
  startedAt: string;
  firstTokenAt: string | null;
  completedAt: string | null;
  updatedAt: string;
}
