import pg from 'pg';
import { requireService, serviceUrls } from './services.js';

/** The tests' Postgres: PARLEY_PG_URL (which the global setup sets when it starts its own), else the default. */
export const PG_URL = serviceUrls.postgres();

/**
 * Whether Postgres answers. Under CI=true a missing Postgres is a failure, never a skip
 * (the suite must not pass by testing nothing); outside CI the skip is named in the run's last line.
 */
export async function postgresAvailable(suite?: string): Promise<boolean> {
  return (await requireService('postgres', suite)) === null;
}

/** A schema name no other run uses. */
export function uniqueSchema(prefix = 'parley_t'): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
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
