/**
 * User profiles (migration `0007_users`): the display name and avatar a user's `authenticate`
 * result carried last, one row per user. Written only when a profile changes (the engine keeps the
 * last one it saw), read by id in batches.
 */
import type { Kysely, Migration } from 'kysely';
import type { UserProfile } from '../../../src/model.js';
import type { SqlDialect } from './dialect.js';
import type { ChatDatabase, TableNames } from './schema.js';

/** `0007_users`: `users` — id PK, name, avatar_url, updated_at. */
export function usersMigration(d: SqlDialect, t: TableNames): Migration {
  const { text, timestamp } = d.types;
  return {
    async up(db: Kysely<any>) {
      await d
        .addKeyColumns(db.schema.createTable(t.raw('users')), { id: true, ord: false })
        .addColumn('name', text)
        .addColumn('avatar_url', text)
        .addColumn('updated_at', timestamp, (c) => c.notNull())
        .execute();
    },
  };
}

/** Insert, or replace name and avatar: one statement (`ON CONFLICT … DO UPDATE` on both databases). */
export async function saveUser(db: Kysely<ChatDatabase>, d: SqlDialect, t: TableNames, profile: UserProfile, at: Date): Promise<void> {
  const values = { name: profile.name, avatar_url: profile.avatarUrl, updated_at: d.toDate(at) };
  await db
    .insertInto(t.table('users'))
    .values({ id: profile.id, ...values })
    .onConflict((oc) => oc.column('id').doUpdateSet(values))
    .execute();
}

/** Rows by primary key, one statement; the caller bounds `ids`. */
export async function getUsers(db: Kysely<ChatDatabase>, t: TableNames, ids: readonly string[]): Promise<UserProfile[]> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  const rows = await db.selectFrom(t.table('users')).select(['id', 'name', 'avatar_url']).where('id', 'in', unique).execute();
  return rows.map((r) => ({ id: r.id, name: r.name, avatarUrl: r.avatar_url }));
}
