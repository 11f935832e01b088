import pg from 'pg';

export const PG_URL = process.env.PARLEY_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Whether Postgres answers. Under CI=true a missing Postgres is a failure, never a skip
 * (the suite must not pass by testing nothing).
 */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch (error) {
    if (process.env.CI) throw new Error(`Postgres is required under CI but ${PG_URL} is unreachable: ${String(error)}`);
    return false;
  } finally {
    await client.end().catch(() => {});
  }
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
