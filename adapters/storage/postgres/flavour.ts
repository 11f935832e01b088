/**
 * Postgres' SQL flavour for the shared read statements (kysely/read-statements.ts). All but search
 * are named (prepared once per connection: no parse, and a cached plan); their plans do not depend
 * on the values (one session, one message, a page by seq), so the generic plan is the right one.
 * They never read a table whose size changes the plan's shape without an index to go by: a
 * prepared statement keeps the plan made when the tables were small until the next ANALYZE.
 * Search runs unnamed, planned with its values every time: how common the words are decides the
 * plan, and a generic plan would not know (nor how big the session is).
 */
import { SEARCH_TERM } from '../kysely/dialect.js';
import type { SqlFlavour } from '../kysely/read-statements.js';

export const postgresFlavour: SqlFlavour = {
  params: 'numbered',
  prepared: true,
  int: (param) => `${param}::int8`,
  bool: (param) => `${param}::bool`,
  // json_agg of no rows is NULL.
  jsonAgg: (values) => `coalesce(json_agg(json_build_array(${values.join(', ')})), '[]')`,
  // A bound `text[]`: one text whatever the number of ids (an IN list would be a new statement per length).
  listRows: (param) => ({ from: `unnest(${param}::text[]) as x(id)`, value: 'x.id' }),
  list: (values) => values,
  // Terms are single words (letters, marks, digits): no tsquery syntax; still, the query travels
  // as a bound parameter, never inside the SQL text.
  searchQuery: (terms) => (terms.length > 0 && terms.every((term) => SEARCH_TERM.test(term)) ? terms.join(' & ') : null),
  // The words, tested the way the GIN index answers it, whatever the plan. No `not is_deleted`: a
  // deleted message's vector is empty (see the migrations), so it never matches anyway, and the
  // extra filter made the count read every hit's heap tuple (the bitmap count otherwise skips
  // all-visible pages).
  searchMatches: (p) => `m.session_id = ${p('session')} and m.search_vector @@ to_tsquery('simple', ${p('query')})`,
  // A single statement holding both page plans behind one-time filters on the count cost more to
  // plan than the round trip it saved; the fence keeps the gather from turning into a walk.
  fenceGather: true,
};
