/** Postgres helpers for the storage benches: the URL, throwaway schemas, and a statement-counting pool. */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import pg from 'pg';

export const PG_URL = process.env.PARLEY_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema name, e.g. `bench_read_3f9a1c2b`. */
export function randomSchema(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

/**
 * Runs `cleanup` if the bench is interrupted (Ctrl-C, SIGTERM) before it gets to its own `finally`,
 * so no schema or temp dir is left behind. Returns the function that unregisters it.
 */
export function cleanupOnSignal(cleanup: () => Promise<void> | void): () => void {
  const handler = (signal: NodeJS.Signals) => {
    log(`${signal}: cleaning up`);
    void Promise.resolve()
      .then(cleanup)
      .catch(() => {})
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** Counts every statement sent to Postgres by the pool's clients (BEGIN and COMMIT included). */
export interface StatementCounter {
  count: number;
}

/**
 * A `pg.Pool` whose clients count each `query()` call: one call is one statement sent to the
 * server (pg's extended protocol sends one Parse/Bind/Execute/Sync per call).
 */
export function countingPool(counter: StatementCounter, config: pg.PoolConfig = {}): pg.Pool {
  class CountingClient extends pg.Client {
    override query(...args: unknown[]): any {
      counter.count++;
      return (super.query as (...a: unknown[]) => unknown)(...args);
    }
  }
  const pool = new pg.Pool({ connectionString: PG_URL, max: 10, ...config, Client: CountingClient as unknown as typeof pg.Client });
  pool.on('error', () => {});
  return pool;
}

export function log(message: string): void {
  process.stderr.write(`  [${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** The machine's 1-minute load average: other work on these 2 cores shows up in p99s. */
export function logLoad(when: string): void {
  log(`${when}: load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} on 2 cores`);
}
