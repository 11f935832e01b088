/**
 * Postgres text of the hot statements (see kysely/statements.ts). All but search are named
 * (prepared once per connection: no parse, and a cached plan); their plans do not depend on the
 * values (one session, one message, a page by seq), so the generic plan is the right one. They
 * never read a table whose size changes the plan's shape without an index to go by: a prepared
 * statement keeps the plan made when the tables were small until the next ANALYZE.
 */
import { SEARCH_TERM } from '../kysely/dialect.js';
import { MESSAGE_COLUMNS, SESSION_COLUMNS, type TableNames } from '../kysely/schema.js';
import { defineStatement, memberCheck, NOT_WHOLE, type HotStatementSet, type Statement } from '../kysely/statements.js';

const statement = (build: (p: (name: string) => string) => string, options?: { prepared?: boolean }): Statement =>
  defineStatement('numbered', build, options);

/** The columns every message insert writes, in the order of its select list. */
const INSERT_COLUMNS = `id, session_id, user_id, agent_id, role, content, metadata, tokens, parent_message_id, reply_count,
  seq, change_seq, client_message_id, is_edited, edited_at, is_deleted, deleted_at, created_at, updated_at`;

/**
 * The result of a one-statement insert whose `ins` CTE returns `id, seq`: its rows when it
 * stored `expected` messages, else an error on purpose (NOT_WHOLE), which rolls all of it back.
 */
const storedWhole = (expected: string) => `select ins.id, ins.seq from ins
      where (select (case when count(*) = ${expected} then '0' else '${NOT_WHOLE}' end)::int = 0 from ins)`;

export function postgresStatements(t: TableNames): HotStatementSet {
  const sessions = t.quoted('sessions');
  const members = t.quoted('session_members');
  const messages = t.quoted('messages');
  const reactions = t.quoted('message_reactions');
  const attachments = t.quoted('message_attachments');
  const cols = (alias: string) => MESSAGE_COLUMNS.map((c) => `${alias}.${c}`).join(', ');
  // A page's reactions and attachments, aggregated per row of the (already limited) page, so they
  // cost one index probe per message shown and the page is one statement (was three round trips).
  // Each entry leads with `ord` and JS puts them in order: `json_agg(… order by ord)` runs a sort
  // per row (~5% of a 50-row page).
  const extras = (id: string) => `
    (select coalesce(json_agg(json_build_array(r.ord, r.emoji, r.user_id)), '[]')
       from ${reactions} r where r.message_id = ${id}) as reactions,
    (select coalesce(json_agg(json_build_array(a.ord, a.id, a.file_name, a.file_url, a.mime_type, a.file_size, a.metadata, a.created_at)), '[]')
       from ${attachments} a where a.message_id = ${id}) as attachments`;

  const history = (thread: boolean, newest: boolean) =>
    statement(
      (p) => `
      select t.total, ${thread ? 'true' : 't.reader_ok'} as reader_ok, p.*, ${extras('p.id')}
      from (${
        thread
          ? `select tp.reply_count as total from ${messages} tp where tp.id = ${p('parent')} and tp.session_id = ${p('session')}`
          : `select s.message_count as total,
               ${memberCheck(members, `${p('gate')}::bool`, 's.id', p('reader'))} as reader_ok
             from ${sessions} s where s.id = ${p('session')}`
      }) t
      left join (
        select ${cols('m')} from ${messages} m
        where m.session_id = ${p('session')} and m.parent_message_id ${thread ? `= ${p('parent')}` : 'is null'}
          and m.seq < ${p('before')}::int8 and m.seq > ${p('after')}::int8
        order by m.seq ${newest ? 'desc' : 'asc'}
        limit ${p('limit')}::int8 offset ${p('offset')}::int8
      ) p on ${thread ? 'true' : 't.reader_ok'}`,
    );

  // The words of a search, tested the way the GIN index answers it. No `not is_deleted`: a deleted
  // message's generated vector is empty (see the migration), so it never matches anyway, and the
  // extra filter made the count read every hit's heap tuple (the bitmap count otherwise skips
  // all-visible pages): 29 ms against 25 ms for 11k hits.
  const matches = (p: (name: string) => string) =>
    `m.session_id = ${p('session')} and m.search_vector @@ to_tsquery('simple', ${p('query')})`;

  return {
    list: (values) => values,
    // Both rows in one statement (data-modifying CTEs run whether read or not); `n` says whether
    // the stream was still running. Nothing of the message is returned: a flush needs none of it.
    flushStream: {
      stream: statement(
        (p) => `
        with st as (
          update ${t.quoted('streams')} set status = 'streaming', tokens_generated = ${p('tokensGenerated')}::int4,
            bytes_emitted = ${p('bytesEmitted')}::int8, errors = ${p('errors')}::int4,
            first_token_at = ${p('firstTokenAt')}::timestamptz, updated_at = ${p('at')}::timestamptz
          where id = ${p('id')} and status in ('pending', 'streaming')
          returning message_id
        ), msg as (
          update ${messages} m set content = ${p('content')}, tokens = ${p('tokens')}::int4, updated_at = ${p('at')}::timestamptz
          from st where m.id = st.message_id
          returning m.id
        )
        select count(*)::int4 as n from st`,
      ),
    },
    // Terms are single words (letters, marks, digits): no tsquery syntax; still, the query travels
    // as a bound parameter, never inside the SQL text.
    searchQuery: (terms) => (terms.length > 0 && terms.every((term) => SEARCH_TERM.test(term)) ? terms.join(' & ') : null),

    sessionById: statement((p) => `select ${SESSION_COLUMNS.map((c) => `s.${c}`).join(', ')} from ${sessions} s where s.id = ${p('session')}`),
    sessionAccess: statement(
      (p) => `
      select ${SESSION_COLUMNS.map((c) => `s.${c}`).join(', ')},
        mem.user_id as mem_user_id, mem.role as mem_role, mem.last_read_seq as mem_last_read_seq,
        mem.last_delivered_seq as mem_last_delivered_seq, mem.last_seen_at as mem_last_seen_at, mem.joined_at as mem_joined_at
      from ${sessions} s
      left join ${members} mem on mem.session_id = s.id and mem.user_id = ${p('user')}
      where s.id = ${p('session')}`,
    ),
    messageById: statement((p) => `select ${cols('m')}, ${extras('m.id')} from ${messages} m where m.id = ${p('id')}`),
    // `= any`-style: one text whatever the number of ids (an IN list would be a new statement per length).
    extrasOf: statement((p) => `select x.id, ${extras('x.id')} from unnest(${p('ids')}::text[]) as x(id)`),
    history: {
      top: { newest: history(false, true), oldest: history(false, false) },
      thread: { newest: history(true, true), oldest: history(true, false) },
    },
    changesSince: statement(
      (p) => `
      select p.*, ${extras('p.id')}
      from (
        select ${cols('m')} from ${messages} m
        where m.session_id = ${p('session')} and m.change_seq > ${p('after')}::int8
        order by m.change_seq limit ${p('limit')}::int8
      ) p`,
    ),

    // Search: the count first, then the page by the plan the count calls for (chosen in
    // kysely-storage.ts). The previous form, one statement that gathered every hit into a
    // materialized CTE and sorted them with `count(*) over ()`, was 1.5× the raw page + count for
    // common words ("the": 113k hits in a 241k-row session, where a walk reads 36 rows). A single
    // statement holding both page plans behind one-time filters on the count was tried: planning
    // it took 0.5 ms (three scans of messages to plan), more than the round trip it saved, and
    // its estimated cost crossed jit_above_cost for common words.
    // All unnamed: planned with their values every time, since how common the words are decides
    // the plan and a generic plan would not know (nor how big the session is).
    // Also checks the reader (`gate`: must `reader` be a member?) — no row for an unknown session.
    // Counts at most `cap` matches (the engine's maxSearchCount + 1): for a common word the planner
    // then walks the session until it has them (~1 ms) instead of visiting every hit (230 ms for 113k).
    searchCount: statement(
      (p) => `
      select t.size, t.reader_ok,
        case when t.reader_ok then (select count(*) from (select 1 from ${messages} m where ${matches(p)} limit ${p('cap')}::int8) hits) else 0 end as total
      from (
        select s.last_seq as size,
          ${memberCheck(members, `${p('gate')}::bool`, 's.id', p('reader'))} as reader_ok
        from ${sessions} s where s.id = ${p('session')}
      ) t`,
      { prepared: false },
    ),
    // When a walk of the session would read few rows: the planner's own plan for `order by seq desc
    // limit`, as a raw query would run it (the walk for words it knows to be common).
    searchWalk: statement(
      (p) => `
      select p.*, ${extras('p.id')}
      from (
        select ${cols('m')} from ${messages} m where ${matches(p)}
        order by m.seq desc limit ${p('limit')}::int8 offset ${p('offset')}::int8
      ) p`,
      { prepared: false },
    ),
    // Fenced (`offset 0`) so it cannot turn into a walk: the hits by the full-text (and/or
    // session) bitmap, then the newest of them.
    searchGather: statement(
      (p) => `
      select p.*, ${extras('p.id')}
      from (
        select h.* from (select ${cols('m')} from ${messages} m where ${matches(p)} offset 0) h
        order by h.seq desc limit ${p('limit')}::int8 offset ${p('offset')}::int8
      ) p`,
      { prepared: false },
    ),

    // `insertBatch` for one message without attachments: every send when the load is low (one per
    // batch). Without the arrays, the window and the grouping, Postgres spends 233 µs on it against
    // 380-420 µs for the batch form (0.53 ms against 0.67 ms per send, one at a time).
    insertOne: statement(
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

    // `insertBatch` for messages of ONE session without attachments — every batch of a busy
    // session. No per-session counting, locking, window numbering or attachment insert: the seqs
    // are `last_seq - count + ord`. Postgres CPU per batch (sequential, idle machine, alternating
    // runs): 0.68-0.88 against 1.05-1.28 ms for 4 messages, 1.64-1.80 against 2.01-2.30 ms for 10.
    // Same all-or-nothing contract and fallbacks as insertBatch.
    insertSessionBatch: statement(
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
    // client-id look-up, lock, bump, an insert whose text varies with the batch size, COMMIT):
    // 2.8 ms against 1.4 ms for a batch of 9 on the bench. All or nothing:
    // - `v`: the batch, one row per message, in input order (`ord`).
    // - `locked`: several sessions are locked in ascending id order (every writer's order: no
    //   deadlocks); materialized, and counted before `bumped` updates anything, so every lock is
    //   taken first. One session (every send at low load) needs no lock before its update.
    // - `bumped` → seq = last_seq - n + (rank in its session): the gapless numbers of the batch.
    // - `ins`: a client id already stored (or committed meanwhile by a concurrent send) is skipped
    //   by the unique index itself — no read of the messages table, whose plan a prepared statement
    //   would keep from when the table was small (a cached seq scan took 4 ms per send at 25k rows).
    // - `att`: the attachments of the inserted messages.
    // - `requireMembership` senders must be members (`bumped` updates nothing otherwise): the
    //   authorization of a send costs no statement of its own.
    // - Fewer rows inserted than sent (a duplicate, an unknown session, a non-member): the last line fails the
    //   statement on purpose, which rolls all of it back; the caller then takes the transaction
    //   path, which returns the stored duplicates (created: false) or reports the session.
    insertBatch: statement(
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
  };
}
