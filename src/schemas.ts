import { z } from 'zod';
import { ChatError } from './errors.js';

/**
 * zod schemas for every input the engine accepts (DESIGN §10). The bindings parse wire payloads with
 * the same schemas, and the REST router's OpenAPI document is generated from them, so the three can
 * never disagree. Every object is strict: an unknown key is a VALIDATION error, never ignored.
 */

/** Size limits; all configurable through `ChatEngine({ limits })`. */
export interface Limits {
  /** Characters of message content (after normalisation). */
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

/** Host ids (users, sessions): opaque strings the host chooses (DESIGN §4). */
export const externalIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:@|-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 _ . : @ | -');

/** Ids Parley generates (messages, reactions, attachments, streams): UUIDs. */
export const uuidSchema = z
  .string()
  .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a UUID');

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function checkJsonValue(value: unknown, depth: number): string | null {
  if (depth > 10) return 'is nested too deeply (max 10 levels)';
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : 'contains a non-finite number';
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = checkJsonValue(item, depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return 'must be plain JSON';
    for (const key of Object.keys(value)) {
      // Keys that could pollute a prototype when a client later merges the object.
      if (FORBIDDEN_KEYS.has(key)) return `must not contain the key "${key}"`;
      const problem = checkJsonValue((value as Record<string, unknown>)[key], depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  return 'must be plain JSON';
}

/** A plain JSON object, bounded in size and depth, without prototype-polluting keys. */
export function jsonObjectSchema(maxBytes: number) {
  return z.custom<Record<string, unknown>>().superRefine((value, ctx) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
      return;
    }
    const problem = checkJsonValue(value, 0);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
      return;
    }
    if (Buffer.byteLength(JSON.stringify(value)) > maxBytes) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${maxBytes} bytes as JSON` });
    }
  });
}

// C0 controls other than tab, newline and carriage return; Postgres cannot even store U+0000.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

/** Message text as received: non-blank, well-formed Unicode, no control characters. */
export function contentSchema(maxLength: number) {
  return z
    .string()
    .max(maxLength, `must be at most ${maxLength} characters`)
    .refine((s) => s.trim().length > 0, 'must not be empty')
    .refine((s) => s.isWellFormed(), 'must be well-formed Unicode (no lone surrogates)')
    .refine((s) => !CONTROL_CHARS.test(s), 'must not contain control characters');
}

/** An absolute http(s) URL: never `javascript:`, `data:`, `file:` or a relative path. */
export const fileUrlSchema = z
  .string()
  .max(2048)
  .refine((s) => {
    if (!/^https?:\/\//i.test(s)) return false;
    try {
      const url = new URL(s);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname.length > 0;
    } catch {
      return false;
    }
  }, 'must be an absolute http(s) URL');

export function attachmentInputSchema(limits: Limits) {
  return z.strictObject({
    fileName: z
      .string()
      .min(1)
      .max(255)
      .refine((s) => !CONTROL_CHARS.test(s) && !/[\n\r\t]/.test(s) && s.isWellFormed(), 'must be a plain file name'),
    fileUrl: fileUrlSchema,
    mimeType: z
      .string()
      .max(255)
      .regex(/^[A-Za-z0-9][\w!#$&^.+-]*\/[A-Za-z0-9][\w!#$&^.+-]*$/, 'must be a MIME type like image/png'),
    fileSize: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    metadata: jsonObjectSchema(limits.maxMetadataBytes).optional(),
  });
}

const SHORTCODE = /^:[a-z0-9_+-]{1,62}:$/;
const RGI_EMOJI = /^\p{RGI_Emoji}$/v;

/**
 * One RGI emoji (👍, 👨‍👩‍👧, 🇫🇷, 👍🏽) or a `:shortcode:`. A text-style emoji without its variation
 * selector (❤) is accepted and stored fully qualified (❤️), so both spellings are one reaction.
 */
export const emojiSchema = z
  .string()
  .min(1)
  .max(64)
  .transform((s, ctx) => {
    if (SHORTCODE.test(s) || RGI_EMOJI.test(s)) return s;
    if (RGI_EMOJI.test(s + '\uFE0F')) return s + '\uFE0F';
    ctx.addIssue({ code: 'custom', message: 'must be one emoji or a :shortcode:' });
    return z.NEVER;
  });

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

/** All engine input schemas for one set of limits. */
export function buildSchemas(limits: Limits = DEFAULT_LIMITS) {
  const content = contentSchema(limits.maxContentLength);
  const metadata = jsonObjectSchema(limits.maxMetadataBytes);
  const attachment = attachmentInputSchema(limits);
  return {
    createSession: z.strictObject({
      id: externalIdSchema.optional(),
      title: z.string().trim().min(1).max(200).optional(),
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
      before: seqCursor.optional(),
      after: seqCursor.optional(),
    }),
    searchOptions: z.strictObject({
      limit: pageNumber(limits.maxPageSize).default(20),
      offset: offsetSchema.default(0),
    }),
    searchQuery: z.string().min(1).max(500),
    streamRequest: z.strictObject({
      sessionId: externalIdSchema,
      prompt: content,
      userId: externalIdSchema,
      agentId: externalIdSchema.optional(),
      config: streamConfigSchema.optional(),
    }),
    attachment,
    content,
    emoji: emojiSchema,
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
  const first = issues[0]!;
  throw new ChatError('VALIDATION', `Invalid ${first.path === what ? what : `${what}.${first.path}`}: ${first.message}`, {
    details: { issues },
  });
}
