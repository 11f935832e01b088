import { z } from 'zod';
import { ChatError } from './errors.js';
import { normalizeText } from './moderation/normalize.js';
import { canonicalEmoji, EMOJI } from './validation/emoji.js';
import { HTTP_URL } from './validation/http-url.js';
import { jsonObjectSchema } from './validation/json-metadata.js';
import { NO_CONTROL_CHARACTERS, NOT_BLANK, PLAIN_LINE, STORABLE_TEXT, STORABLE_TEXT_MESSAGE, VISIBLE_CHARACTER, WORD_CHARACTER } from './validation/text.js';

/**
 * zod schemas for every input the engine accepts. The bindings parse wire payloads with the same
 * schemas, and the REST router's OpenAPI document is generated from them, so the three can never
 * disagree. Every object is strict: an unknown key is a VALIDATION error, never ignored. Every
 * check is one JSON Schema can state (a length, a bound, a `u`-flag pattern), so the document is
 * exactly as strict as the engine; the two it cannot state travel as `x-` keywords.
 */

/** Size limits; all configurable through `ChatEngine({ limits })`. */
export interface Limits {
  /** Characters of message content, as sent and once normalised (NFKC can lengthen text). */
  maxContentLength: number;
  /** Attachments on one message. */
  maxAttachments: number;
  /** Bytes of a `metadata` object once serialised as JSON. */
  maxMetadataBytes: number;
  /** Members named in one `createSession`. */
  maxInitialMembers: number;
  /** Largest history / search page. */
  maxPageSize: number;
  /**
   * Most matches a search counts (default 1,000). Past it, `total` is this number and `totalExact`
   * is false ("1,000+"): an exact count of a common word costs as much as reading every message
   * holding it (230 ms for a word in 113k messages), while its first pages cost about 1 ms.
   */
  maxSearchCount: number;
}

export const DEFAULT_LIMITS: Limits = {
  maxContentLength: 10_000,
  maxAttachments: 10,
  maxMetadataBytes: 8_192,
  maxInitialMembers: 100,
  maxPageSize: 100,
  maxSearchCount: 1_000,
};

/** One host id as a regular expression source, for patterns that hold several (a list of ids). */
export const EXTERNAL_ID = '[A-Za-z0-9_.:@|-]{1,128}';

/** Host ids (users, sessions): opaque strings the host chooses. */
export const externalIdSchema = z
  .string()
  .regex(new RegExp(`^${EXTERNAL_ID}$`), 'must be 1-128 characters of A-Z a-z 0-9 _ . : @ | -');

/** Ids Parley generates (messages, reactions, attachments, streams): UUIDs. */
export const uuidSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a UUID');

export { jsonObjectSchema };

/**
 * Message text as received: at most `maxLength` characters, storable, no control characters but
 * tab and newlines, and something visible once normalised. The length holds after normalisation
 * too (NFKC can lengthen text: … becomes ...), checked here with the rest so that a request is
 * refused before anything is looked up; that one rule JSON Schema cannot say, so the document
 * carries it as `x-maxLengthAfterNormalization`.
 */
export function contentSchema(maxLength: number) {
  return z
    .string()
    .max(maxLength, `must be at most ${maxLength} characters`)
    .regex(STORABLE_TEXT, STORABLE_TEXT_MESSAGE)
    .regex(NO_CONTROL_CHARACTERS, 'must not contain control characters')
    .regex(VISIBLE_CHARACTER, 'must not be empty or blank')
    .refine((text) => normalizeText(text).length <= maxLength, `must be at most ${maxLength} characters once normalised (NFKC)`)
    .meta({ 'x-maxLengthAfterNormalization': maxLength });
}

/**
 * An absolute http(s) URL: never `javascript:`, `data:`, `file:` or a relative path (see
 * {@link HTTP_URL} for the exact grammar).
 */
export const fileUrlSchema = z.string().max(2048).regex(HTTP_URL, 'must be an absolute http(s) URL');

/** One line of plain text shown to others (a file name, a typist's display name). */
function plainLine(maxLength: number) {
  return z
    .string()
    .min(1, 'must not be empty')
    .max(maxLength)
    .regex(STORABLE_TEXT, STORABLE_TEXT_MESSAGE)
    .regex(PLAIN_LINE, 'must be one line of plain text');
}

export function attachmentInputSchema(limits: Limits) {
  return z.strictObject({
    fileName: plainLine(255),
    fileUrl: fileUrlSchema,
    mimeType: z
      .string()
      .max(255)
      .regex(/^[A-Za-z0-9][\w!#$&^.+-]*\/[A-Za-z0-9][\w!#$&^.+-]*$/, 'must be a MIME type like image/png'),
    fileSize: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    metadata: jsonObjectSchema(limits.maxMetadataBytes).optional(),
  });
}

/** A typist's display name, shown in typing indicators: trimmed, 1-100 characters. */
export const displayNameSchema = plainLine(100).regex(NOT_BLANK, 'must not be blank').trim();

/**
 * One RGI emoji (👍, 👨‍👩‍👧, 🇫🇷, 👍🏽) or a `:shortcode:`. A text-style emoji without its variation
 * selector (❤) is accepted and stored fully qualified (❤️), so both spellings are one reaction.
 */
export const emojiSchema = z.string().max(64).regex(EMOJI, 'must be one emoji or a :shortcode:').transform(canonicalEmoji);

export const reactionActionSchema = z.enum(['add', 'remove', 'toggle']);

const pageNumber = (max: number) => z.number().int().min(1).max(max);
const offsetSchema = z.number().int().min(0).max(1_000_000);
const seqCursor = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** Per-request model settings of `stream:request` / `startStream`. */
export const streamConfigSchema = z.strictObject({
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.number().int().min(1).max(1_000_000).optional(),
  model: z.string().min(1).max(200).regex(/^[\w.:/@+-]+$/, 'must be a model name').optional(),
});

/** Most ids one `getUsers` call may ask for. */
export const MAX_USER_LOOKUP = 100;

/** All engine input schemas for one set of limits. */
export function buildSchemas(limits: Limits = DEFAULT_LIMITS) {
  const content = contentSchema(limits.maxContentLength);
  const metadata = jsonObjectSchema(limits.maxMetadataBytes);
  const attachment = attachmentInputSchema(limits);
  return {
    createSession: z.strictObject({
      id: externalIdSchema.optional(),
      // Checked as sent, stored trimmed.
      title: z
        .string()
        .max(200)
        .regex(STORABLE_TEXT, STORABLE_TEXT_MESSAGE)
        .regex(NOT_BLANK, 'must not be blank')
        .trim()
        .optional(),
      createdBy: externalIdSchema,
      memberIds: z.array(externalIdSchema).max(limits.maxInitialMembers).optional(),
      metadata: metadata.optional(),
    }),
    createMessage: z.strictObject({
      sessionId: externalIdSchema,
      userId: externalIdSchema,
      content,
      parentMessageId: uuidSchema.optional(),
      attachments: z.array(attachment).max(limits.maxAttachments, `at most ${limits.maxAttachments} attachments`).optional(),
      clientMessageId: externalIdSchema.optional(),
      metadata: metadata.optional(),
    }),
    historyOptions: z.strictObject({
      limit: pageNumber(limits.maxPageSize).default(50),
      offset: offsetSchema.default(0),
      parentMessageId: uuidSchema.optional(),
      before: seqCursor.describe('Only messages with seq < before: the latest page of those').optional(),
      after: seqCursor
        .describe('Only messages with seq > after, paged from the oldest; with `before` too, the range after < seq < before')
        .optional(),
    }),
    searchOptions: z.strictObject({
      limit: pageNumber(limits.maxPageSize).default(20),
      offset: offsetSchema.default(0),
    }),
    searchQuery: z
      .string()
      .min(1)
      .max(500)
      .regex(STORABLE_TEXT, STORABLE_TEXT_MESSAGE)
      .regex(WORD_CHARACTER, 'must contain a letter or digit to search for'),
    streamRequest: z.strictObject({
      sessionId: externalIdSchema,
      prompt: content,
      userId: externalIdSchema,
      agentId: externalIdSchema.optional(),
      config: streamConfigSchema.optional(),
    }),
    /** What an authentication says about the user (extra fields such as `expiresAt` are ignored). */
    profile: z.object({
      userId: externalIdSchema,
      name: displayNameSchema.optional(),
      avatarUrl: fileUrlSchema.optional(),
    }),
    userIds: z.array(externalIdSchema).min(1).max(MAX_USER_LOOKUP, `at most ${MAX_USER_LOOKUP} ids`),
    attachment,
    content,
    emoji: emojiSchema,
    displayName: displayNameSchema,
    reactionAction: reactionActionSchema,
    externalId: externalIdSchema,
    uuid: uuidSchema,
    seqCursor,
  };
}

export type EngineSchemas = ReturnType<typeof buildSchemas>;
export type CreateSessionInput = z.input<EngineSchemas['createSession']>;
export type CreateMessageInput = z.input<EngineSchemas['createMessage']>;
export type HistoryOptions = z.input<EngineSchemas['historyOptions']>;
export type SearchOptions = z.input<EngineSchemas['searchOptions']>;
export type AttachmentInput = z.input<EngineSchemas['attachment']>;
export type ReactionAction = z.infer<typeof reactionActionSchema>;
export type StreamConfig = z.input<typeof streamConfigSchema>;
export type StreamRequestInput = z.input<EngineSchemas['streamRequest']>;

/** The default schemas (DEFAULT_LIMITS), for bindings and documentation. */
export const schemas = buildSchemas();

/** Parses `value` or throws `ChatError('VALIDATION')` listing every problem with its path. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || what,
    message: issue.message,
  }));
  const [first] = result.error.issues;
  // The issue's own path decides, not its text: a field may share the input's name (`query.query`).
  const field = first!.path.length === 0 ? what : `${what}.${issues[0]!.path}`;
  throw new ChatError('VALIDATION', `Invalid ${field}: ${first!.message}`, {
    details: { issues },
  });
}
