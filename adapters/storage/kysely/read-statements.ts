/**
 * The hot read statements (see kysely/statements.ts), written once for every SQL database: what
 * differs between them — casts, JSON aggregation, how a list is bound, how full-text search
 * matches — comes from the dialect's {@link SqlFlavour}.
 */
import { MESSAGE_COLUMNS, SESSION_COLUMNS, type TableNames } from './schema.js';
import { defineStatement, memberCheck, type HotStatementSet, type Statement } from './statements.js';

export type Param = (name: string) => string;

/** How a search page is found (see `HotStatementSet.searchWalk` / `searchGather`). */
export type SearchPlan = 'count' | 'walk' | 'gather';

/** The small differences of SQL text between databases, as the read statements need them. */
export interface SqlFlavour {
  /** `'numbered'` (`$1`, a name used twice is one parameter) or `'positional'` (`?` per occurrence). */
  readonly params: 'numbered' | 'positional';
  /**
   * Whether statements are prepared by name on the server (search never is: how common its words
   * are decides its plan).
   */
  readonly prepared: boolean;
  /** A bound integer / boolean, cast where the database needs to know its type. */
  int(param: string): string;
  bool(param: string): string;
  /** The JSON array of `json_array(…values)` over the rows of a subquery, `[]` when there are none. */
  jsonAgg(values: readonly string[]): string;
  /** A FROM item: the strings of a bound list (see {@link list}), one row each, and the expression of one. */
  listRows(param: string): { from: string; value: string };
  /** How a list of strings is bound, so a statement's text never depends on the list's length. */
  list(values: readonly unknown[]): unknown;
  /** The bound search value for the terms; null when nothing can match. */
  searchQuery(terms: readonly string[]): string | null;
  /**
   * The condition on `m` (messages) for the session's non-deleted messages matching the bound
   * `query`, written for a plan: a count, a walk of the session's seq index (newest first), or a
   * gather of the full-text hits that must not become a walk.
   */
  searchMatches(p: Param, plan: SearchPlan, names: TableNames): string;
  /** Whether the gather is fenced in a subquery (`offset 0`) so the planner cannot turn it into a walk. */
  readonly fenceGather: boolean;
}

export function readStatements(t: TableNames, f: SqlFlavour): HotStatementSet {
  const statement = (build: (p: Param) => string, options: { prepared?: boolean } = {}): Statement =>
    defineStatement(f.params, build, { prepared: f.prepared && options.prepared !== false });
  const search = (build: (p: Param) => string) => statement(build, { prepared: false });
  const sessions = t.quoted('sessions');
  const members = t.quoted('session_members');
  const messages = t.quoted('messages');
  const cols = (alias: string) => MESSAGE_COLUMNS.map((c) => `${alias}.${c}`).join(', ');
  const sessionCols = SESSION_COLUMNS.map((c) => `s.${c}`).join(', ');
  // A page's reactions and attachments, aggregated per row of the (already limited) page, so they
  // cost one index probe per message shown and the page is one statement. Each entry leads with
  // `ord` and JS puts them in order: aggregating in order would sort once per row.
  const extras = (id: string) => `
    (select ${f.jsonAgg(['r.ord', 'r.emoji', 'r.user_id'])}
       from ${t.quoted('message_reactions')} r where r.message_id = ${id}) as reactions,
    (select ${f.jsonAgg(['a.ord', 'a.id', 'a.file_name', 'a.file_url', 'a.mime_type', 'a.file_size', 'a.metadata', 'a.created_at'])}
       from ${t.quoted('message_attachments')} a where a.message_id = ${id}) as attachments`;
  const readerOk = (p: Param) => `${memberCheck(members, f.bool(p('gate')), 's.id', p('reader'))} as reader_ok`;
  const page = (p: Param) => `limit ${f.int(p('limit'))} offset ${f.int(p('offset'))}`;

  const history = (thread: boolean, newest: boolean) =>
    statement(
      (p) => `
      select t.total, ${thread ? 'true' : 't.reader_ok'} as reader_ok, p.*, ${extras('p.id')}
      from (${
        thread
          ? `select tp.reply_count as total from ${messages} tp where tp.id = ${p('parent')} and tp.session_id = ${p('session')}`
          : `select s.message_count as total, ${readerOk(p)} from ${sessions} s where s.id = ${p('session')}`
      }) t
      left join (
        select ${cols('m')} from ${messages} m
        where m.session_id = ${p('session')} and m.parent_message_id ${thread ? `= ${p('parent')}` : 'is null'}
          and m.seq < ${f.int(p('before'))} and m.seq > ${f.int(p('after'))}
        order by m.seq ${newest ? 'desc' : 'asc'}
        ${page(p)}
      ) p on ${thread ? 'true' : 't.reader_ok'}`,
    );

  return {
    list: (values) => f.list(values),
    searchQuery: (terms) => f.searchQuery(terms),
    sessionById: statement((p) => `select ${sessionCols} from ${sessions} s where s.id = ${p('session')}`),
    sessionAccess: statement(
      (p) => `
      select ${sessionCols},
        mem.user_id as mem_user_id, mem.role as mem_role, mem.last_read_seq as mem_last_read_seq,
        mem.last_delivered_seq as mem_last_delivered_seq, mem.last_seen_at as mem_last_seen_at, mem.joined_at as mem_joined_at
      from ${sessions} s
      left join ${members} mem on mem.session_id = s.id and mem.user_id = ${p('user')}
      where s.id = ${p('session')}`,
    ),
    messageById: statement((p) => `select ${cols('m')}, ${extras('m.id')} from ${messages} m where m.id = ${p('id')}`),
    extrasOf: statement((p) => {
      const ids = f.listRows(p('ids'));
      return `select ${ids.value} as id, ${extras(ids.value)} from ${ids.from}`;
    }),
    history: {
      top: { newest: history(false, true), oldest: history(false, false) },
      thread: { newest: history(true, true), oldest: history(true, false) },
    },
    changesSince: statement(
      (p) => `
      select p.*, ${extras('p.id')}
      from (
        select ${cols('m')} from ${messages} m
        where m.session_id = ${p('session')} and m.change_seq > ${f.int(p('after'))}
        order by m.change_seq limit ${f.int(p('limit'))}
      ) p`,
    ),
    // Search: the count first, then the page by the plan the count calls for (chosen in
    // kysely-storage.ts). The count also checks the reader (`gate`: must `reader` be a member?),
    // gives no row for an unknown session, and counts at most `cap` matches (the engine's
    // maxSearchCount + 1): for a common word the database then walks the session until it has
    // them instead of visiting every hit.
    searchCount: search(
      (p) => `
      select t.size, t.reader_ok,
        case when t.reader_ok then (select count(*) from (select 1 from ${messages} m where ${f.searchMatches(p, 'count', t)} limit ${f.int(p('cap'))}) hits) else 0 end as total
      from (select s.last_seq as size, ${readerOk(p)} from ${sessions} s where s.id = ${p('session')}) t`,
    ),
    // When a walk of the session would read few rows: the planner's own plan for `order by seq
    // desc limit`, as a raw query would run it (the walk for words it knows to be common).
    searchWalk: search(
      (p) => `
      select p.*, ${extras('p.id')}
      from (
        select ${cols('m')} from ${messages} m where ${f.searchMatches(p, 'walk', t)}
        order by m.seq desc ${page(p)}
      ) p`,
    ),
    // The hits by the full-text index, then the newest of them: never a walk of the session.
    searchGather: search((p) => {
      const hits = `select ${cols('m')} from ${messages} m where ${f.searchMatches(p, 'gather', t)}`;
      return `
      select p.*, ${extras('p.id')}
      from (
        ${f.fenceGather ? `select h.* from (${hits} offset 0) h order by h.seq desc` : `${hits} order by m.seq desc`} ${page(p)}
      ) p`;
    }),
  };
}
