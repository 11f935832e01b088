/**
 * Which batches Postgres stores in one autocommit statement, and the values that statement binds:
 * pure, so the rules stand apart from the SQL (postgres/write-path.ts).
 */
import type { NewMessage } from '../../../src/ports/storage.js';
import { clientKey, needsMembership } from '../kysely/batch-plan.js';
import { json } from '../kysely/rows.js';
import type { Values } from '../kysely/statements.js';

/**
 * What the one-statement insert handles: top-level messages (reply counts stay on the
 * transaction path), each client id at most once in the batch and with a user (NULL user ids never
 * meet in the unique index, so only the transaction path's lock can de-duplicate them).
 */
export function fitsOneStatement(batch: readonly NewMessage[]): boolean {
  const keys = new Set<string>();
  for (const m of batch) {
    if (m.parentMessageId !== null) return false;
    if (m.clientMessageId === null) continue;
    if (m.userId === null) return false;
    const key = clientKey(m);
    if (keys.has(key)) return false;
    keys.add(key);
  }
  return true;
}

/**
 * The statement for a batch that fits, by shape: `one` (one message without attachments: every
 * send at low load), `session` (one session, no attachments: a busy session's batches), else
 * `batch` (any sessions, with attachments).
 */
export type OneStatementShape = 'one' | 'session' | 'batch';

export function planOneStatement(batch: readonly NewMessage[]): { shape: OneStatementShape; values: Values } {
  const first = batch[0]!;
  const oneSession = batch.every((m) => m.sessionId === first.sessionId && m.attachments.length === 0);
  if (oneSession && batch.length === 1) {
    return {
      shape: 'one',
      values: {
        id: first.id,
        session: first.sessionId,
        user: first.userId,
        agent: first.agentId,
        role: first.role,
        content: first.content,
        metadata: json(first.metadata),
        tokens: first.tokens,
        clientId: first.clientMessageId,
        at: first.at.toISOString(),
        mustBeMember: needsMembership(first),
      },
    };
  }
  if (oneSession) return { shape: 'session', values: { session: first.sessionId, count: batch.length, ...messageColumns(batch) } };
  const attachments = batch.flatMap((m) => m.attachments.map((a) => ({ a, messageId: m.id })));
  return {
    shape: 'batch',
    values: {
      ...messageColumns(batch),
      sessions: batch.map((m) => m.sessionId),
      attIds: attachments.map(({ a }) => a.id),
      attMessageIds: attachments.map(({ messageId }) => messageId),
      attFileNames: attachments.map(({ a }) => a.fileName),
      attFileUrls: attachments.map(({ a }) => a.fileUrl),
      attMimeTypes: attachments.map(({ a }) => a.mimeType),
      attFileSizes: attachments.map(({ a }) => a.fileSize),
      attMetadata: attachments.map(({ a }) => json(a.metadata)),
    },
  };
}

/** A batch's message columns as the arrays the batch statements unnest, in input order. */
function messageColumns(batch: readonly NewMessage[]): Values {
  return {
    ids: batch.map((m) => m.id),
    users: batch.map((m) => m.userId),
    agents: batch.map((m) => m.agentId),
    roles: batch.map((m) => m.role),
    contents: batch.map((m) => m.content),
    metadata: batch.map((m) => json(m.metadata)),
    tokens: batch.map((m) => m.tokens),
    clientIds: batch.map((m) => m.clientMessageId),
    ats: batch.map((m) => m.at.toISOString()),
    mustBeMembers: batch.map(needsMembership),
  };
}
