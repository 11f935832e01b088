import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStorage, type StorageAdapter } from 'parley-chat';
import { PostgresStorage } from 'parley-chat/postgres';
import { SqliteStorage } from 'parley-chat/sqlite';
import { afterAll } from 'vitest';
import { dropSchema, PG_URL, postgresAvailable, uniqueSchema } from './postgres.js';

export interface TestStorage {
  name: 'memory' | 'sqlite' | 'postgres';
  /** A storage to hand an engine: memory, a new SQLite file, or the file's own Postgres schema. */
  create: () => StorageAdapter;
  /** Why this storage's suite is skipped (Postgres unreachable outside CI), if it is. */
  skip?: string;
}

/**
 * The three storages a behaviour is checked on, for `for (const { name, create, skip } of …)`
 * loops: what they create is removed after the test file (SQLite files, the Postgres schema).
 */
export async function testStorages(label: string): Promise<TestStorage[]> {
  const pgUp = await postgresAvailable();
  const schema = uniqueSchema();
  const dir = mkdtempSync(join(tmpdir(), `parley-${label}-`));
  let files = 0;
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (pgUp) await dropSchema(schema);
  });
  return [
    { name: 'memory', create: () => new MemoryStorage() },
    { name: 'sqlite', create: () => new SqliteStorage({ filename: join(dir, `${++files}.db`) }) },
    {
      name: 'postgres',
      create: () => new PostgresStorage({ connectionString: PG_URL, schema }),
      ...(!pgUp && { skip: `Postgres unreachable at ${PG_URL}` }),
    },
  ];
}
