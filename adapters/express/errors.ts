import type { ErrorRequestHandler, NextFunction, Request, Response } from 'express';
import { ChatError, HTTP_STATUS, isChatError, toChatError } from '../../src/errors.js';
import { consoleLogger, log, type Logger } from '../../src/logger.js';

/**
 * Where the router reports failures that are the server's (5xx): the engine's `Logger`, of
 * which it needs only `error(obj, msg?)` (pino-shaped: the object, with the cause under `err`, first).
 */
export type RouterLogger = Pick<Logger, 'error'>;

/** An error on its way to the wire, with the status when it is not the code's usual one. */
interface WireError {
  error: ChatError;
  status: number;
}

/**
 * What body-parser (express.json) throws carries `type` and `status`. There is no ChatError code
 * for "too large" or "unsupported media type": they are VALIDATION errors with their own status,
 * so a client switching on `code` treats them like any other bad input.
 */
function fromBodyParser(value: unknown): WireError | null {
  if (typeof value !== 'object' || value === null) return null;
  const { type, status } = value as { type?: unknown; status?: unknown };
  if (typeof type !== 'string' || typeof status !== 'number') return null;
  switch (type) {
    case 'entity.too.large':
      return { error: new ChatError('VALIDATION', 'Request body too large', { details: { limit: (value as { limit?: unknown }).limit } }), status: 413 };
    case 'entity.parse.failed':
      return { error: new ChatError('VALIDATION', 'Malformed JSON body'), status: 400 };
    case 'media.unsupported':
      return { error: new ChatError('VALIDATION', 'Content-Type must be application/json'), status: 415 };
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return { error: new ChatError('VALIDATION', 'Unsupported body encoding'), status: 415 };
    case 'request.aborted':
    case 'request.size.invalid':
      return { error: new ChatError('VALIDATION', 'Incomplete request body'), status: 400 };
    default:
      return status >= 400 && status < 500 ? { error: new ChatError('VALIDATION', 'Invalid request body'), status } : null;
  }
}

/**
 * Express decodes path parameters while matching routes, before any handler (authentication
 * included) runs; a malformed percent-encoding (`/sessions/%E0%A4%A`) fails there with a URIError
 * carrying status 400 (Express 4 and 5 alike). It is bad input, not a server fault.
 */
function fromParamDecoding(value: unknown): WireError | null {
  if (!(value instanceof URIError) || (value as { status?: unknown }).status !== 400) return null;
  return { error: new ChatError('VALIDATION', 'Malformed percent-encoding in the request path'), status: 400 };
}

function toWireError(value: unknown): WireError {
  if (isChatError(value)) {
    const error = toChatError(value);
    return { error, status: HTTP_STATUS[error.code] };
  }
  const parsed = fromBodyParser(value) ?? fromParamDecoding(value);
  if (parsed) return parsed;
  const error = toChatError(value);
  return { error, status: HTTP_STATUS[error.code] };
}

/** `{ error: { code, message, details? } }` — nothing else, never a stack. */
export function errorBody(error: ChatError): { error: { code: string; message: string; details?: unknown } } {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details !== undefined && { details: error.details }),
    },
  };
}

/** Answers `value` (anything thrown) as a JSON error, and logs 5xx with the request but not its credentials. */
export function sendError(req: Request, res: Response, value: unknown, logger: RouterLogger): void {
  const { error, status } = toWireError(value);
  if (status >= 500) {
    // The cause (driver error, upstream, bug) goes to the server log only; the client gets the code
    // and a generic message; the Authorization header is never logged.
    log(logger, 'error', { err: error.cause ?? error, status, code: error.code, method: req.method, url: req.originalUrl }, `[parley-chat/express] ${req.method} ${req.originalUrl} failed with ${error.code}`);
  }
  if (res.headersSent) {
    res.end();
    return;
  }
  // 429 (a budget) and 503 (storage or upstream trouble) say when to come back, in whole seconds.
  if (error.retryAfterMs !== undefined && (status === 429 || status === 503)) {
    res.setHeader('Retry-After', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))));
  }
  res.status(status).json(errorBody(error));
}

/**
 * Answers errors raised *before* the router as the router's JSON errors. The router parses its own
 * bodies, but when the host runs `express.json()` first, a malformed or oversize body fails inside
 * the host's parser and Express sends it to the host's error handlers (an HTML page by default),
 * never into the router. Mount this right after the router, on the same prefix:
 *
 * ```ts
 * app.use(express.json());
 * app.use('/api/chat', createChatRouter(engine, { authenticate }), chatErrorHandler());
 * ```
 */
export function chatErrorHandler(options: { logger?: RouterLogger } = {}): ErrorRequestHandler {
  const logger = options.logger ?? consoleLogger;
  return (error: unknown, req: Request, res: Response, _next: NextFunction) => sendError(req, res, error, logger);
}
