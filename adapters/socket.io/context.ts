import type { Authenticate } from '../../src/auth/jwt.js';
import type { ChatEngine } from '../../src/engine.js';
import { isChatError } from '../../src/errors.js';
import type { PayloadSchemas } from './payloads.js';
import type { ChatNamespace } from './sockets.js';
import type { PresenceTracker } from './presence.js';
import type { TokenExpiry } from './token-expiry.js';
import type { TypingTracker } from './typing.js';

/** Called for failures nobody can be told about (a background task, a throwing listener). Never given a token. */
export type ErrorReporter = (error: unknown, context: { what: string; socketId?: string; userId?: string }) => void;

/** What every part of one `attachChat` shares. */
export interface BindingContext {
  engine: ChatEngine;
  nsp: ChatNamespace;
  authenticate: Authenticate;
  expiry: TokenExpiry;
  schemas: PayloadSchemas;
  maxPayloadBytes: number;
  typingTimeoutMs: number;
  presence: PresenceTracker;
  typing: TypingTracker;
  report: ErrorReporter;
  closed: boolean;
}

/**
 * For work nobody awaits: a ChatError is an expected outcome there (the engine closed, the user was
 * removed meanwhile) and is dropped; anything else is a bug worth reporting.
 */
export function background(ctx: BindingContext, what: string, promise: Promise<unknown>, who: { socketId?: string; userId?: string } = {}): void {
  promise.catch((error: unknown) => {
    if (isChatError(error) && error.code !== 'INTERNAL') return;
    ctx.report(error, { what, ...who });
  });
}
