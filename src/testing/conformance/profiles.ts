import { describe, expect, it } from 'vitest';
import { newId } from '../../ids.js';
import type { StorageAdapter } from '../../ports/storage.js';

/** The profile rules of the storage contract (`saveUser`, `getUsers`), run by `describeStorageAdapter`. */
export function defineUserProfileCases(db: () => StorageAdapter, clock: () => Date): void {
  const uid = (): string => `user-${newId()}`;
  const byId = <T extends { id: string }>(list: T[]): T[] => [...list].sort((a, b) => (a.id < b.id ? -1 : 1));

  describe('user profiles', () => {
    it('saveUser stores a profile that getUsers returns; unknown ids are left out, duplicates answered once', async () => {
      const [ada, bob, nobody] = [uid(), uid(), uid()];
      await db().saveUser({ id: ada, name: 'Ada Lovelace', avatarUrl: 'https://cdn.example.com/ada.png' }, clock());
      await db().saveUser({ id: bob, name: 'Bob', avatarUrl: null }, clock());
      const found = await db().getUsers([ada, nobody, bob, ada]);
      expect(byId(found)).toEqual(
        byId([
          { id: ada, name: 'Ada Lovelace', avatarUrl: 'https://cdn.example.com/ada.png' },
          { id: bob, name: 'Bob', avatarUrl: null },
        ]),
      );
      expect(await db().getUsers([nobody])).toEqual([]);
      expect(await db().getUsers([])).toEqual([]);
    });

    it('saveUser again replaces name and avatar (null clears them); other users keep theirs', async () => {
      const [ada, bob] = [uid(), uid()];
      await db().saveUser({ id: ada, name: 'Ada', avatarUrl: 'https://cdn.example.com/a.png' }, clock());
      await db().saveUser({ id: bob, name: 'Bob', avatarUrl: null }, clock());
      await db().saveUser({ id: ada, name: 'Ada L.', avatarUrl: null }, clock());
      expect(await db().getUsers([ada])).toEqual([{ id: ada, name: 'Ada L.', avatarUrl: null }]);
      await db().saveUser({ id: ada, name: null, avatarUrl: 'https://cdn.example.com/b.png' }, clock());
      expect(await db().getUsers([ada])).toEqual([{ id: ada, name: null, avatarUrl: 'https://cdn.example.com/b.png' }]);
      expect(await db().getUsers([bob])).toEqual([{ id: bob, name: 'Bob', avatarUrl: null }]);
    });

    it('Unicode names round-trip exactly; returned profiles are copies', async () => {
      const id = uid();
      const name = 'Zoë 山田 🙂 عربي';
      await db().saveUser({ id, name, avatarUrl: null }, clock());
      const [first] = await db().getUsers([id]);
      expect(first).toEqual({ id, name, avatarUrl: null });
      first!.name = 'changed';
      expect((await db().getUsers([id]))[0]!.name).toBe(name);
    });

    it('a few hundred ids in one call', async () => {
      const ids = Array.from({ length: 300 }, uid);
      for (const id of ids.slice(0, 20)) await db().saveUser({ id, name: id.slice(-6), avatarUrl: null }, clock());
      const found = await db().getUsers(ids);
      expect(found.map((u) => u.id).sort()).toEqual(ids.slice(0, 20).sort());
    });
  });
}
