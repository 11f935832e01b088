import { ChatError } from '../errors.js';
import type {
  Attachment,
  JsonObject,
  MemberRole,
  Message,
  MessagePage,
  MessagePart,
  SearchPage,
  MessageRole,
  Reaction,
  Session,
  SessionMember,
  SessionSummary,
  StreamRecord,
  StreamStatus,
  UserProfile,
} from '../model.js';

/**
 * Everything durable in Parley goes through this interface. The engine has already
 * validated, authorized and moderated every input; an adapter stores and reads, nothing more.
 *
 * The contract, for adapter authors (the conformance suite in `parley-chat/testing` checks it):
 * - Every id (session, user, message, reaction, attachment) is given by the caller; adapters never
 *   invent ids. Every `at` is the engine's clock.
 * - Every session has a counter `lastSeq`. Each committed change in the session — a message
 *   created, edited, deleted, streamed to completion; a reaction or attachment added or removed —
 *   takes the next number, atomically with the change itself, so the numbers of a session are gapless
 *   and unique even under concurrent writers (from one process or several). A created message gets
 *   `seq = changeSeq = n`; a change to an existing message sets its `changeSeq = n`.
 * - Methods return `null`/`false` for "not found"; they never throw for it.
 * - A failure of the database (connection lost, server gone) MUST leave nothing half-written and
 *   SHOULD be thrown as `ChatError('UNAVAILABLE')` with the driver error as `cause`.
 * - Returned messages carry their `reactions` and `attachments`, and an answer its `parts` as last
 *   written (`MessagePatch.parts`; none: no `parts` field). Reading a page costs a fixed number
 *   of queries (messages, then reactions and attachments for the whole page), never one per message.
 * - A deleted message is returned with `content: ''`, `isDeleted: true`, and never matches a search.
 */
export interface StorageAdapter {
  /** Short name for logs and the conformance suite, e.g. `'postgres'`. */
  readonly name: string;

  /** Creates or migrates the schema. Idempotent; safe to call from two processes at once. */
  init(): Promise<void>;
  /** Releases connections the adapter opened itself (never a pool or database the host passed in). */
  close(): Promise<void>;

  // ---- sessions and members ---------------------------------------------------------------

  /**
   * Creates the session with `createdBy` as owner and each of `memberIds` (minus duplicates and the
   * creator) as member, in one transaction. Throws `ChatError('CONFLICT')` when the id exists.
   */
  createSession(input: NewSession): Promise<Session>;
  getSession(sessionId: string): Promise<Session | null>;
  /** The session and the user's membership in one round trip (the engine's access check). Null when the session does not exist. */
  getSessionAccess(sessionId: string, userId: string): Promise<SessionAccess | null>;
  getMember(sessionId: string, userId: string): Promise<SessionMember | null>;
  /** Members in join order. */
  listMembers(sessionId: string): Promise<SessionMember[]>;
  /** Adds the user (idempotent: an existing member keeps their role and cursors; `added` is false). */
  addMember(sessionId: string, userId: string, role: MemberRole, at: Date): Promise<{ member: SessionMember; added: boolean }>;
  /** Removes the membership; false if the user was not a member. */
  removeMember(sessionId: string, userId: string): Promise<boolean>;
  /** The sessions the user is a member of, most recently active first (highest `lastSeq`, then newest). */
  listSessions(userId: string): Promise<SessionSummary[]>;
  /**
   * Moves the member's read cursor forward to `seq` and sets `lastSeenAt`; never moves it back.
   * Returns the member, or null if not a member.
   */
  setReadCursor(sessionId: string, userId: string, seq: number, at: Date): Promise<SessionMember | null>;
  /** Moves the member's delivery cursor forward to `seq`; never back. No-op for a non-member. */
  setDeliveredCursor(sessionId: string, userId: string, seq: number): Promise<void>;

  // ---- user profiles ----------------------------------------------------------------------

  /**
   * Stores the user's profile: inserts it, or replaces the stored name and avatar (null clears
   * them). The engine calls it only when a profile changed, not on every request.
   */
  saveUser(profile: UserProfile, at: Date): Promise<void>;
  /** The stored profiles of `ids` (at most a few hundred), in any order; unknown ids are left out. */
  getUsers(ids: readonly string[]): Promise<UserProfile[]>;

  // ---- messages ---------------------------------------------------------------------------

  /**
   * Stores a batch of messages (the engine groups concurrent sends). Results come back in input
   * order. For an item with a `clientMessageId` already stored for the same session and user, the
   * stored message is returned with `created: false` and nothing is written for it (also when the
   * duplicate is inside the same batch, or arrives concurrently from another process).
   * Each created message gets the next seq of its session; its attachments are stored with it;
   * its parent's `replyCount` (or, for a top-level message, the session's `messageCount`) goes up by one.
   * The whole batch commits atomically. To avoid deadlocks between concurrent batches, adapters
   * lock sessions in ascending id order. An unknown session rejects the batch with `NOT_FOUND`, a
   * `requireMembership` item whose user is not a member with `FORBIDDEN` (checked in the batch's
   * own transaction, so a member removed meanwhile cannot slip through).
   */
  insertMessages(batch: readonly NewMessage[]): Promise<InsertedMessage[]>;
  getMessage(messageId: string): Promise<Message | null>;
  /**
   * Applies the patch and, when `bumpSeq` is true, gives the change the next session seq
   * (`changeSeq`). `bumpSeq: false` is for an LLM answer's periodic flush, which is not a change
   * clients replay. Returns the updated message, or null if it does not exist.
   */
  updateMessage(messageId: string, patch: MessagePatch, options: { bumpSeq: boolean }): Promise<Message | null>;
  /**
   * A page of one session's messages in ascending seq. `parentMessageId: null` means top-level
   * messages only; a string means the direct replies to that message. Without cursors, `offset`
   * counts from the newest (offset 0 = the latest `limit`). `before` keeps `seq < before` (the latest
   * `limit` of those, after skipping `offset` from the newest); `after` keeps `seq > after` (the first
   * `limit` of those, after skipping `offset` from the oldest); both keep `after < seq < before`, paged
   * as with `after` alone. `total` counts every message of the selection without cursors or paging
   * (session `messageCount`, or the parent's `replyCount`).
   */
  getHistory(sessionId: string, query: HistoryQuery): Promise<MessagePage>;
  /**
   * Whole-word, case-insensitive search without stemming, newest first. `terms` are already
   * normalised lower-case words (letters and digits); a message matches when it contains every term.
   * Deleted messages never match. `total` counts the matches up to `maxCount`; when there are more,
   * it is `maxCount` and `totalExact` is false (the page is still the right one for its offset).
   */
  searchMessages(sessionId: string, terms: readonly string[], page: SearchQuery): Promise<SearchPage>;
  /**
   * What changed in a session after `afterSeq` (replay on join): messages whose `changeSeq` is
   * greater, ordered by `changeSeq` ascending, at most `limit`.
   */
  getChangesSince(sessionId: string, afterSeq: number, limit: number): Promise<Message[]>;

  // ---- reactions and attachments ----------------------------------------------------------

  /**
   * Adds, removes or toggles one user's emoji on a message (unique per message + user + emoji).
   * When something changed, the change takes the next session seq. Returns null if the message does
   * not exist.
   */
  setReaction(input: ReactionChange): Promise<ReactionResult | null>;
  getReactions(messageId: string): Promise<Reaction[]>;
  /** Stores attachments on an existing message as one change (one seq). Null if the message does not exist. */
  addAttachments(messageId: string, attachments: readonly NewAttachment[], at: Date): Promise<{ attachments: Attachment[]; message: Message } | null>;
  getAttachment(attachmentId: string): Promise<Attachment | null>;
  getAttachments(messageId: string): Promise<Attachment[]>;
  /** Deletes one attachment as a change to its message (one seq). Null if it does not exist. */
  deleteAttachment(attachmentId: string, at: Date): Promise<{ attachment: Attachment; message: Message } | null>;

  // ---- LLM streams -----------------------------------------------------------------------
  // A stream costs few writes: one to start, one per periodic flush, one to finish.

  /**
   * Starts a stream in ONE transaction: inserts `messages` exactly as `insertMessages` would (the
   * prompt, then the empty assistant answer; clientMessageId rules apply) and the stream row.
   */
  createStream(input: { stream: NewStream; messages: readonly NewMessage[] }): Promise<{ stream: StreamRecord; messages: InsertedMessage[] }>;
  /**
   * Updates the stream row and, when `message` is given, its answer message, in ONE transaction
   * (a flush: `bumpSeq: false`; the final commit: `bumpSeq: true`). Null if the stream does not exist.
   */
  updateStream(
    streamId: string,
    patch: StreamPatch,
    message?: { patch: MessagePatch; bumpSeq: boolean },
  ): Promise<{ stream: StreamRecord; message: Message | null } | null>;
  /**
   * A running stream's periodic flush (optional; without it the engine calls `updateStream`): the
   * answer's text so far and the stream's counters, in ONE transaction, only while the stream is
   * `pending` or `streaming` (it becomes `streaming`). No seq (clients do not replay a flush) and
   * nothing read back. False when the stream is not running (closed meanwhile, e.g. by another
   * node's sweep) or does not exist.
   */
  flushStream?(streamId: string, flush: StreamFlush): Promise<boolean>;
  getStream(streamId: string): Promise<StreamRecord | null>;
  /** A session's streams in the given states (e.g. running ones for a late joiner), oldest first. */
  listStreams(sessionId: string, statuses: readonly StreamStatus[]): Promise<StreamRecord[]>;
  /**
   * Streams still `pending`/`streaming` that belong to `nodeId` (or, with `nodeId: null`, to any
   * node) and were last updated before `updatedBefore`: what a crashed process left behind.
   */
  listStaleStreams(query: { nodeId: string | null; updatedBefore: Date }): Promise<StreamRecord[]>;
}

export interface NewStream {
  id: string;
  sessionId: string;
  messageId: string;
  promptMessageId: string;
  userId: string;
  agentId: string | null;
  model: string | null;
  maxTokens: number | null;
  nodeId: string | null;
  at: Date;
}

/** What a stream's flush writes (`flushStream`): the answer's `content` and `tokens`, and the row's counters. */
export interface StreamFlush {
  content: string;
  /** The answer's parts so far (see `MessagePatch.parts`); absent: leave them as they are. */
  parts?: readonly MessagePart[] | null;
  tokens: number;
  tokensGenerated: number;
  bytesEmitted: number;
  errors: number;
  firstTokenAt: Date | null;
  /** Becomes `updatedAt` of both rows. */
  at: Date;
}

/** Fields of a stream row an update may set; `at` becomes `updatedAt`. */
export interface StreamPatch {
  /**
   * When given, the update (row and message) applies only if the row's current status is one of
   * these; otherwise nothing is written and `updateStream` returns null. Two nodes closing the same
   * abandoned stream therefore commit it once.
   */
  expectedStatuses?: readonly StreamStatus[];
  status?: StreamStatus;
  finishReason?: string | null;
  tokensGenerated?: number;
  promptTokens?: number | null;
  bytesEmitted?: number;
  errors?: number;
  errorMessage?: string | null;
  firstTokenAt?: Date | null;
  completedAt?: Date | null;
  at: Date;
}

export interface NewSession {
  id: string;
  title: string | null;
  createdBy: string;
  metadata: JsonObject | null;
  memberIds: readonly string[];
  at: Date;
}

export interface SessionAccess {
  session: Session;
  member: SessionMember | null;
}

export interface NewAttachment {
  id: string;
  fileName: string;
  fileUrl: string;
  mimeType: string;
  fileSize: number;
  metadata: JsonObject | null;
}

export interface NewMessage {
  id: string;
  sessionId: string;
  userId: string | null;
  agentId: string | null;
  role: MessageRole;
  content: string;
  metadata: JsonObject | null;
  tokens: number | null;
  parentMessageId: string | null;
  clientMessageId: string | null;
  attachments: readonly NewAttachment[];
  at: Date;
  /**
   * The sender must be a member of the session: if `userId` is not, `insertMessages` rejects with
   * `FORBIDDEN` and writes nothing of the batch. The engine sets it when the policy declares a
   * `'member'` storage check for sends (`AuthorizeFn.storageCheck`, as the built-in `members`
   * policy does), so the authorization of a send costs no statement of its own.
   */
  requireMembership?: boolean;
}

export interface InsertedMessage {
  message: Message;
  /** False when a message with the same clientMessageId (same session and user) already existed. */
  created: boolean;
}

/** Fields an update may set; `at` becomes `updatedAt`. */
export interface MessagePatch {
  content?: string;
  /**
   * An answer's parts, stored as given (JSON) and returned by every read as `Message.parts`; null or
   * an empty list stores none (the read then omits `parts`). A deleted message is read without parts.
   */
  parts?: readonly MessagePart[] | null;
  metadata?: JsonObject | null;
  tokens?: number | null;
  isEdited?: boolean;
  editedAt?: Date | null;
  isDeleted?: boolean;
  deletedAt?: Date | null;
  at: Date;
}

export interface SearchQuery {
  limit: number;
  offset: number;
  /** Count at most this many matches (see `searchMessages`). */
  maxCount: number;
  /** As for `HistoryQuery.authorize`: the search checks its reader itself. */
  authorize?: ReaderCheck;
}

/** A read that authorizes itself: the session must exist, and `memberId` (when not null) be a member. */
export interface ReaderCheck {
  memberId: string | null;
}

/**
 * The verdict of an authorization storage makes itself (`requireMembership`, `authorize`), for every
 * adapter alike: NOT_FOUND before FORBIDDEN, as the engine's own access check answers. `isMember`
 * is the member check's result (true when no member was asked for).
 */
export function assertSessionAccess(sessionId: string, memberId: string | null, sessionExists: boolean, isMember: boolean): void {
  if (!sessionExists) throw new ChatError('NOT_FOUND', `Session ${sessionId} not found`);
  if (!isMember) throw new ChatError('FORBIDDEN', `${memberId} is not a member of session ${sessionId}`);
}

export interface HistoryQuery {
  limit: number;
  offset: number;
  parentMessageId: string | null;
  before?: number;
  after?: number;
  /**
   * The read checks itself, in its own statement (the engine sets it for a top-level page when the
   * policy declares a storage check for reads, saving an access read per page): an unknown session rejects with `NOT_FOUND`
   * (instead of an empty page), and with a `memberId`, a session that user is not a member of
   * rejects with `FORBIDDEN`.
   */
  authorize?: ReaderCheck;
}

export interface ReactionChange {
  id: string;
  messageId: string;
  userId: string;
  emoji: string;
  action: 'add' | 'remove' | 'toggle';
  at: Date;
}

export interface ReactionResult {
  /** Whether the user's reaction is present after the call. */
  added: boolean;
  /** Whether anything was written (false for an `add` that existed or a `remove` that did not). */
  changed: boolean;
  reactions: Reaction[];
  /** The message after the change (its `changeSeq` is the change's seq when `changed`). */
  message: Message;
}
