/**
 * The shared way to store a batch of messages: inside a transaction the caller runs
 * (insertMessages when the dialect's write path declines a batch, createStream), with a fixed
 * number of statements whatever the batch's size. The caller retries on a duplicate client id
 * (see kysely-storage.ts).
 */
import { sql, type Kysely } from 'kysely';
import { ChatError } from '../../../src/errors.js';
import type { Attachment, Message } from '../../../src/model.js';
import { assertSessionAccess, type InsertedMessage, type NewMessage } from '../../../src/ports/storage.js';
import { chunks, clientKey, countPerSession, memberKey, needsMembership, numberMessages, outsideParentBumps, planBatch, resultsOf, uniqueBy } from './batch-plan.js';
import type { SqlDialect } from './dialect.js';
import type { RowMapper } from './rows.js';
import { MESSAGE_COLUMNS, type ChatDatabase, type MessageRow, type TableNames } from './schema.js';

type Db = Kysely<ChatDatabase>;

/** Rows per multi-row INSERT: stays under both drivers' bind-parameter limits (pg 65535, SQLite 32766). */
export const INSERT_CHUNK = 1000;

const M = MESSAGE_COLUMNS.map((c) => `m.${c}` as const);

export interface TransactionInsertContext {
  names: TableNames;
  dialect: SqlDialect;
  rows: RowMapper;
  /** Rows → messages with their reactions and attachments, read in the same transaction. */
  withExtras(trx: Db, rows: readonly MessageRow[]): Promise<Message[]>;
}

export async function insertInTransaction(trx: Db, batch: readonly NewMessage[], ctx: TransactionInsertContext): Promise<InsertedMessage[]> {
  const { dialect: d, names: t } = ctx;
  const sessionIds = [...new Set(batch.map((m) => m.sessionId))].sort();
  const keyed = batch.filter((m) => m.clientMessageId !== null);
  await checkMembership(trx, t, batch);

  // The duplicate look-up runs before the session lock (one round trip fewer on the hot path).
  // A concurrent send of the same client id that commits in between makes our INSERT hit the
  // unique index, and the whole batch runs again. NULL user ids never collide in that index, so
  // for them the look-up waits for the lock instead.
  const lockBeforeLookup = keyed.some((m) => m.userId === null);
  if (lockBeforeLookup) await d.lockSessions(trx, t, sessionIds);

  const existing = new Map<string, MessageRow>();
  if (keyed.length > 0) {
    const keys = uniqueBy(keyed, clientKey);
    const rows = await trx
      .selectFrom(t.as('messages', 'm'))
      .select(M)
      .where((eb) =>
        eb.or(
          keys.map((k) =>
            eb.and([
              eb('m.session_id', '=', k.sessionId),
              k.userId === null ? eb('m.user_id', 'is', null) : eb('m.user_id', '=', k.userId),
              eb('m.client_message_id', '=', k.clientMessageId),
            ]),
          ),
        ),
      )
      .execute();
    for (const row of rows) existing.set(clientKey({ sessionId: row.session_id, userId: row.user_id, clientMessageId: row.client_message_id }), row);
  }
  // Several sessions: lock them in ascending id order, the same order every batch uses, so two
  // batches never deadlock. One session: the bump below locks it.
  if (!lockBeforeLookup && sessionIds.length > 1) await d.lockSessions(trx, t, sessionIds);

  const { slots, toCreate } = planBatch(batch, existing);
  let created: Message[] = [];
  if (toCreate.length > 0) {
    // Bump every touched session once: last_seq += created, message_count += created top-level.
    const perSession = countPerSession(toCreate);
    const bumped = await bumpSessions(trx, t, perSession);
    const missing = [...perSession.keys()].find((id) => !bumped.has(id));
    if (missing !== undefined) throw new ChatError('NOT_FOUND', `Session ${missing} not found`);
    created = numberMessages(toCreate, bumped);

    for (const chunk of chunks(created, INSERT_CHUNK)) {
      await trx
        .insertInto(t.table('messages'))
        .values(chunk.map((m) => ctx.rows.messageValues(m)))
        .execute();
    }
    for (const chunk of chunks(created.flatMap((m) => m.attachments), INSERT_CHUNK)) await insertAttachments(trx, ctx, chunk);

    const parentBumps = outsideParentBumps(created, toCreate);
    if (parentBumps.length > 0) {
      await trx
        .updateTable(t.table('messages'))
        .set({ reply_count: sql<number>`${sql.ref('reply_count')} + ${caseById(parentBumps)}` })
        .where('id', 'in', parentBumps.map(([id]) => id))
        .execute();
    }
  }

  const stored = new Map<string, Message>();
  if (existing.size > 0) {
    for (const m of await ctx.withExtras(trx, [...existing.values()])) stored.set(clientKey(m), m);
  }
  return resultsOf(slots, created, stored);
}

export async function insertAttachments(trx: Db, ctx: Pick<TransactionInsertContext, 'names' | 'rows'>, attachments: readonly Attachment[]): Promise<void> {
  if (attachments.length === 0) return;
  await trx
    .insertInto(ctx.names.table('message_attachments'))
    .values(attachments.map((a) => ctx.rows.attachmentValues(a)))
    .execute();
}

/** `requireMembership` items (see NewMessage): one query for the batch; a second only to tell NOT_FOUND from FORBIDDEN. */
async function checkMembership(trx: Db, t: TableNames, batch: readonly NewMessage[]): Promise<void> {
  const pairs = uniqueBy(batch.filter(needsMembership), memberKey);
  if (pairs.length === 0) return;
  const rows = await trx
    .selectFrom(t.as('session_members', 'mem'))
    .select(['mem.session_id', 'mem.user_id'])
    .where((eb) => eb.or(pairs.map((m) => eb.and([eb('mem.session_id', '=', m.sessionId), eb('mem.user_id', '=', m.userId)]))))
    .execute();
  const members = new Set(rows.map((r) => memberKey({ sessionId: r.session_id, userId: r.user_id })));
  const outsider = pairs.find((m) => !members.has(memberKey(m)));
  if (!outsider) return;
  const session = await trx.selectFrom(t.as('sessions', 's')).select('s.id').where('s.id', '=', outsider.sessionId).executeTakeFirst();
  assertSessionAccess(outsider.sessionId, outsider.userId, session !== undefined, false);
}

/** `UPDATE sessions SET last_seq = last_seq + n …` for several sessions in one statement; returns the new last_seq per id. */
async function bumpSessions(trx: Db, t: TableNames, perSession: Map<string, { count: number; topLevel: number }>): Promise<Map<string, number>> {
  const entries = [...perSession];
  const single = entries.length === 1 ? entries[0]! : null;
  const lastSeq = single
    ? sql<number>`${sql.ref('last_seq')} + ${sql.lit(single[1].count)}`
    : sql<number>`${sql.ref('last_seq')} + ${caseById(entries.map(([id, c]) => [id, c.count]))}`;
  const messageCount = single
    ? sql<number>`${sql.ref('message_count')} + ${sql.lit(single[1].topLevel)}`
    : sql<number>`${sql.ref('message_count')} + ${caseById(entries.map(([id, c]) => [id, c.topLevel]))}`;
  const rows = await trx
    .updateTable(t.table('sessions'))
    .set({ last_seq: lastSeq, message_count: messageCount })
    .where('id', 'in', entries.map(([id]) => id))
    .returning(['id', 'last_seq'])
    .execute();
  return new Map(rows.map((r) => [r.id, Number(r.last_seq)]));
}

/** `CASE id WHEN $1 THEN 3 … END`: ids are bound, the counts are our own integers (inlined so both dialects type them as integers). */
function caseById(entries: readonly (readonly [string, number])[]) {
  return sql<number>`case ${sql.ref('id')} ${sql.join(
    entries.map(([id, n]) => sql`when ${id} then ${sql.lit(n)}`),
    sql` `,
  )} else 0 end`;
}
