import { describe, expect, it } from 'vitest';
import type { SqlDialect } from '../../adapters/storage/kysely/dialect.js';
import { chatMigrations } from '../../adapters/storage/kysely/migrations.js';
import { tableNames } from '../../adapters/storage/kysely/schema.js';
import { postgresDialect } from '../../adapters/storage/postgres/dialect.js';
import { sqliteDialect } from '../../adapters/storage/sqlite/dialect.js';

/**
 * Each dialect's own migrations merge into the shared list by name. Databases created by every
 * earlier version recorded these names, so every dialect must list exactly them (the Migrator
 * refuses a database whose recorded history it does not know), plus the ones added since.
 */
const SHIPPED = ['0001_initial', '0002_streams', '0003_search_upgrade', '0004_search_index_tuning', '0005_search_merge_schedule', '0006_search_vector_trigger', '0007_users', '0008_message_parts'];
const names = tableNames('chat_');

describe('the migration list', () => {
  it.each([postgresDialect, sqliteDialect])('$name: the names every shipped database recorded, each a migration', (dialect) => {
    const migrations = chatMigrations(dialect, names);
    expect(Object.keys(migrations).sort()).toEqual(SHIPPED);
    for (const migration of Object.values(migrations)) expect(typeof migration.up).toBe('function');
  });

  it("a dialect's own step fills a reserved name; a new name is added; a shared migration cannot be replaced", () => {
    const up = async () => {};
    const withOwn = (own: Record<string, { up: typeof up }>): SqlDialect => ({ ...sqliteDialect, migrations: () => own });
    const merged = chatMigrations(withOwn({ '0004_search_index_tuning': { up }, '0099_third_database_step': { up } }), names);
    expect(merged['0004_search_index_tuning']!.up).toBe(up);
    expect(Object.keys(merged)).toContain('0099_third_database_step');
    expect(() => chatMigrations(withOwn({ '0002_streams': { up } }), names)).toThrow(/replace a shared one/);
  });
});
