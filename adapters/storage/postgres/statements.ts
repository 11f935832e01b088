/**
 * Postgres text of the hot statements (see kysely/statements.ts). All but search are named
 * (prepared once per connection: no parse, and a cached plan); their plans do not depend on the
 * values (one session, one message, a page by seq), so the generic plan is the right one. They
 * never read a table whose size changes the plan's shape without an index to go by: a prepared
 * statement keeps the plan made when the tables were small until the next ANALYZE.
 */
import { SEARCH_TERM } from '../kysely/dialect.js';
import { MESSAGE_COLUMNS, SESSION_COLUMNS, type TableNames } from '../kysely/schema.js';
import { defineStatement, memberCheck, type HotStatementSet, type Statement } from '../kysely/statements.js';

const statement = (build: (p: (name: string) => string) => string, options?: { prepared?: boolean }): Statement =>
  defineStatement('numbered', build, options);

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
  };
}
