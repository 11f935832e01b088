/**
 * Driver errors → ChatError. The dialect says what kind of failure it is; this file decides what
 * the engine sees. The driver error is always kept as `cause` (never sent to clients: ChatError's
 * `toJSON` drops it).
 */
import { ChatError, isChatError } from '../../../src/errors.js';
import type { DbErrorInfo, SqlDialect } from './dialect.js';

export function classify(dialect: SqlDialect, error: unknown): DbErrorInfo | null {
  // Kysely and pg sometimes wrap the interesting error; look down the cause chain a little.
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current != null; depth++) {
    const info = dialect.classifyError(current);
    if (info) return info;
    current = (current as { cause?: unknown }).cause;
  }
  return null;
}

export function toStorageError(dialect: SqlDialect, error: unknown): ChatError {
  if (isChatError(error)) return error as ChatError;
  const info = classify(dialect, error);
  switch (info?.kind) {
    case 'unavailable':
    case 'retry':
      return new ChatError('UNAVAILABLE', 'Storage is unavailable, try again', { cause: error });
    case 'unique':
      return new ChatError('CONFLICT', 'Already exists', { cause: error });
    case 'foreign_key':
      return new ChatError('NOT_FOUND', 'Referenced session or message not found', { cause: error });
    default:
      return new ChatError('INTERNAL', 'Storage error', { cause: error });
  }
}
