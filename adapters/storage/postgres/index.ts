import { Kysely, PostgresDialect, sql, type PostgresPool } from 'kysely';
import pg from 'pg';
import type { Pool, PoolClient, PoolConfig } from 'pg';
import { KyselyStorage } from '../kysely/kysely-storage.js';
import type { ChatDatabase } from '../kysely/schema.js';
import type { Statement, StatementRunner } from '../kysely/statements.js';
import { postgresDialect } from './dialect.js';

export interface PostgresStorageCommonOptions {
  /** Prefix of every table, so they sit beside the host's own (default `'chat_'`). */
  tablePrefix?: string;
  /** Postgres schema for the tables; created by `init()` when missing. Default: the search path's (usually `public`). */
  schema?: string;
}

export type PostgresStorageOptions = PostgresStorageCommonOptions &
  (
    | {
        /** We open (and `close()` ends) a `pg.Pool` of our own. */
        connectionString: string;
        /** More `pg.Pool` settings for that pool (default `max: 10`). */
        poolConfig?: Omit<PoolConfig, 'connectionString'>;
      }
    | {
        /** The host's pool: shared, never ended by us. */
        pool: Pool;
      }
    | {
        /** The host's ready Kysely instance (Postgres dialect): shared, never destroyed by us. */
        db: Kysely<any>;
      }
  );

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/**
 * Storage in PostgreSQL (`pg` is a peer dependency): tables `chat_*`, full-text search with a
 * `tsvector` (`simple` configuration) and a GIN index, migrations run by `init()`.
 *
 * @example
 * ```ts
 * import { PostgresStorage } from 'parley-chat/postgres';
 * const storage = new PostgresStorage({ connectionString: process.env.DATABASE_URL!, schema: 'chat' });
 * const engine = new ChatEngine({ storage });
 * await engine.init(); // creates or migrates the tables; safe on every start, from every node
 * ```
 */
export class PostgresStorage extends KyselyStorage {
  constructor(options: PostgresStorageOptions) {
    const { db, destroy, pool } = connect(options);
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new TypeError(`schema must match ${SCHEMA_NAME} (got ${JSON.stringify(options.schema)})`);
    }
    super({
      name: 'postgres',
      db: (options.schema ? db.withSchema(options.schema) : db) as Kysely<ChatDatabase>,
      dialect: postgresDialect,
      ...(options.tablePrefix !== undefined && { tablePrefix: options.tablePrefix }),
      ...(options.schema !== undefined && { schema: options.schema }),
      ...(destroy && { destroy }),
      // A host's Kysely instance gives no way to its pool: its hot statements go through Kysely, unnamed.
      ...(pool && { runner: namedStatements(pool) }),
      defaultSchema: async (db) => {
        const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
        return rows[0]?.schema ?? undefined;
      },
    });
  }
}

function connect(options: PostgresStorageOptions): { db: Kysely<any>; destroy?: () => Promise<void>; pool?: Pool } {
  if ('db' in options && options.db) return { db: options.db };
  let pool: Pool;
  let owned: boolean;
  if ('pool' in options && options.pool) {
    pool = options.pool;
    owned = false;
  } else if ('connectionString' in options && options.connectionString) {
    pool = new pg.Pool({ max: 10, ...options.poolConfig, connectionString: options.connectionString });
    // An idle client whose server went away is dropped by the pool, which then emits 'error':
    // without a listener that would crash the process. The next query simply opens a new client.
    pool.on('error', () => {});
    owned = true;
  } else {
    throw new TypeError('PostgresStorage needs one of { connectionString }, { pool } or { db }');
  }
  // Every client the pool opens gets a listener for its whole life: a backend that dies while the
  // client is between owners (handed out, not yet ours) would otherwise crash the process.
  pool.on('connect', (client) => {
    if (!withListener.has(client)) {
      withListener.add(client);
      client.on('error', ignore);
    }
  });
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: guarded(pool, owned) }) });
  return { db, destroy: () => db.destroy(), pool };
}

/**
 * The hot statements as named (prepared) statements on the pool: Postgres parses and plans each
 * text once per connection, and Node skips Kysely's compile — the access check went from ~300 µs
 * of Node CPU + ~120 µs of server CPU to ~80 + ~43 µs. A statement with an empty name (search)
 * runs unnamed: planned for its values every time.
 */
function namedStatements(pool: Pool): StatementRunner {
  return {
    async query<R>(statement: Statement, values: readonly unknown[]): Promise<R[]> {
      const client = await pool.connect();
      if (!withListener.has(client)) {
        withListener.add(client);
        client.on('error', ignore);
      }
      let broken: Error | undefined;
      try {
        const config = { text: statement.text, values: values as unknown[], ...(statement.name && { name: statement.name }) };
        return (await client.query(config)).rows as R[];
      } catch (error) {
        // An error the server reported for this statement (a unique violation) leaves the connection
        // and its prepared statements usable; anything else (a lost connection) discards it.
        if (!(error instanceof pg.DatabaseError) || postgresDialect.classifyError(error)?.kind === 'unavailable') broken = error as Error;
        throw error;
      } finally {
        client.release(broken);
      }
    },
  };
}

const withListener = new WeakSet<PoolClient>();
const ignore = () => {};

/**
 * The pool as Kysely sees it. A checked-out client whose connection dies between two queries
 * (e.g. mid-transaction, server restart) emits 'error'; pg-pool only listens while the client is
 * idle, so we add a listener to every client we use. The failure still reaches the caller through
 * the next query (mapped to `UNAVAILABLE`), and pg-pool discards the dead client on release.
 * `end()` ends only a pool we opened.
 */
function guarded(pool: Pool, owned: boolean): PostgresPool {
  return {
    async connect() {
      const client = await pool.connect();
      if (!withListener.has(client)) {
        withListener.add(client);
        client.on('error', ignore);
      }
      return client;
    },
    async end() {
      if (owned) await pool.end();
    },
  };
}
