/**
 * SQLite text of the hot statements (see kysely/statements.ts), run as cached better-sqlite3
 * statements: 4 µs for the access check against 50 µs through Kysely (which prepares afresh and
 * queues behind an async lock on every call).
 */
import { SEARCH_TERM } from '../kysely/dialect.js';
import { MESSAGE_COLUMNS, SESSION_COLUMNS, type TableNames } from '../kysely/schema.js';
import { defineStatement, memberCheck, type HotStatementSet, type Statement } from '../kysely/statements.js';

const statement = (build: (p: (name: string) => string) => string): Statement => defineStatement('positional', build, { prepared: false });

export function sqliteStatements(t: TableNames): HotStatementSet {
  const sessions = t.quoted('sessions');
  const members = t.quoted('session_members');
  const messages = t.quoted('messages');
  const reactions = t.quoted('message_reactions');
  const attachments = t.quoted('message_attachments');
  const fts = t.quoted('messages_fts');
  const cols = (alias: string) => MESSAGE_COLUMNS.map((c) => `${alias}.${c}`).join(', ');
  // Aggregated per row of the (already limited) page: a page is one statement. Entries lead with
  // `ord`; JS puts them in order, as for Postgres.
  const extras = (id: string) => `
    (select json_group_array(json_array(r.ord, r.emoji, r.user_id))
       from ${reactions} r where r.message_id = ${id}) as reactions,
    (select json_group_array(json_array(a.ord, a.id, a.file_name, a.file_url, a.mime_type, a.file_size, a.metadata, a.created_at))
       from ${attachments} a where a.message_id = ${id}) as attachments`;

  const history = (thread: boolean, newest: boolean) =>
    statement(
      (p) => `
      select t.total, ${thread ? 'true' : 't.reader_ok'} as reader_ok, p.*, ${extras('p.id')}
      from (${
        thread
          ? `select tp.reply_count as total from ${messages} tp where tp.id = ${p('parent')} and tp.session_id = ${p('session')}`
          : `select s.message_count as total,
               ${memberCheck(members, p('gate'), 's.id', p('reader'))} as reader_ok
             from ${sessions} s where s.id = ${p('session')}`
      }) t
      left join (
        select ${cols('m')} from ${messages} m
        where m.session_id = ${p('session')} and m.parent_message_id ${thread ? `= ${p('parent')}` : 'is null'}
          and m.seq < ${p('before')} and m.seq > ${p('after')}
        order by m.seq ${newest ? 'desc' : 'asc'}
        limit ${p('limit')} offset ${p('offset')}
      ) p on ${thread ? 'true' : 't.reader_ok'}`,
    );

  // The FTS5 rowids of the messages containing every word; the session's own index does the rest.
  const matches = (p: (name: string) => string) =>
    `m.session_id = ${p('session')} and m.is_deleted = 0 and m.ord in (select rowid from ${fts} where ${fts} match ${p('query')})`;

  return {
    list: (values) => JSON.stringify(values),
    searchQuery: (terms) =>
      // Each term an FTS5 string ("…", quotes doubled): no input is read as FTS syntax.
      terms.length > 0 && terms.every((term) => SEARCH_TERM.test(term)) ? terms.map((term) => `"${term.replaceAll('"', '""')}"`).join(' ') : null,

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
    // A JSON array, so the text does not depend on the number of ids.
    extrasOf: statement((p) => `select x.value as id, ${extras('x.value')} from json_each(${p('ids')}) x`),
    history: {
      top: { newest: history(false, true), oldest: history(false, false) },
      thread: { newest: history(true, true), oldest: history(true, false) },
    },
    changesSince: statement(
      (p) => `
      select p.*, ${extras('p.id')}
      from (
        select ${cols('m')} from ${messages} m
        where m.session_id = ${p('session')} and m.change_seq > ${p('after')}
        order by m.change_seq limit ${p('limit')}
      ) p`,
    ),
    // At most `cap` matches (the engine's maxSearchCount + 1), and the reader check, as for Postgres.
    searchCount: statement(
      (p) => `
      select t.size, t.reader_ok,
        case when t.reader_ok then (select count(*) from (select 1 from ${messages} m where ${matches(p)} limit ${p('cap')}) hits) else 0 end as total
      from (
        select s.last_seq as size,
          ${memberCheck(members, p('gate'), 's.id', p('reader'))} as reader_ok
        from ${sessions} s where s.id = ${p('session')}
      ) t`,
    ),
    // `+m.ord`: the rowid is not used to look messages up, so SQLite walks the session's seq index
    // (newest first) and tests each message against the FTS hits.
    searchWalk: statement(
      (p) => `
      select p.*, ${extras('p.id')}
      from (
        select ${cols('m')} from ${messages} m
        where m.session_id = ${p('session')} and m.is_deleted = 0 and +m.ord in (select rowid from ${fts} where ${fts} match ${p('query')})
        order by m.seq desc limit ${p('limit')} offset ${p('offset')}
      ) p`,
    ),
    // `+m.session_id`: no walk of the session; the FTS hits are looked up by rowid, then sorted.
    searchGather: statement(
      (p) => `
      select p.*, ${extras('p.id')}
      from (
        select ${cols('m')} from ${messages} m
        where +m.session_id = ${p('session')} and m.is_deleted = 0 and m.ord in (select rowid from ${fts} where ${fts} match ${p('query')})
        order by m.seq desc limit ${p('limit')} offset ${p('offset')}
      ) p`,
    ),
  };
}
