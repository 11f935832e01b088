import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Pool, PoolConfig } from 'pg';
import { KyselyStorage } from '../kysely/kysely-storage.js';
import type { ChatDatabase } from '../kysely/schema.js';
import type { Statement, StatementRunner } from '../kysely/statements.js';
import { postgresDialect } from './dialect.js';
import { TimedPool } from './timed-pool.js';

export interface PostgresStorageCommonOptions {
  /** Prefix of every table, so they sit beside the host's own (default `'chat_'`). */
  tablePrefix?: string;
  /** Postgres schema for the tables; created by `init()` when missing. Default: the search path's (usually `public`). */
  schema?: string;
  /**
   * The longest a statement may take before the call fails with `UNAVAILABLE` (default 5000 ms; 0
   * = none). A chat statement takes milliseconds (a search on a million messages, tens): one still
   * running after seconds means a server that froze, a lost network or a lock held by a stuck
   * transaction, and failing lets clients back off instead of every send queueing behind it. It
   * matches SQLite's busy timeout. The client gives up on the statement and discards its
   * connection (it may still be running); for Postgres to cancel it too, add `statement_timeout`
   * to `poolConfig`. Migrations (`init()`) have no deadline. Not applied with `{ db }`: set
   * `query_timeout` on your pool.
   */
  statementTimeoutMs?: number;
  /**
   * The longest a call waits for a pool connection, opening a new one included (default 5000 ms;
   * 0 = none): past it, `UNAVAILABLE`. Every connection busy for that long, or a server that
   * does not accept connections, will not clear up within a request. Not applied with `{ db }`:
   * set `connectionTimeoutMillis` on your pool.
   */
  acquireTimeoutMs?: number;
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
  readonly #pool: TimedPool | undefined;

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
    this.#pool = pool;
  }

  /** Migrations may rewrite large tables or wait for another node's: no statement deadline meanwhile. */
  override async init(): Promise<void> {
    if (this.#pool) this.#pool.suspended = true;
    try {
      await super.init();
    } finally {
      if (this.#pool) this.#pool.suspended = false;
    }
  }
}

function connect(options: PostgresStorageOptions): { db: Kysely<any>; destroy?: () => Promise<void>; pool?: TimedPool } {
  if ('db' in options && options.db) return { db: options.db };
  const timeouts = {
    statementTimeoutMs: milliseconds(options.statementTimeoutMs, 5000, 'statementTimeoutMs'),
    acquireTimeoutMs: milliseconds(options.acquireTimeoutMs, 5000, 'acquireTimeoutMs'),
  };
  let pool: Pool;
  let owned: boolean;
  if ('pool' in options && options.pool) {
    pool = options.pool;
    owned = false;
  } else if ('connectionString' in options && options.connectionString) {
    pool = new pg.Pool({
      max: 10,
      // pg-pool's own deadline for a checkout also tears down a connection attempt that hangs.
      ...(timeouts.acquireTimeoutMs > 0 && { connectionTimeoutMillis: timeouts.acquireTimeoutMs }),
      ...options.poolConfig,
      connectionString: options.connectionString,
    });
    // An idle client whose server went away is dropped by the pool, which then emits 'error':
    // without a listener that would crash the process. The next query simply opens a new client.
    pool.on('error', () => {});
    owned = true;
  } else {
    throw new TypeError('PostgresStorage needs one of { connectionString }, { pool } or { db }');
  }
  const timed = new TimedPool(pool, owned, timeouts);
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: timed }) });
  return { db, destroy: () => db.destroy(), pool: timed };
}

function milliseconds(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`PostgresStorage: \`${name}\` must be a number of milliseconds ≥ 0`);
  }
  return value;
}

/**
 * The hot statements as named (prepared) statements on the pool: Postgres parses and plans each
 * text once per connection, and Node skips Kysely's compile — the access check went from ~300 µs
 * of Node CPU + ~120 µs of server CPU to ~80 + ~43 µs. A statement with an empty name (search)
 * runs unnamed: planned for its values every time.
 */
function namedStatements(pool: TimedPool): StatementRunner {
  return {
    async query<R>(statement: Statement, values: readonly unknown[]): Promise<R[]> {
      const client = await pool.connect();
      try {
        return (await client.run<R>(statement.text, values, statement.name || undefined)).rows;
      } finally {
        client.release();
      }
    },
  };
}
