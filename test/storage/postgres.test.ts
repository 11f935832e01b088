import { Kysely, PostgresDialect, type CompiledQuery } from 'kysely';
import { isChatError } from 'parley-chat';
import { newId } from '../../src/ids.js';
import { PostgresStorage } from 'parley-chat/postgres';
import { describeStorageAdapter } from 'parley-chat/testing';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { dropSchema, PG_URL, postgresAvailable, uniqueSchema } from '../support/postgres.js';
import { caught, draft, newSession } from '../support/storage-fixtures.js';

// Under CI a missing Postgres throws here (the file fails); locally the suites are skipped with the reason.
const pgUp = await postgresAvailable();
const skip = pgUp ? undefined : `Postgres unreachable at ${PG_URL}`;

const schemas: string[] = [];
const freshSchema = () => {
  const schema = uniqueSchema('parley_t');
  schemas.push(schema);
  return schema;
};
afterAll(async () => {
  if (pgUp) for (const schema of schemas) await dropSchema(schema);
});

let conformanceSchema = '';
describeStorageAdapter({
  name: 'postgres',
  create: () => new PostgresStorage({ connectionString: PG_URL, schema: (conformanceSchema = uniqueSchema('parley_t')) }),
  destroy: () => dropSchema(conformanceSchema),
  ...(skip !== undefined && { skip }),
});


/** A storage over a Kysely that records every statement it runs (BEGIN/COMMIT are not logged by Kysely). */
function recordingStorage(pool: pg.Pool, schema: string) {
  const queries: CompiledQuery[] = [];
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      if (event.level === 'query') queries.push(event.query);
    },
  });
  const storage = new PostgresStorage({ db, schema });
  return { storage, queries, db };
}

describe.skipIf(skip !== undefined)(`PostgresStorage${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const admin = () => new pg.Pool({ connectionString: PG_URL, max: 2 });

  it('migrations are idempotent, and init() from four separate pools at once on a fresh schema all succeed (migrated once)', async () => {
    const schema = freshSchema();
    const instances = Array.from({ length: 4 }, () => new PostgresStorage({ connectionString: PG_URL, schema }));
    try {
      await Promise.all(instances.map((s) => s.init()));
      await Promise.all(instances.map((s) => s.init()));
      const pool = admin();
      const { rows } = await pool.query(`select name from "${schema}".chat_migrations`);
      // The full-text index keeps a small GIN pending list: a send never merges a 4 MB one inside its commit.
      const { rows: index } = await pool.query(
        `select c.reloptions from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = 'chat_messages_search_idx'`,
        [schema],
      );
      await pool.end();
      expect(rows.map((r) => r.name)).toEqual(['0001_initial', '0002_streams', '0003_search_upgrade', '0004_search_index_tuning', '0005_search_merge_schedule', '0006_search_vector_trigger', '0007_users', '0008_message_parts']);
      expect(index[0].reloptions).toEqual(['gin_pending_list_limit=64']);

      // A database migrated before 0004 (the index at its defaults) gets the setting on its next init().
      const pool2 = admin();
      await pool2.query(`alter index "${schema}".chat_messages_search_idx reset (gin_pending_list_limit)`);
      await pool2.query(`drop table "${schema}".chat_users`);
      await pool2.query(`alter table "${schema}".chat_messages drop column parts`);
      await pool2.query(`delete from "${schema}".chat_migrations where name in ('0004_search_index_tuning', '0005_search_merge_schedule', '0006_search_vector_trigger', '0007_users', '0008_message_parts')`);
      await instances[1]!.init();
      const upgraded = await pool2.query(
        `select c.reloptions from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = 'chat_messages_search_idx'`,
        [schema],
      );
      await pool2.end();
      expect(upgraded.rows[0].reloptions).toEqual(['gin_pending_list_limit=64']);
      const session = await newSession(instances[0]!);
      const results = await Promise.all(instances.flatMap((s) => Array.from({ length: 10 }, () => s.insertMessages([draft(session.id)]))));
      expect(results.map((r) => r[0]!.message.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    } finally {
      await Promise.all(instances.map((s) => s.close()));
    }
  });

  it('migration 0006 moves the search vector to a trigger: vectors stored before it still match, new and edited messages match, a deleted one never', async () => {
    const schema = freshSchema();
    const storage = new PostgresStorage({ connectionString: PG_URL, schema });
    const pool = admin();
    const m = `"${schema}".chat_messages`;
    try {
      await storage.init();
      // A schema as 0005 left it: the generated column (translate of the punctuation), no trigger.
      await pool.query(`drop trigger chat_messages_search_vector on ${m}; drop function "${schema}".chat_messages_search_vector();
        alter table ${m} drop column search_vector;
        alter table ${m} add column search_vector tsvector generated always as (case when is_deleted then ''::tsvector
          else to_tsvector('simple'::regconfig, translate(content, E'!"#$%&\\'()*+,-./:;<=>?@[\\\\]^_\`{|}~', '                                ')) end) stored;
        create index chat_messages_search_idx on ${m} using gin (search_vector);
        drop table "${schema}".chat_users;
        alter table ${m} drop column parts;
        delete from "${schema}".chat_migrations where name in ('0006_search_vector_trigger', '0007_users', '0008_message_parts');`);
      const session = await newSession(storage);
      const [before] = await storage.insertMessages([draft(session.id, { content: 'stored before: e-mail bob@example.com, path a/b.c' })]);
      const vectorBefore = (await pool.query(`select search_vector::text as v from ${m} where id = $1`, [before!.message.id])).rows[0].v;

      await storage.close();
      const upgraded = new PostgresStorage({ connectionString: PG_URL, schema });
      await upgraded.init();
      const generated = await pool.query(`select attgenerated from pg_attribute where attrelid = '${m}'::regclass and attname = 'search_vector'`);
      expect(generated.rows[0].attgenerated).toBe('');
      const search = async (term: string) => (await upgraded.searchMessages(session.id, [term], { limit: 10, offset: 0, maxCount: 1000 })).messages.map((x) => x.id);
      expect(await search('example')).toEqual([before!.message.id]);
      // A new message with the same text gets the same vector as the generated column gave.
      const [after] = await upgraded.insertMessages([draft(session.id, { content: 'stored before: e-mail bob@example.com, path a/b.c' })]);
      expect((await pool.query(`select search_vector::text as v from ${m} where id = $1`, [after!.message.id])).rows[0].v).toBe(vectorBefore);
      await upgraded.updateMessage(after!.message.id, { content: 'now about zebras', at: new Date() }, { bumpSeq: true });
      expect(await search('zebras')).toEqual([after!.message.id]);
      expect(await search('example')).toEqual([before!.message.id]);
      await upgraded.updateMessage(before!.message.id, { isDeleted: true, deletedAt: new Date(), at: new Date() }, { bumpSeq: true });
      expect(await search('example')).toEqual([]);
      await upgraded.close();
    } finally {
      await pool.end();
    }
  });

  it('the same clientMessageId sent at once through two pools (two nodes) is stored once, for users and for the server (userId null)', async () => {
    const schema = freshSchema();
    const nodes = [0, 1].map(() => new PostgresStorage({ connectionString: PG_URL, schema, poolConfig: { max: 5 } }));
    try {
      await nodes[0]!.init();
      await nodes[1]!.init();
      const session = await newSession(nodes[0]!);
      for (const userId of ['alice', null]) {
        const results = (
          await Promise.all(
            Array.from({ length: 20 }, (_, i) => nodes[i % 2]!.insertMessages([draft(session.id, { userId, clientMessageId: `once-${userId}` })])),
          )
        ).flat();
        expect(results.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
      }
      expect(await nodes[1]!.getSession(session.id)).toMatchObject({ lastSeq: 2, messageCount: 2 });
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
    }
  });

  it('honours schema and tablePrefix: every table (migration tables too) is in the schema with the prefix', async () => {
    const schema = freshSchema();
    // Prefixes unique to this run: a concurrent run of the suite must not show up in the listing below.
    const run = Math.random().toString(36).slice(2, 8);
    const [p1, p2] = [`app1${run}_`, `app2${run}_`];
    const a = new PostgresStorage({ connectionString: PG_URL, schema, tablePrefix: p1 });
    const b = new PostgresStorage({ connectionString: PG_URL, schema, tablePrefix: p2 });
    try {
      await a.init();
      await b.init();
      await newSession(a, 'same-id');
      await newSession(b, 'same-id'); // another table: no CONFLICT
      await a.insertMessages([draft('same-id', { content: 'only in app1' })]);
      expect((await b.getHistory('same-id', { limit: 10, offset: 0, parentMessageId: null })).total).toBe(0);
      expect((await b.searchMessages('same-id', ['app1'], { limit: 10, offset: 0, maxCount: 1000 })).total).toBe(0);
      expect((await a.searchMessages('same-id', ['app1'], { limit: 10, offset: 0, maxCount: 1000 })).total).toBe(1);

      const pool = admin();
      const { rows } = await pool.query<{ table_schema: string; table_name: string }>(
        `select table_schema, table_name from information_schema.tables where table_name like $1 or table_name like $2`,
        [`${p1.slice(0, -1)}\\_%`, `${p2.slice(0, -1)}\\_%`],
      );
      await pool.end();
      expect(new Set(rows.map((r) => r.table_schema))).toEqual(new Set([schema]));
      const names = rows.map((r) => r.table_name).sort();
      expect(names).toEqual(
        ['messages', 'message_attachments', 'message_reactions', 'migrations', 'migrations_lock', 'session_members', 'sessions', 'streams', 'users']
          .flatMap((t) => [`${p1}${t}`, `${p2}${t}`])
          .sort(),
      );
    } finally {
      await a.close();
      await b.close();
    }
    expect(() => new PostgresStorage({ connectionString: PG_URL, tablePrefix: 'x"; drop table y; --' })).toThrow(TypeError);
    expect(() => new PostgresStorage({ connectionString: PG_URL, schema: 'a"b' })).toThrow(TypeError);
  });

  it("without a schema option, uses the connection's current schema, even when another schema already has chat_ tables", async () => {
    const other = freshSchema();
    const target = freshSchema();
    const elsewhere = new PostgresStorage({ connectionString: PG_URL, schema: other });
    await elsewhere.init();
    await elsewhere.close();
    const pool = admin();
    await pool.query(`create schema "${target}"`);
    const storage = new PostgresStorage({ connectionString: PG_URL, poolConfig: { options: `-c search_path=${target}` } });
    try {
      await storage.init();
      await storage.init();
      await newSession(storage, 'here');
      const { rows } = await pool.query(`select table_name from information_schema.tables where table_schema = $1 order by 1`, [target]);
      expect(rows.map((r) => r.table_name)).toEqual(expect.arrayContaining(['chat_messages', 'chat_migrations', 'chat_sessions']));
      expect((await pool.query(`select id from "${target}".chat_sessions`)).rows).toEqual([{ id: 'here' }]);
    } finally {
      await storage.close();
      await pool.end();
    }
  });

  it("uses a host's pool or Kysely instance and never ends it", async () => {
    const schema = freshSchema();
    const pool = new pg.Pool({ connectionString: PG_URL, max: 3 });
    const fromPool = new PostgresStorage({ pool, schema });
    await fromPool.init();
    await newSession(fromPool, 'via-pool');
    await fromPool.close();
    expect((await pool.query('select 1 as one')).rows).toEqual([{ one: 1 }]);

    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
    const fromDb = new PostgresStorage({ db, schema });
    await fromDb.init();
    expect((await fromDb.getSession('via-pool'))?.id).toBe('via-pool');
    await fromDb.close();
    expect((await pool.query('select 2 as two')).rows).toEqual([{ two: 2 }]);
    await db.destroy(); // ends the pool: the host's job
  });

  it('an unreachable server is UNAVAILABLE (driver error kept as cause)', async () => {
    const storage = new PostgresStorage({ connectionString: 'postgres://postgres@127.0.0.1:1/none', poolConfig: { connectionTimeoutMillis: 2000 } });
    const error = await caught(storage.getSession('x'));
    expect(isChatError(error) && error.code).toBe('UNAVAILABLE');
    expect((error as Error).cause).toBeDefined();
    await storage.close();
    expect(isChatError(await caught(storage.getSession('x')))).toBe(true);
  });

  it('search terms travel as bound parameters and non-words match nothing (no tsquery or SQL syntax from input)', async () => {
    const storage = new PostgresStorage({ connectionString: PG_URL, schema: freshSchema() });
    try {
      await storage.init();
      const session = await newSession(storage);
      await storage.insertMessages([
        draft(session.id, { content: 'cats & dogs | birds' }),
        draft(session.id, { content: 'see example.com or mail bob@example.com, <b>bold</b>, v1.2.3' }),
      ]);
      const search = (terms: string[]) => storage.searchMessages(session.id, terms, { limit: 10, offset: 0, maxCount: 1000 });
      expect((await search(['cats', 'dogs'])).total).toBe(1);
      // Words glued by punctuation are still separate words, as in the other storages.
      for (const word of ['example', 'com', 'bob', 'bold', 'b', 'v1', '2', '3']) expect((await search([word])).total).toBe(1);
      for (const hostile of ['cats & dogs', 'cats | x', '!cats', "cats'", 'cat:*', "x') or true --", '\\']) {
        expect(await search([hostile])).toEqual({ messages: [], total: 0, totalExact: true });
      }
    } finally {
      await storage.close();
    }
  });

  it('insertMessages runs a fixed number of statements whatever the batch size (one for top-level sends); getHistory runs 1, searchMessages 2 (count, then page)', async () => {
    const schema = freshSchema();
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
    const { storage, queries, db } = recordingStorage(pool, schema);
    try {
      await storage.init();
      const one = await newSession(storage);
      const two = await newSession(storage);
      const [parent] = await storage.insertMessages([draft(one.id)]);
      const batch = (n: number) =>
        Array.from({ length: n }, (_, i) =>
          draft(i % 2 ? one.id : two.id, {
            clientMessageId: `c-${newId()}`,
            parentMessageId: i % 2 ? parent!.message.id : null,
            attachments: [{ id: newId(), fileName: 'f.txt', fileUrl: 'https://x.test/f', mimeType: 'text/plain', fileSize: 1, metadata: null }],
          }),
        );
      // Statements inside the transaction (Kysely also logs BEGIN and COMMIT).
      const count = async (fn: () => Promise<unknown>) => {
        queries.length = 0;
        await fn();
        return queries.filter((q) => !/^(begin|commit)$/i.test(q.sql)).length;
      };
      const small = await count(() => storage.insertMessages(batch(2)));
      const large = await count(() => storage.insertMessages(batch(200)));
      expect(large).toBe(small);
      expect(small).toBeLessThanOrEqual(6); // lock, look-up, bump, messages, attachments, reply counts

      // Top-level messages with new client ids (a send): one autocommit statement, attachments included.
      const sends = (n: number) => batch(n).map((m) => ({ ...m, parentMessageId: null }));
      queries.length = 0;
      await storage.insertMessages(sends(2));
      expect(queries.map((q) => q.sql.slice(0, 6).toLowerCase())).toEqual(['with v']);
      expect(await count(() => storage.insertMessages(sends(200)))).toBe(1);

      expect(await count(() => storage.getHistory(one.id, { limit: 50, offset: 0, parentMessageId: null }))).toBe(1);
      expect(await count(() => storage.getHistory(one.id, { limit: 50, offset: 0, parentMessageId: parent!.message.id }))).toBe(1);
      expect(await count(() => storage.searchMessages(one.id, ['hello'], { limit: 20, offset: 0, maxCount: 1000 }))).toBe(2);
      expect(await count(() => storage.searchMessages(one.id, ['absent'], { limit: 20, offset: 0, maxCount: 1000 }))).toBe(1); // no hits: no page
    } finally {
      await storage.close();
      await db.destroy();
    }
  });

  it(
    'history pages and searches of a 200,000-message session use their indexes (no sequential scan, no sort of the session)',
    async () => {
      const schema = freshSchema();
      const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
      const { storage, queries, db } = recordingStorage(pool, schema);
      try {
        await storage.init();
        const session = await newSession(storage, 'big');
        const n = 200_000;
        // Bulk-load straight into the table (the adapter's own path is tested elsewhere); one reply per 100 messages.
        await pool.query(
          `insert into "${schema}".chat_messages (id, session_id, user_id, role, content, seq, change_seq, parent_message_id, created_at, updated_at)
           select 'm' || g, 'big', 'alice', 'user', 'message number ' || g || ' lorem ipsum', g, g,
                  case when g % 100 = 0 then 'm' || (g - 1) end, now(), now()
           from generate_series(1, ${n}) g`,
        );
        await pool.query(`update "${schema}".chat_sessions set last_seq = ${n}, message_count = ${n - n / 100} where id = 'big'`);
        await pool.query(`analyze "${schema}".chat_messages`);

        const plan = async (query: CompiledQuery) => {
          const { rows } = await pool.query(`explain ${query.sql}`, [...query.parameters]);
          return rows.map((r) => r['QUERY PLAN'] as string).join('\n');
        };
        const timed = async (fn: () => Promise<unknown>) => {
          const samples: number[] = [];
          for (let i = 0; i < 15; i++) {
            const start = performance.now();
            await fn();
            samples.push(performance.now() - start);
          }
          return samples.sort((a, b) => a - b)[7]!;
        };

        queries.length = 0;
        const page = await storage.getHistory(session.id, { limit: 50, offset: 0, parentMessageId: null });
        expect(page.total).toBe(n - n / 100);
        expect(page.messages.at(-1)?.seq).toBe(n - 1);
        const historyPlan = await plan(queries[0]!);
        expect(historyPlan).toMatch(/Index Scan/);
        expect(historyPlan).not.toMatch(/Seq Scan|Sort/);
        const before = await storage.getHistory(session.id, { limit: 50, offset: 0, parentMessageId: null, before: n / 2 });
        expect(before.messages).toHaveLength(50);

        queries.length = 0;
        const found = await storage.searchMessages(session.id, ['12345'], { limit: 20, offset: 0, maxCount: 1000 });
        expect(found.messages.map((m) => m.id)).toEqual(['m12345']);
        expect(await plan(queries[0]!)).toMatch(/Bitmap Index Scan on chat_messages_search_idx/); // the count
        expect(await plan(queries[1]!)).toMatch(/Bitmap Index Scan on chat_messages_search_idx/); // the page of a rare word

        const historyMs = await timed(() => storage.getHistory(session.id, { limit: 50, offset: 0, parentMessageId: null }));
        const searchMs = await timed(() => storage.searchMessages(session.id, ['54321'], { limit: 20, offset: 0, maxCount: 1000 }));
        // One statement (history), two (search); generous bounds so a busy CI machine does not flake.
        expect(historyMs).toBeLessThan(25);
        expect(searchMs).toBeLessThan(25);
      } finally {
        await storage.close();
        await db.destroy();
      }
    },
    120_000,
  );
});
