import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ChatError } from '../../src/errors.js';

/** The JSON media types the router accepts (`application/json`, `application/*+json`). */
const JSON_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;

function hasBody(req: Request): boolean {
  // Announced and non-empty (type-is also counts `Content-Length: 0`; an empty body is simply none here).
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) > 0);
}

/** True when something before the router already read the body (the host's express.json()). */
function alreadyRead(req: Request): boolean {
  // body-parser 1 (Express 4) flags `_body`; body-parser 2 (Express 5) does not, but the stream has ended.
  return (req as { _body?: unknown })._body === true || req.readableEnded;
}

/**
 * Reads a JSON body into `req.body`, capped at `maxBytes`, for routes that take one. Works whether
 * or not the host ran its own `express.json()` first: then its parsed body is used, and only the
 * announced Content-Length is checked against the cap (the host's own limit already applied).
 */
export function jsonBody(json: (options: { limit: number; strict: boolean; type: string[] }) => RequestHandler, maxBytes: number): RequestHandler {
  const parse = json({ limit: maxBytes, strict: true, type: ['application/json', 'application/*+json'] });
  return (req: Request, res: Response, next: NextFunction) => {
    const length = Number(req.headers['content-length']);
    if (Number.isFinite(length) && length > maxBytes) {
      next(Object.assign(new Error('request entity too large'), { type: 'entity.too.large', status: 413, limit: maxBytes }));
      return;
    }
    if (!hasBody(req)) {
      req.body = {};
      next();
      return;
    }
    if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) {
      next(Object.assign(new Error('unsupported media type'), { type: 'media.unsupported', status: 415 }));
      return;
    }
    if (alreadyRead(req)) {
      next();
      return;
    }
    parse(req, res, next);
  };
}

/** The parsed body, or a VALIDATION error when nothing usable is there. */
export function bodyOf(req: Request): unknown {
  if (req.body === undefined) throw new ChatError('VALIDATION', 'Missing JSON body');
  return req.body;
}
