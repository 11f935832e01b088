/**
 * How Postgres writes messages and stream flushes: a batch as ONE autocommit statement where it
 * can (see {@link fitsOneStatement}), else the shared transaction path; a flush as one statement.
 */
import { ChatError } from '../../../src/errors.js';
import type { InsertedMessage, NewMessage, StreamFlush } from '../../../src/ports/storage.js';
import { createdMessage } from '../kysely/batch-plan.js';
import type { WritePath, WritePathContext } from '../kysely/dialect.js';
import type { TableNames } from '../kysely/schema.js';
import { bind, defineStatement, memberCheck, type Statement } from '../kysely/statements.js';
import { fitsOneStatement, planOneStatement, type OneStatementShape } from './one-statement-plan.js';

/**
 * The error text by which a one-statement insert rolls itself back when it could not store the
 * whole batch (an invalid integer, SQLSTATE 22P02); the caller then takes the transaction path.
 */
export const NOT_WHOLE = 'parley: batch not stored whole';

const statement = (build: (p: (name: string) => string) => string): Statement => defineStatement('numbered', build);

/** The columns every message insert writes, in the order of its select list. */
const INSERT_COLUMNS = `id, session_id, user_id, agent_id, role, content, metadata, tokens, parent_message_id, reply_count,
  seq, change_seq, client_message_id, is_edited, edited_at, is_deleted, deleted_at, created_at, updated_at`;

/**
 * The result of a one-statement insert whose `ins` CTE returns `id, seq`: its rows when it
 * stored `expected` messages, else an error on purpose (NOT_WHOLE), which rolls all of it back.
 */
const storedWhole = (expected: string) => `select ins.id, ins.seq from ins
      where (select (case when count(*) = ${expected} then '0' else '${NOT_WHOLE}' end)::int = 0 from ins)`;

export function postgresWritePath(context: WritePathContext): WritePath {
  const statements = writeStatements(context.names);
  const { runner } = context;
  return {
    async insertMessages(batch: readonly NewMessage[]): Promise<InsertedMessage[] | null> {
      if (!fitsOneStatement(batch)) return null;
      const { shape, values } = planOneStatement(batch);
      const insert = statements.insert[shape];
      let rows: { id: string; seq: number | string }[];
      try {
        rows = await runner.query(insert, bind(insert, values));
      } catch (error) {
        // Not stored whole (see NOT_WHOLE), a lost race (a concurrent duplicate past the look-up, a
        // deadlock): nothing was written, and the transaction path handles each of those.
        const kind = context.classify(error)?.kind;
        if (kind === 'unique' || kind === 'retry' || String((error as { message?: unknown }).message).includes(NOT_WHOLE)) return null;
        throw error;
      }
      if (rows.length !== batch.length) throw new ChatError('INTERNAL', `Stored ${rows.length} of ${batch.length} messages`);
      const seqs = new Map(rows.map((r) => [r.id, Number(r.seq)]));
      return batch.map((m) => ({ message: createdMessage(m, seqs.get(m.id)!, 0), created: true }));
    },

    async flushStream(streamId: string, flush: StreamFlush): Promise<boolean> {
      const values = context.rows.flushValues(streamId, flush);
      const [row] = await runner.query<{ n: number | string }>(statements.flush, bind(statements.flush, values));
      return Number(row?.n ?? 0) > 0;
    },
  };
}

function writeStatements(t: TableNames): { insert: Record<OneStatementShape, Statement>; flush: Statement } {
  const sessions = t.quoted('sessions');
  const members = t.quoted('session_members');
  const messages = t.quoted('messages');
  const attachments = t.quoted('message_attachments');
  return {
    // Both rows in one statement (data-modifying CTEs run whether read or not); `n` says whether
    // the stream was still running. Nothing of the message is returned: a flush needs none of it.
    flush: statement(
      (p) => `
        with st as (
          update ${t.quoted('streams')} set status = 'streaming', tokens_generated = ${p('tokensGenerated')}::int4,
            bytes_emitted = ${p('bytesEmitted')}::int8, errors = ${p('errors')}::int4,
            first_token_at = ${p('firstTokenAt')}::timestamptz, updated_at = ${p('at')}::timestamptz
          where id = ${p('id')} and status in ('pending', 'streaming')
          returning message_id
        ), msg as (
          update ${messages} m set content = ${p('content')}, parts = coalesce(${p('parts')}::jsonb, m.parts), tokens = ${p('tokens')}::int4, updated_at = ${p('at')}::timestamptz
          from st where m.id = st.message_id
          returning m.id
        )
        select count(*)::int4 as n from st`,
    ),
    insert: {
      // `batch` for one message without attachments: every send when the load is low (one per
      // batch). Without the arrays, the window and the grouping the server spends much less on it.
      one: statement(
        (p) => `
          with b as (
            update ${sessions} set last_seq = last_seq + 1, message_count = message_count + 1
            where id = ${p('session')}
              and ${memberCheck(members, `${p('mustBeMember')}::bool`, p('session'), p('user'))}
            returning last_seq
          ),
          ins as (
            insert into ${messages} (${INSERT_COLUMNS})
            select ${p('id')}, ${p('session')}, ${p('user')}, ${p('agent')}, ${p('role')}, ${p('content')}, ${p('metadata')}::jsonb, ${p('tokens')}::int4, null, 0,
              b.last_seq, b.last_seq, ${p('clientId')}, false, null, false, null, ${p('at')}::timestamptz, ${p('at')}::timestamptz
            from b
            on conflict (session_id, user_id, client_message_id) do nothing
            returning id, seq
          )
          ${storedWhole('1')}`,
      ),

      // `batch` for messages of ONE session without attachments — every batch of a busy session.
      // No per-session counting, locking, window numbering or attachment insert: the seqs are
      // `last_seq - count + ord`, which costs the server less per batch. Same all-or-nothing
      // contract and fallbacks as `batch`.
      session: statement(
        (p) => `
          with b as (
            update ${sessions} s set last_seq = s.last_seq + ${p('count')}::int8, message_count = s.message_count + ${p('count')}::int8
            where s.id = ${p('session')}
              and not exists (
                select 1 from unnest(${p('users')}::text[], ${p('mustBeMembers')}::bool[]) as u(user_id, must_be_member)
                where not ${memberCheck(members, 'u.must_be_member', p('session'), 'u.user_id')}
              )
            returning s.last_seq
          ),
          ins as (
            insert into ${messages} (${INSERT_COLUMNS})
            select v.id, ${p('session')}, v.user_id, v.agent_id, v.role, v.content, v.metadata, v.tokens, null, 0,
              b.last_seq - ${p('count')}::int8 + v.ord, b.last_seq - ${p('count')}::int8 + v.ord, v.client_message_id, false, null, false, null, v.at, v.at
            from b cross join unnest(
              ${p('ids')}::text[], ${p('users')}::text[], ${p('agents')}::text[], ${p('roles')}::text[], ${p('contents')}::text[],
              ${p('metadata')}::jsonb[], ${p('tokens')}::int4[], ${p('clientIds')}::text[], ${p('ats')}::timestamptz[]
            ) with ordinality as v(id, user_id, agent_id, role, content, metadata, tokens, client_message_id, at, ord)
            order by v.ord
            on conflict (session_id, user_id, client_message_id) do nothing
            returning id, seq
          )
          ${storedWhole(`${p('count')}::int8`)}`,
      ),

      // A whole insertMessages batch (top-level messages, sessions existing, client ids new) as ONE
      // autocommit statement with a fixed text: the transaction path costs 6-7 round trips (BEGIN,
      // client-id look-up, lock, bump, an insert whose text varies with the batch size, COMMIT).
      // All or nothing:
      // - `v`: the batch, one row per message, in input order (`ord`).
      // - `locked`: several sessions are locked in ascending id order (every writer's order: no
      //   deadlocks); materialized, and counted before `bumped` updates anything, so every lock is
      //   taken first. One session (every send at low load) needs no lock before its update.
      // - `bumped` → seq = last_seq - n + (rank in its session): the gapless numbers of the batch.
      // - `ins`: a client id already stored (or committed meanwhile by a concurrent send) is skipped
      //   by the unique index itself — no read of the messages table, whose plan a prepared statement
      //   would keep from when the table was small (a cached seq scan of a grown table per send).
      // - `att`: the attachments of the inserted messages.
      // - `requireMembership` senders must be members (`bumped` updates nothing otherwise): the
      //   authorization of a send costs no statement of its own.
      // - Fewer rows inserted than sent (a duplicate, an unknown session, a non-member): the last
      //   line fails the statement on purpose, which rolls all of it back; the caller then takes the transaction
      //   path, which returns the stored duplicates (created: false) or reports the session.
      batch: statement(
        (p) => `
          with v as (
            select * from unnest(
              ${p('ids')}::text[], ${p('sessions')}::text[], ${p('users')}::text[], ${p('agents')}::text[], ${p('roles')}::text[],
              ${p('contents')}::text[], ${p('metadata')}::jsonb[], ${p('tokens')}::int4[], ${p('clientIds')}::text[], ${p('ats')}::timestamptz[],
              ${p('mustBeMembers')}::bool[]
            ) with ordinality as v(id, session_id, user_id, agent_id, role, content, metadata, tokens, client_message_id, at, must_be_member, ord)
          ),
          counts as (select v.session_id, count(*) as n from v group by v.session_id),
          locked as materialized (
            select s.id from ${sessions} s
            where s.id in (select session_id from counts) and (select count(*) from counts) > 1
            order by s.id for update
          ),
          bumped as (
            update ${sessions} s set last_seq = s.last_seq + c.n, message_count = s.message_count + c.n
            from counts c
            where c.session_id = s.id
              and ((select count(*) from counts) = 1 or (select count(*) from locked) = (select count(*) from counts))
              and not exists (select 1 from v where not ${memberCheck(members, 'v.must_be_member', 'v.session_id', 'v.user_id')})
            returning s.id, s.last_seq, c.n
          ),
          numbered as (
            select v.*, b.last_seq - b.n + row_number() over (partition by v.session_id order by v.ord) as seq
            from v join bumped b on b.id = v.session_id
          ),
          ins as (
            insert into ${messages} (${INSERT_COLUMNS})
            select id, session_id, user_id, agent_id, role, content, metadata, tokens, null, 0,
              seq, seq, client_message_id, false, null, false, null, at, at
            from numbered order by ord
            on conflict (session_id, user_id, client_message_id) do nothing
            returning id, seq
          ),
          att as (
            insert into ${attachments} (id, message_id, file_name, file_url, mime_type, file_size, metadata, created_at)
            select a.id, a.message_id, a.file_name, a.file_url, a.mime_type, a.file_size, a.metadata, v.at
            from unnest(
              ${p('attIds')}::text[], ${p('attMessageIds')}::text[], ${p('attFileNames')}::text[], ${p('attFileUrls')}::text[],
              ${p('attMimeTypes')}::text[], ${p('attFileSizes')}::int8[], ${p('attMetadata')}::jsonb[]
            ) with ordinality as a(id, message_id, file_name, file_url, mime_type, file_size, metadata, ord)
            join v on v.id = a.message_id
            where a.message_id in (select id from ins)
            order by a.ord
          )
          ${storedWhole('(select count(*) from v)')}`,
      ),
    },
  };
}
