/**
 * How SQLite writes messages and stream flushes: each as cached statements in ONE synchronous
 * `BEGIN IMMEDIATE` transaction (the runner's), instead of several awaited Kysely round trips
 * through the async driver. Every batch is taken here; the shared transaction path is not needed.
 */
import { ChatError } from '../../../src/errors.js';
import type { Message } from '../../../src/model.js';
import { assertSessionAccess, type InsertedMessage, type NewMessage, type StreamFlush } from '../../../src/ports/storage.js';
import { clientKey, countPerSession, memberKey, needsMembership, numberMessages, outsideParentBumps, planBatch, resultsOf, uniqueBy } from '../kysely/batch-plan.js';
import type { WritePath, WritePathContext } from '../kysely/dialect.js';
import { ATTACHMENT_COLUMNS, MESSAGE_COLUMNS, type MessageRow, type TableNames } from '../kysely/schema.js';
import { bind, defineStatement, type ExtrasColumns, type Statement, type SyncStatements } from '../kysely/statements.js';

const statement = (build: (p: (name: string) => string) => string): Statement => defineStatement('positional', build, { prepared: false });

/** Pages of FTS5 segments merged, at most, per write transaction (see `transactionEnd`). */
export const FTS_MERGE_PAGES = 32;

export function sqliteWritePath(context: WritePathContext): WritePath {
  const { runner, rows, reads } = context;
  const transaction = runner.transaction;
  if (!transaction) throw new TypeError('The SQLite write path needs a statement runner with synchronous transactions');
  const s = writeStatements(context.names);

  /** insertMessages inside the runner's transaction (BEGIN IMMEDIATE: no other writer until it returns). */
  const insert = (tx: SyncStatements, batch: readonly NewMessage[]): InsertedMessage[] => {
    for (const m of uniqueBy(batch.filter(needsMembership), memberKey)) {
      const [row] = tx.all<{ session: number; member: number }>(s.membership, bind(s.membership, { session: m.sessionId, user: m.userId }));
      assertSessionAccess(m.sessionId, m.userId, Boolean(row?.session), Boolean(row?.member));
    }
    const existing = new Map<string, MessageRow>();
    for (const k of uniqueBy(
      batch.filter((m) => m.clientMessageId !== null),
      clientKey,
    )) {
      const [row] = tx.all<MessageRow>(s.lookupClientId, bind(s.lookupClientId, { session: k.sessionId, user: k.userId, client: k.clientMessageId }));
      if (row) existing.set(clientKey(k), row);
    }
    const plan = planBatch(batch, existing);
    let created: Message[] = [];
    if (plan.toCreate.length > 0) {
      const lastSeq = new Map<string, number>();
      for (const [id, c] of countPerSession(plan.toCreate)) {
        const [row] = tx.all<{ last_seq: number }>(s.bumpSession, bind(s.bumpSession, { session: id, count: c.count, top: c.topLevel }));
        if (!row) throw new ChatError('NOT_FOUND', `Session ${id} not found`);
        lastSeq.set(id, Number(row.last_seq));
      }
      created = numberMessages(plan.toCreate, lastSeq);
      for (const message of created) tx.run(s.insertMessage, bind(s.insertMessage, rows.messageValues(message)));
      for (const a of created.flatMap((m) => m.attachments)) tx.run(s.insertAttachment, bind(s.insertAttachment, rows.attachmentValues(a)));
      for (const [id, n] of outsideParentBumps(created, plan.toCreate)) tx.run(s.bumpReplies, bind(s.bumpReplies, { id, n }));
      tx.run(s.mergeSearchIndex, []);
    }
    const stored = new Map<string, Message>();
    if (existing.size > 0) {
      const found = [...existing.values()];
      const extras = tx.all<{ id: string } & ExtrasColumns>(reads.extrasOf, bind(reads.extrasOf, { ids: reads.list(found.map((r) => r.id)) }));
      const byId = new Map(extras.map((e) => [e.id, e]));
      for (const row of found) {
        stored.set(clientKey({ sessionId: row.session_id, userId: row.user_id, clientMessageId: row.client_message_id }), rows.messageWith({ ...row, ...byId.get(row.id)! }));
      }
    }
    return resultsOf(plan.slots, created, stored);
  };

  return {
    transactionEnd: s.mergeSearchIndex,
    insertMessages: (batch) => transaction((tx) => insert(tx, batch)),
    flushStream(streamId: string, flush: StreamFlush): Promise<boolean> {
      const values = rows.flushValues(streamId, flush);
      return transaction((tx): boolean => {
        if (tx.run(s.flushStream, bind(s.flushStream, values)) === 0) return false; // not running (or gone)
        tx.run(s.flushMessage, bind(s.flushMessage, values));
        tx.run(s.mergeSearchIndex, []);
        return true;
      });
    },
  };
}

function writeStatements(t: TableNames) {
  const sessions = t.quoted('sessions');
  const members = t.quoted('session_members');
  const messages = t.quoted('messages');
  const streams = t.quoted('streams');
  const fts = t.quoted('messages_fts');
  const cols = MESSAGE_COLUMNS.map((c) => `m.${c}`).join(', ');
  return {
    /** `{ session, user }` → `{ session, member }`: whether the session exists and the user is a member (0/1). */
    membership: statement(
      (p) =>
        `select exists(select 1 from ${sessions} where id = ${p('session')}) as session, exists(select 1 from ${members} where session_id = ${p('session')} and user_id = ${p('user')}) as member`,
    ),
    /** `{ session, user, client }` → message columns (user compared with IS: null matches null). */
    lookupClientId: statement(
      (p) => `select ${cols} from ${messages} m where m.session_id = ${p('session')} and m.user_id is ${p('user')} and m.client_message_id = ${p('client')}`,
    ),
    /** `{ session, count, top }` → `last_seq` after adding `count` (and `top` to message_count). */
    bumpSession: statement(
      (p) => `update ${sessions} set last_seq = last_seq + ${p('count')}, message_count = message_count + ${p('top')} where id = ${p('session')} returning last_seq`,
    ),
    insertMessage: statement((p) => `insert into ${messages} (${MESSAGE_COLUMNS.join(', ')}) values (${MESSAGE_COLUMNS.map((c) => p(c)).join(', ')})`),
    insertAttachment: statement(
      (p) => `insert into ${t.quoted('message_attachments')} (${ATTACHMENT_COLUMNS.join(', ')}) values (${ATTACHMENT_COLUMNS.map((c) => p(c)).join(', ')})`,
    ),
    /** `{ id, n }`. */
    bumpReplies: statement((p) => `update ${messages} set reply_count = reply_count + ${p('n')} where id = ${p('id')}`),
    /** A flush: the stream row first (1 row changed: it was running), then the message, in one transaction. */
    flushStream: statement(
      (p) => `
        update ${streams} set status = 'streaming', tokens_generated = ${p('tokensGenerated')}, bytes_emitted = ${p('bytesEmitted')},
          errors = ${p('errors')}, first_token_at = ${p('firstTokenAt')}, updated_at = ${p('at')}
        where id = ${p('id')} and status in ('pending', 'streaming')`,
    ),
    flushMessage: statement(
      (p) => `
        update ${messages} set content = ${p('content')}, parts = coalesce(${p('parts')}, parts), tokens = ${p('tokens')}, updated_at = ${p('at')}
        where id = (select message_id from ${streams} where id = ${p('id')})`,
    ),
    // FTS5's automatic merging is off (see the search merge migration): left on, it merges in
    // large units inside whichever commit crosses its threshold, and a send stalls behind it every
    // few seconds under load. This step merges at most FTS_MERGE_PAGES pages per write transaction
    // (and only when a level has 4+ segments or a merge is under way): the same index size and
    // search times, without the stalls (bench/results).
    mergeSearchIndex: statement(() => `insert into ${fts} (${fts}, rank) values ('merge', ${FTS_MERGE_PAGES})`),
  };
}
