/**
 * SQLite's SQL flavour for the shared read statements (kysely/read-statements.ts), run as cached
 * better-sqlite3 statements (much cheaper than through Kysely, which prepares afresh and queues
 * behind an async lock on every call).
 */
import { SEARCH_TERM } from '../kysely/dialect.js';
import type { SqlFlavour } from '../kysely/read-statements.js';

export const sqliteFlavour: SqlFlavour = {
  params: 'positional',
  prepared: false,
  int: (param) => param,
  bool: (param) => param,
  jsonAgg: (values) => `json_group_array(json_array(${values.join(', ')}))`,
  // A JSON array, so the text does not depend on the number of ids.
  listRows: (param) => ({ from: `json_each(${param}) x`, value: 'x.value' }),
  list: (values) => JSON.stringify(values),
  searchQuery: (terms) =>
    // Each term an FTS5 string ("…", quotes doubled): no input is read as FTS syntax.
    terms.length > 0 && terms.every((term) => SEARCH_TERM.test(term)) ? terms.map((term) => `"${term.replaceAll('"', '""')}"`).join(' ') : null,
  // The FTS5 rowids of the messages containing every word; the session's own index does the rest.
  // For a walk, `+m.ord`: the rowid is not used to look messages up, so SQLite walks the session's
  // seq index (newest first) and tests each message against the hits. For a gather,
  // `+m.session_id`: no walk of the session; the hits are looked up by rowid, then sorted.
  searchMatches: (p, plan, t) => {
    const fts = t.quoted('messages_fts');
    const session = plan === 'gather' ? '+m.session_id' : 'm.session_id';
    const ord = plan === 'walk' ? '+m.ord' : 'm.ord';
    return `${session} = ${p('session')} and m.is_deleted = 0 and ${ord} in (select rowid from ${fts} where ${fts} match ${p('query')})`;
  },
  fenceGather: false,
};
