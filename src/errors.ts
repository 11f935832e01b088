/**
 * One error class for every failure Parley reports. Bindings map `code` to the wire:
 * a Socket.io ack `{ ok: false, error }` or an HTTP status from `httpStatusOf`.
 */

export const CHAT_ERROR_CODES = [
  'VALIDATION',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'RATE_LIMITED',
  'CONFLICT',
  'LIMIT_EXCEEDED',
  'UNAVAILABLE',
  'INTERNAL',
] as const;

export type ChatErrorCode = (typeof CHAT_ERROR_CODES)[number];

export interface ChatErrorOptions {
  details?: unknown;
  /**
   * For RATE_LIMITED: how long until the budget allows the action again. For UNAVAILABLE: how long
   * a client should wait before trying again (the engine sets `UNAVAILABLE_RETRY_AFTER_MS`).
   */
  retryAfterMs?: number;
  cause?: unknown;
}

/** The JSON shape of an error on the wire (ack `error`, REST `{ error }`). */
export interface ChatErrorBody {
  code: ChatErrorCode;
  message: string;
  details?: unknown;
  retryAfterMs?: number;
}

/**
 * @example
 * ```ts
 * try { await engine.editMessage(id, text, userId); }
 * catch (e) { if (e instanceof ChatError && e.code === 'FORBIDDEN') { ... } }
 * ```
 */
export class ChatError extends Error {
  override readonly name = 'ChatError';
  readonly code: ChatErrorCode;
  readonly details?: unknown;
  readonly retryAfterMs?: number;

  constructor(code: ChatErrorCode, message: string, options: ChatErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.details !== undefined) this.details = options.details;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }

  /** What a client may see: never a stack, never the driver error behind it. */
  toJSON(): ChatErrorBody {
    const body: ChatErrorBody = { code: this.code, message: this.message };
    if (this.details !== undefined) body.details = this.details;
    if (this.retryAfterMs !== undefined) body.retryAfterMs = this.retryAfterMs;
    return body;
  }
}

/** True for a ChatError, also one from a second copy of the package (matched by name and code). */
export function isChatError(value: unknown): value is ChatError {
  if (value instanceof ChatError) return true;
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { name?: unknown }).name === 'ChatError' &&
    typeof (value as { code?: unknown }).code === 'string' &&
    (CHAT_ERROR_CODES as readonly string[]).includes((value as { code: string }).code)
  );
}

/** Turns anything thrown into a ChatError; unknown failures become INTERNAL with the original as `cause`. */
export function toChatError(value: unknown): ChatError {
  if (value instanceof ChatError) return value;
  if (isChatError(value)) {
    return new ChatError(value.code, value.message, {
      details: value.details,
      retryAfterMs: value.retryAfterMs,
      cause: value,
    });
  }
  return new ChatError('INTERNAL', 'Internal error', { cause: value });
}

/**
 * What an `UNAVAILABLE` answer tells a client to wait before retrying. Storage gives up on a hung
 * statement after seconds (see the storage adapters' timeouts); a client that comes back a second
 * later, then backs off further while it keeps failing, neither hammers a struggling database nor
 * leaves a member waiting long after it recovered.
 */
export const UNAVAILABLE_RETRY_AFTER_MS = 1000;

/** An `UNAVAILABLE` error without a `retryAfterMs` gets the default; anything else is returned as is. */
export function withRetryAfter(error: ChatError): ChatError {
  if (error.code !== 'UNAVAILABLE' || error.retryAfterMs !== undefined) return error;
  return new ChatError(error.code, error.message, { details: error.details, retryAfterMs: UNAVAILABLE_RETRY_AFTER_MS, cause: error.cause });
}

/**
 * True when something broke on the server's side: `INTERNAL`, or `UNAVAILABLE` caused by a driver
 * or upstream error (not a deliberate refusal such as a closed engine or a full queue). What
 * bindings write to the log, with the cause, while the client gets only the code and message.
 */
export function isServerFault(error: unknown): boolean {
  const chatError = toChatError(error);
  return chatError.code === 'INTERNAL' || (chatError.code === 'UNAVAILABLE' && chatError.cause !== undefined);
}

/** The single table from error code to HTTP status, shared by every HTTP binding. */
export const HTTP_STATUS: Record<ChatErrorCode, number> = {
  VALIDATION: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  LIMIT_EXCEEDED: 429,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export function httpStatusOf(error: unknown): number {
  return HTTP_STATUS[toChatError(error).code];
}
