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
import type { Statement, StatementRunner, SyncStatements } from '../kysely/statements.js';
import { FALLBACK_AUTOCHECKPOINT_PAGES, startCheckpointer, type Checkpointer } from './checkpointer.js';
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
 * import { SqliteStorage } from 'parley-chat/sqlite';
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
      runner: cachedStatementRunner(source),
      ...(options.tablePrefix !== undefined && { tablePrefix: options.tablePrefix }),
      destroy: () => db.destroy(),
    });
  }
}

interface Source {
  /** For Kysely: the database with its statement cache (opened on first use). */
  database: () => Promise<SqliteDatabase>;
  /** The better-sqlite3 database, opened (or adopted) on first use, so constructing never touches the disk. */
  get: () => Database.Database;
  lock: Mutex;
}

interface Opened {
  database: Database.Database;
  owned: boolean;
  checkpointer?: Checkpointer | null;
}

function open(options: SqliteStorageOptions): Source {
  let setup: () => Opened;
  let lock: Mutex;
  if ('database' in options && options.database) {
    const database = options.database;
    lock = lockFor(database.memory ? database : resolve(database.name));
    setup = () => {
      database.pragma('foreign_keys = ON');
      if (Number(database.pragma('busy_timeout', { simple: true })) === 0) database.pragma('busy_timeout = 5000');
      return { database, owned: false };
    };
  } else if ('filename' in options && typeof options.filename === 'string') {
    const { filename } = options;
    const inMemory = filename === '' || filename === ':memory:';
    lock = inMemory ? new Mutex() : lockFor(resolve(filename));
    setup = () => {
      const database = new Database(filename);
      database.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
      if (!inMemory) database.pragma('journal_mode = WAL');
      database.pragma('synchronous = NORMAL'); // durable across application crashes in WAL mode
      database.pragma('foreign_keys = ON');
      // A file of our own: its checkpoints run in a worker (see checkpointer.ts). A host's
      // database keeps the host's settings.
      const checkpointer = inMemory ? null : startCheckpointer(filename);
      if (checkpointer) database.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
      return { database, owned: true, checkpointer };
    };
  } else {
    throw new TypeError('SqliteStorage needs { filename } or { database }');
  }
  let opened: Opened | undefined;
  const get = () => (opened ??= setup()).database;
  return {
    lock,
    get,
    database: async () => {
      get();
      return cachedStatements(opened!);
    },
  };
}

/**
 * The hot statements as better-sqlite3 statements prepared once, run synchronously while holding
 * the file's lock (taken at once when free: no promise hop on the common path). Measured: the
 * access check 4 µs against 50 µs through Kysely; a send's whole insert transaction in one
 * synchronous call instead of ~6 awaited Kysely statements.
 */
function cachedStatementRunner(source: Source): StatementRunner {
  const prepared = new Map<Statement, Database.Statement>();
  const statement = (s: Statement): Database.Statement => {
    let p = prepared.get(s);
    if (!p) prepared.set(s, (p = source.get().prepare(s.text)));
    return p;
  };
  const sync: SyncStatements = {
    all: <R>(s: Statement, values: readonly unknown[]) => statement(s).all(values) as R[],
    run: (s: Statement, values: readonly unknown[]) => statement(s).run(values).changes,
  };
  let transaction: Database.Transaction<(fn: (tx: SyncStatements) => unknown) => unknown> | undefined;
  const locked = async <T>(fn: () => T): Promise<T> => {
    if (!source.lock.tryAcquire()) await source.lock.acquire();
    try {
      return fn();
    } finally {
      source.lock.release();
    }
  };
  return {
    query: <R>(s: Statement, values: readonly unknown[]) => locked(() => sync.all<R>(s, values)),
    transaction: <T>(fn: (tx: SyncStatements) => T) =>
      locked(() => {
        // BEGIN IMMEDIATE, as every transaction of this adapter: the write lock is taken first.
        transaction ??= source.get().transaction((body: (tx: SyncStatements) => unknown) => body(sync));
        return transaction.immediate(fn) as T;
      }),
  };
}

/**
 * Kysely prepares every query afresh; the same few dozen statements run all day, so keep them
 * prepared (better-sqlite3 re-prepares by itself after a schema change). `close()` closes only a
 * database we opened.
 */
function cachedStatements({ database, owned, checkpointer }: Opened): SqliteDatabase {
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
      checkpointer?.stop();
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

/** A FIFO lock: a holder releases to the first waiter; `tryAcquire` takes it only when free and nobody waits. */
class Mutex {
  #held = false;
  #waiters: (() => void)[] = [];

  tryAcquire(): boolean {
    if (this.#held) return false;
    this.#held = true;
    return true;
  }

  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) next(); // still held: handed over
    else this.#held = false;
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
