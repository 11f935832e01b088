import { z } from 'zod';
import type { ChatEngine, SeenReceipt, StreamStart } from '../../src/engine.js';
import { CHAT_ERROR_CODES, type ChatErrorBody } from '../../src/errors.js';
import type {
  Attachment,
  Message,
  MessagePage,
  MessagePart,
  NamedMember,
  PresenceEntry,
  Reaction,
  SearchPage,
  Session,
  SessionMember,
  SessionSummary,
  UserProfile,
} from '../../src/model.js';
import type { StreamMetrics, StreamStatusView } from '../../src/streams/active-stream.js';

/**
 * zod schemas of what the REST router sends back: the model of `src/model.ts` as JSON. The OpenAPI
 * document's response schemas are generated from them, and the tests parse every success body with
 * them, so the document cannot drift from what the engine returns. They are strict on purpose, and
 * each is checked at compile time against the type it documents (`ResponseTypes`, at the end): a
 * field added to, removed from or retyped in the model without the same change here fails
 * `tsc` instead of going undocumented.
 */

const isoDate = z.iso.datetime({ offset: true });
const jsonObject = z.record(z.string(), z.unknown());

export const reactionSchema = z.strictObject({
  emoji: z.string(),
  count: z.number().int().min(1),
  userIds: z.array(z.string()).describe('In the order the reactions were made'),
});

export const attachmentSchema = z.strictObject({
  id: z.string(),
  messageId: z.string(),
  fileName: z.string(),
  fileUrl: z.string(),
  mimeType: z.string(),
  fileSize: z.number().int().min(0),
  metadata: jsonObject.nullable(),
  createdAt: isoDate,
});

export const messagePartSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('text'), text: z.string() }),
    z.strictObject({ type: z.literal('tool-call'), toolCallId: z.string(), toolName: z.string(), input: z.unknown().describe('The input the model gave (JSON)') }),
    z.strictObject({
      type: z.literal('tool-result'),
      toolCallId: z.string(),
      toolName: z.string(),
      output: z.unknown().describe("The tool's result (JSON); for a failed call `{ error }` with the kind of failure only"),
      isError: z.boolean().optional(),
    }),
  ])
  .describe("One piece of an agent's answer");

export const messageSchema = z.strictObject({
  id: z.string(),
  sessionId: z.string(),
  userId: z.string().nullable().describe('The sender; null for server-written messages (agent answers, system notes)'),
  agentId: z.string().nullable(),
  content: z.string().describe('Plain text, never HTML; empty for a deleted message'),
  role: z.enum(['user', 'assistant', 'system']),
  metadata: jsonObject.nullable(),
  tokens: z.number().int().nullable(),
  parentMessageId: z.string().nullable(),
  replyCount: z.number().int().min(0),
  seq: z.number().int().min(0).describe('Session sequence number at creation'),
  changeSeq: z.number().int().min(0).describe('Session sequence number of the latest change'),
  clientMessageId: z.string().nullable(),
  isEdited: z.boolean(),
  editedAt: isoDate.nullable(),
  isDeleted: z.boolean(),
  deletedAt: isoDate.nullable(),
  createdAt: isoDate,
  updatedAt: isoDate,
  attachments: z.array(attachmentSchema),
  reactions: z.array(reactionSchema),
  parts: z
    .array(messagePartSchema)
    .optional()
    .describe("An agent's answer as it happened: text, tool calls and tool results in order (`content` is the text parts joined). Absent when the message has none: members' messages, deleted or older answers"),
  authorName: z.string().nullable().optional().describe("The author's display name now (null: none, or a server message)"),
});

const sessionShape = {
  id: z.string(),
  title: z.string().nullable(),
  createdBy: z.string(),
  metadata: jsonObject.nullable(),
  lastSeq: z.number().int().min(0),
  messageCount: z.number().int().min(0),
  createdAt: isoDate,
};

export const sessionSchema = z.strictObject(sessionShape);

export const sessionSummarySchema = z.strictObject({
  ...sessionShape,
  role: z.enum(['owner', 'member']),
  lastReadSeq: z.number().int().min(0),
  unreadCount: z.number().int().min(0),
});

export const sessionMemberSchema = z.strictObject({
  sessionId: z.string(),
  userId: z.string(),
  role: z.enum(['owner', 'member']),
  lastReadSeq: z.number().int().min(0),
  lastDeliveredSeq: z.number().int().min(0),
  lastSeenAt: isoDate.nullable(),
  joinedAt: isoDate,
});

const displayName = z.string().nullable().describe('The display name the user authenticated with last; null when they have none');
const avatarUrl = z.string().nullable().describe('An absolute http(s) URL, or null');

export const namedMemberSchema = sessionMemberSchema.extend({ name: displayName, avatarUrl });

export const userProfileSchema = z.strictObject({ id: z.string(), name: displayName, avatarUrl });

export const presenceEntrySchema = z.strictObject({
  userId: z.string(),
  name: displayName,
  status: z.enum(['online', 'offline']),
  lastSeenAt: isoDate.nullable(),
});

export const messagePageSchema = z.strictObject({
  messages: z.array(messageSchema),
  total: z.number().int().min(0),
});

export const searchPageSchema = messagePageSchema.extend({
  /** False when the matches reached `limits.maxSearchCount`: there are at least `total`. */
  totalExact: z.boolean(),
});

export const messageListSchema = z.strictObject({ messages: z.array(messageSchema) });
export const sessionListSchema = z.strictObject({ sessions: z.array(sessionSummarySchema) });
export const memberListSchema = z.strictObject({ members: z.array(namedMemberSchema) });
export const userListSchema = z.strictObject({ users: z.array(userProfileSchema).describe('In the order asked; ids without a profile are left out') });
export const presenceListSchema = z.strictObject({ presence: z.array(presenceEntrySchema) });
export const reactionListSchema = z.strictObject({ reactions: z.array(reactionSchema) });
export const attachmentListSchema = z.strictObject({ attachments: z.array(attachmentSchema) });

export const reactionResultSchema = z.strictObject({
  added: z.boolean().describe('Whether the caller now has this reaction'),
  reactions: z.array(reactionSchema),
});

export const removedSchema = z.strictObject({ removed: z.boolean() });

export const seenReceiptSchema = z.strictObject({
  sessionId: z.string(),
  userId: z.string(),
  messageId: z.string(),
  seq: z.number().int().min(0),
});

export const streamStatusSchema = z.strictObject({
  streamId: z.string(),
  sessionId: z.string(),
  messageId: z.string().describe('The assistant message the answer streams into'),
  status: z.enum(['pending', 'streaming', 'completed', 'stopped', 'error']),
  progress: z.number().min(0).max(1).nullable().describe('tokensGenerated / maxTokens, or null without maxTokens'),
  tokensGenerated: z.number().int().min(0),
  finishReason: z.string().optional(),
  startedAt: isoDate,
  completedAt: isoDate.optional(),
});

export const streamMetricsSchema = z.strictObject({
  streamId: z.string(),
  totalTokens: z.number().int().min(0),
  tokensPerSecond: z.number().min(0),
  latency: z.number().nullable().describe('ms from start to the first token'),
  bandwidth: z.number().min(0).describe('bytes of answer text emitted per second, counted once'),
  errors: z.number().int().min(0),
  promptTokens: z.number().int().min(0).nullable().describe('prompt tokens over all steps, as the upstream reported them'),
  completionTokens: z.number().int().min(0),
  steps: z.number().int().min(1).describe('model calls in the answer: one, plus one per round of tool results'),
  toolCalls: z.array(
    z.strictObject({ toolCallId: z.string(), toolName: z.string(), durationMs: z.number().min(0), isError: z.boolean() }),
  ),
  cost: z.number().min(0).optional().describe("prompt and completion tokens at the agent's pricing, per million"),
});

export const streamStartSchema = z.strictObject({
  streamId: z.string(),
  messageId: z.string(),
  promptMessageId: z.string(),
});

/** Every error: `{ error: { code, message, details? } }`. */
export const errorResponseSchema = z.strictObject({
  error: z.strictObject({
    code: z.enum(CHAT_ERROR_CODES),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});

/** The response schemas with the names they carry in the OpenAPI document's `components.schemas`. */
export const responseSchemas = {
  Message: messageSchema,
  MessagePart: messagePartSchema,
  MessagePage: messagePageSchema,
  SearchPage: searchPageSchema,
  MessageList: messageListSchema,
  Attachment: attachmentSchema,
  AttachmentList: attachmentListSchema,
  Reaction: reactionSchema,
  ReactionList: reactionListSchema,
  ReactionResult: reactionResultSchema,
  Session: sessionSchema,
  SessionSummary: sessionSummarySchema,
  SessionList: sessionListSchema,
  SessionMember: sessionMemberSchema,
  NamedMember: namedMemberSchema,
  MemberList: memberListSchema,
  UserProfile: userProfileSchema,
  UserList: userListSchema,
  PresenceEntry: presenceEntrySchema,
  PresenceList: presenceListSchema,
  Removed: removedSchema,
  SeenReceipt: seenReceiptSchema,
  StreamStart: streamStartSchema,
  StreamStatus: streamStatusSchema,
  StreamMetrics: streamMetricsSchema,
  ErrorResponse: errorResponseSchema,
} as const;

/**
 * The engine's type each response schema documents (list routes wrap the engine's arrays; errors
 * carry `retryAfterMs` in the `Retry-After` header instead of the body).
 */
interface ResponseTypes {
  Message: Message;
  MessagePart: MessagePart;
  MessagePage: MessagePage;
  SearchPage: SearchPage;
  MessageList: { messages: Message[] };
  Attachment: Attachment;
  AttachmentList: { attachments: Attachment[] };
  Reaction: Reaction;
  ReactionList: { reactions: Reaction[] };
  ReactionResult: Awaited<ReturnType<ChatEngine['toggleReaction']>>;
  Session: Session;
  SessionSummary: SessionSummary;
  SessionList: { sessions: SessionSummary[] };
  SessionMember: SessionMember;
  NamedMember: NamedMember;
  MemberList: { members: NamedMember[] };
  UserProfile: UserProfile;
  UserList: { users: UserProfile[] };
  PresenceEntry: PresenceEntry;
  PresenceList: { presence: PresenceEntry[] };
  Removed: Awaited<ReturnType<ChatEngine['removeMember']>>;
  SeenReceipt: SeenReceipt;
  StreamStart: StreamStart;
  StreamStatus: StreamStatusView;
  StreamMetrics: StreamMetrics;
  ErrorResponse: { error: Omit<ChatErrorBody, 'retryAfterMs'> };
}

/** True when each of A and B is assignable to the other: same fields, same optionality, same types. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/**
 * Compile-time only: a schema whose output is not exactly its type makes its entry `false`, and
 * `true` then fails to type-check on that line; a schema without a documented type fails too.
 */
const responseSchemasMatchTheModel: { [K in keyof typeof responseSchemas]: Same<z.output<(typeof responseSchemas)[K]>, ResponseTypes[K]> } = {
  Message: true,
  MessagePart: true,
  MessagePage: true,
  SearchPage: true,
  MessageList: true,
  Attachment: true,
  AttachmentList: true,
  Reaction: true,
  ReactionList: true,
  ReactionResult: true,
  Session: true,
  SessionSummary: true,
  SessionList: true,
  SessionMember: true,
  NamedMember: true,
  MemberList: true,
  UserProfile: true,
  UserList: true,
  PresenceEntry: true,
  PresenceList: true,
  Removed: true,
  SeenReceipt: true,
  StreamStart: true,
  StreamStatus: true,
  StreamMetrics: true,
  ErrorResponse: true,
};
