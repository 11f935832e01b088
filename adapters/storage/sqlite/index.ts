import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type SqliteDatabase,
  type SqliteDialectConfig,
  type SqliteStatement,
} from 'kysely';
import { KyselyStorage } from '../kysely/kysely-storage.js';
import type { ChatDatabase } from '../kysely/schema.js';
import { sqliteDialect } from './dialect.js';

export interface SqliteStorageCommonOptions {
  /** Prefix of every table, so they sit beside the host's own (default `'chat_'`). */
  tablePrefix?: string;
}

export type SqliteStorageOptions = SqliteStorageCommonOptions &
  (
    | {
        /** Database file, created when missing (WAL mode). `close()` closes it. */
        filename: string;
        /** How long a write waits for another process' lock before failing with UNAVAILABLE (default 5000 ms). */
        busyTimeoutMs?: number;
      }
    | {
        /**
         * The host's better-sqlite3 database: shared, never closed by us. We turn on
         * `foreign_keys` and a `busy_timeout` when it has none; its journal mode is the host's call
         * (WAL is recommended).
         */
        database: Database.Database;
      }
  );

/**
 * Storage in a SQLite file through better-sqlite3 (a peer dependency): tables `chat_*`, FTS5
 * full-text search, migrations run by `init()`. For one node; use Postgres to run several.
 *
 * @example
 * ```ts
 * import { SqliteStorage } from 'parley/sqlite';
 * const engine = new ChatEngine({ storage: new SqliteStorage({ filename: 'chat.db' }) });
 * await engine.init(); // creates or migrates the tables
 * ```
 */
export class SqliteStorage extends KyselyStorage {
  constructor(options: SqliteStorageOptions) {
    const source = open(options);
    const db = new Kysely<ChatDatabase>({ dialect: new ImmediateSqliteDialect({ database: source.database }, source.lock) });
    super({
      name: 'sqlite',
      db,
      dialect: sqliteDialect,
      ...(options.tablePrefix !== undefined && { tablePrefix: options.tablePrefix }),
      destroy: () => db.destroy(),
    });
  }
}

interface Source {
  /** Opens (or adopts) the database on first use, so constructing never touches the disk. */
  database: () => Promise<SqliteDatabase>;
  lock: Mutex;
}

function open(options: SqliteStorageOptions): Source {
  if ('database' in options && options.database) {
    const database = options.database;
    const lock = lockFor(database.memory ? database : resolve(database.name));
    return {
      lock,
      database: async () => {
        database.pragma('foreign_keys = ON');
        if (Number(database.pragma('busy_timeout', { simple: true })) === 0) database.pragma('busy_timeout = 5000');
        return cachedStatements(database, false);
      },
    };
  }
  if ('filename' in options && typeof options.filename === 'string') {
    const { filename } = options;
    const inMemory = filename === '' || filename === ':memory:';
    const lock = inMemory ? new Mutex() : lockFor(resolve(filename));
    return {
      lock,
      database: async () => {
        const database = new Database(filename);
        database.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
        if (!inMemory) database.pragma('journal_mode = WAL');
        database.pragma('synchronous = NORMAL'); // durable across application crashes in WAL mode
        database.pragma('foreign_keys = ON');
        return cachedStatements(database, true);
      },
    };
  }
  throw new TypeError('SqliteStorage needs { filename } or { database }');
}

/**
 * Kysely prepares every query afresh; the same few dozen statements run all day, so keep them
 * prepared (better-sqlite3 re-prepares by itself after a schema change). `close()` closes only a
 * database we opened.
 */
function cachedStatements(database: Database.Database, owned: boolean): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    prepare(sqlText: string): SqliteStatement {
      let statement = cache.get(sqlText);
      if (statement) {
        // Refresh its place: the map's order is the eviction order.
        cache.delete(sqlText);
      } else {
        statement = database.prepare(sqlText) as unknown as SqliteStatement;
        if (cache.size >= 500) cache.delete(cache.keys().next().value!);
      }
      cache.set(sqlText, statement);
      return statement;
    },
    close() {
      cache.clear();
      if (owned && database.open) database.close();
    },
  };
}

/**
 * Kysely's SqliteDialect with two changes:
 * - transactions start with `BEGIN IMMEDIATE`: the write lock is taken before the first read, so
 *   a read-then-write transaction never fails half-way with SQLITE_BUSY (a deferred one can, and
 *   busy_timeout cannot help it). It also makes migrations (run in one transaction: SQLite DDL is
 *   transactional) safe from two processes at once;
 * - one lock per database file in this process, shared by every instance using the file: a
 *   second instance waiting synchronously in busy_timeout would block the event loop, and with it
 *   the first instance's transaction it is waiting for.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  readonly #lock: Mutex;

  constructor(config: SqliteDialectConfig, lock: Mutex) {
    super(config);
    this.#config = config;
    this.#lock = lock;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config, this.#lock);
  }

  override createAdapter(): SqliteAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  readonly #lock: Mutex;

  constructor(config: SqliteDialectConfig, lock: Mutex) {
    super(config);
    this.#lock = lock;
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    await this.#lock.acquire();
    try {
      return await super.acquireConnection();
    } catch (error) {
      this.#lock.release();
      throw error;
    }
  }

  override async releaseConnection(): Promise<void> {
    try {
      await super.releaseConnection();
    } finally {
      this.#lock.release();
    }
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/** A FIFO async lock. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();
  #release: (() => void)[] = [];

  async acquire(): Promise<void> {
    let release!: () => void;
    const turn = new Promise<void>((r) => (release = r));
    const previous = this.#tail;
    this.#tail = previous.then(() => turn);
    await previous;
    this.#release.push(release);
  }

  release(): void {
    this.#release.shift()?.();
  }
}

const fileLocks = new Map<string, Mutex>();
const memoryLocks = new WeakMap<object, Mutex>();

function lockFor(key: string | object): Mutex {
  if (typeof key === 'string') {
    let lock = fileLocks.get(key);
    if (!lock) fileLocks.set(key, (lock = new Mutex()));
    return lock;
  }
  let lock = memoryLocks.get(key);
  if (!lock) memoryLocks.set(key, (lock = new Mutex()));
  return lock;
}
