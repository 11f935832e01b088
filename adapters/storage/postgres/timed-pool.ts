/**
 * A pg pool as Parley uses it: every checkout and every statement has a deadline, so a Postgres that
 * stops answering (frozen, partitioned, overloaded) fails a call with UNAVAILABLE within seconds
 * instead of holding it — and every send queued behind it — until the server comes back.
 *
 * Only pg's public API: `pool.connect()`, per-query `query_timeout` (pg's QueryConfig) and
 * `client.release(error)`. Kysely sees the same object through its public `PostgresPool` interface,
 * so both the named hot statements and Kysely's queries (transactions included) go through here.
 */
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import pg from 'pg';
import type { Pool, PoolClient, QueryConfig } from 'pg';
import { postgresDialect } from './dialect.js';

export interface PostgresTimeouts {
  /** Longest wait for a connection from the pool (a new connection included); 0 = none. */
  acquireTimeoutMs: number;
  /** Longest a statement may take before the client gives up on it; 0 = none. */
  statementTimeoutMs: number;
}

/** Said when a checkout ran out of time; the dialect classifies it as `unavailable` (pg-pool's own wording). */
const ACQUIRE_TIMEOUT_MESSAGE = 'timeout exceeded when trying to connect';
/** Said by a client that was given up on: the dialect classifies it as `unavailable`. */
const DISCARDED_MESSAGE = 'Postgres connection has been discarded after a failure';

const withListener = new WeakSet<PoolClient>();
const ignore = () => {};

/**
 * Every client the pool opens gets an 'error' listener for its whole life: a backend that dies while
 * the client is checked out (pg-pool only listens while it is idle) would otherwise crash the process.
 * The failure still reaches the caller through its query (mapped to UNAVAILABLE).
 */
function listenOnce(client: PoolClient): void {
  if (withListener.has(client)) return;
  withListener.add(client);
  client.on('error', ignore);
}

/**
 * The pool with deadlines. `end()` ends only a pool Parley opened. `suspended` lifts the statement
 * deadline while migrations run: they may rewrite large tables, or wait for another node's
 * migration lock, far longer than any chat statement.
 */
export class TimedPool implements PostgresPool {
  suspended = false;

  constructor(
    readonly pool: Pool,
    private readonly owned: boolean,
    private readonly timeouts: PostgresTimeouts,
  ) {
    pool.on('connect', listenOnce);
  }

  async connect(): Promise<TimedClient> {
    const { acquireTimeoutMs } = this.timeouts;
    const checkout = this.pool.connect();
    if (acquireTimeoutMs <= 0) return new TimedClient(await checkout, this);
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error(ACQUIRE_TIMEOUT_MESSAGE));
      }, acquireTimeoutMs);
    });
    try {
      return new TimedClient(await Promise.race([checkout, deadline]), this);
    } finally {
      clearTimeout(timer);
      // A checkout that arrives after its caller gave up goes straight back: it is healthy, just late.
      if (timedOut) checkout.then((client) => client.release(), ignore);
    }
  }

  /** The statement deadline now (none while migrations run). */
  get statementTimeoutMs(): number {
    return this.suspended ? 0 : this.timeouts.statementTimeoutMs;
  }

  async end(): Promise<void> {
    if (this.owned) await this.pool.end();
  }
}

/**
 * One checkout. A statement that fails for a reason other than the server refusing that statement
 * (timed out, connection lost) leaves the connection unusable — a timed-out statement may still be
 * running and would answer the next one — so the client refuses further statements and is
 * discarded on release (`release(error)`: pg-pool closes it instead of reusing it).
 */
export class TimedClient implements PostgresPoolClient {
  private broken: Error | undefined;

  constructor(
    private readonly client: PoolClient,
    private readonly pool: TimedPool,
  ) {
    listenOnce(client);
  }

  /** A statement with the pool's deadline; `name` makes it a prepared (named) statement. */
  async run<R>(text: string, values: readonly unknown[], name?: string): Promise<PostgresQueryResult<R>> {
    if (this.broken) throw new Error(DISCARDED_MESSAGE, { cause: this.broken });
    const timeout = this.pool.statementTimeoutMs;
    const config: QueryConfig & { query_timeout?: number } = {
      text,
      values: values as unknown[],
      ...(name && { name }),
      ...(timeout > 0 && { query_timeout: timeout }),
    };
    try {
      return (await this.client.query(config)) as unknown as PostgresQueryResult<R>;
    } catch (error) {
      // An error the server reported for this statement (a unique violation) leaves the connection
      // and its prepared statements usable; anything else discards it.
      if (!(error instanceof pg.DatabaseError) || postgresDialect.classifyError(error)?.kind === 'unavailable') this.broken = error as Error;
      throw error;
    }
  }

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(sql: string | PostgresCursor<R>, parameters?: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    // Kysely streams through a cursor only when its dialect has one configured; ours has none.
    if (typeof sql !== 'string') throw new TypeError('PostgresStorage does not stream with cursors');
    return this.run<R>(sql, parameters ?? []);
  }

  release(destroy?: boolean): void {
    const broken = this.broken ?? (destroy ? new Error(DISCARDED_MESSAGE) : undefined);
    this.broken = undefined;
    this.client.release(broken);
  }
}
