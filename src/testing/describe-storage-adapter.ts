import { afterAll, beforeAll, describe } from 'vitest';
import type { StorageAdapter } from '../ports/storage.js';
import { defineSessionsCases } from './conformance/sessions.js';
import { defineMessagesCases } from './conformance/messages.js';
import { defineHistoryCases } from './conformance/history.js';
import { defineSearchCases } from './conformance/search.js';
import { defineReactionsCases } from './conformance/reactions.js';
import { defineStreamsCases } from './conformance/streams.js';
import { defineConcurrencyCases } from './conformance/concurrency.js';
import { conformanceKit, SLOW } from './conformance/kit.js';
import { defineUserProfileCases } from './conformance/profiles.js';

export interface DescribeStorageAdapterOptions<A extends StorageAdapter = StorageAdapter> {
  /** Shown in the suite title, e.g. `'sqlite'`. */
  name: string;
  /** Returns a fresh, empty adapter. Do not call `init()`: the suite does. */
  create: () => A | Promise<A>;
  /** Runs after the suite has called `close()`, e.g. to drop a test database or delete a file. */
  destroy?: (adapter: A) => void | Promise<void>;
  /** When set, the whole suite is registered as skipped, with this reason in its title. */
  skip?: string;
}


/**
 * Registers the storage conformance suite: one `describe` block whose cases each check one rule of
 * the `StorageAdapter` contract (from `parley-chat`). One adapter serves the whole suite; every case works in its
 * own freshly created sessions, so the cases do not depend on each other or on their order.
 *
 * @example
 * ```ts
 * // test/my-storage.test.ts
 * import { describeStorageAdapter } from 'parley-chat/testing';
 * import { MyStorage } from '../src/my-storage.js';
 *
 * describeStorageAdapter({
 *   name: 'my-db',
 *   create: () => new MyStorage({ url: process.env.TEST_DB_URL! }),
 *   skip: process.env.TEST_DB_URL ? undefined : 'TEST_DB_URL is not set',
 * });
 * ```
 */
export function describeStorageAdapter<A extends StorageAdapter>(options: DescribeStorageAdapterOptions<A>): void {
  const title = `StorageAdapter conformance: ${options.name}`;
  // Registering the real cases as skipped lists exactly what was not checked, and why.
  const group = options.skip === undefined ? describe : describe.skip;
  group(options.skip === undefined ? title : `${title} (skipped: ${options.skip})`, () => {
    defineCases(options);
  });
}

/** The cases live in ./conformance/, a file per part of the contract, over one shared kit of fixtures. */
function defineCases<A extends StorageAdapter>(options: DescribeStorageAdapterOptions<A>): void {
  let storage: A | undefined;

  beforeAll(async () => {
    storage = await options.create();
    await storage.init();
  }, SLOW);

  afterAll(async () => {
    if (storage === undefined) return;
    const adapter = storage;
    storage = undefined;
    await adapter.close();
    await options.destroy?.(adapter);
  }, SLOW);

  const db = (): A => {
    if (storage === undefined) throw new Error('the adapter was not created (see the beforeAll error)');
    return storage;
  };
  const kit = conformanceKit(db);

  defineSessionsCases(kit);
  defineUserProfileCases(db, kit.clock);
  defineMessagesCases(kit);
  defineHistoryCases(kit);
  defineSearchCases(kit);
  defineReactionsCases(kit);
  defineStreamsCases(kit);
  defineConcurrencyCases(kit);
}
