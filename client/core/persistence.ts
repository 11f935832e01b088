/**
 * Where the client keeps what must outlive a page: each session's cursor (the highest seq applied)
 * and the outbox of unsent messages. Any `{ getItem, setItem, removeItem }`, sync or async, fits:
 * `localStorage`, `sessionStorage`, an IndexedDB wrapper, React Native's AsyncStorage.
 */
export interface ChatPersistence {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

/**
 * Keeps everything in a Map: survives reconnects, not a reload. Pass the same object to a new
 * client to carry the outbox and cursors over (what a reload does with `localStorage`).
 *
 * ```ts
 * const persistence = memoryPersistence();
 * const client = createChatClient({ url, token, persistence });
 * ```
 */
export function memoryPersistence(): ChatPersistence & { readonly size: number } {
  const items = new Map<string, string>();
  return {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
    get size() {
      return items.size;
    },
  };
}

/**
 * The browser's `localStorage` (or any Storage-shaped object passed in). Falls back to memory where
 * there is none (Node, a private window that refuses writes), so a client never fails to start.
 */
export function localStoragePersistence(storage?: ChatPersistence): ChatPersistence {
  const target = storage ?? (globalThis as { localStorage?: ChatPersistence }).localStorage;
  if (!target) return memoryPersistence();
  const fallback = memoryPersistence();
  return {
    getItem: (key) => {
      try {
        return target.getItem(key);
      } catch {
        return fallback.getItem(key);
      }
    },
    setItem: (key, value) => {
      try {
        return target.setItem(key, value);
      } catch {
        // Quota exceeded or storage disabled: keep it for this page at least.
        return fallback.setItem(key, value);
      }
    },
    removeItem: (key) => {
      try {
        return target.removeItem(key);
      } catch {
        return fallback.removeItem(key);
      }
    },
  };
}

/** The `persistence` option: a name or an object. */
export type PersistenceOption = 'local' | 'memory' | ChatPersistence;

export function resolvePersistence(option: PersistenceOption | undefined): ChatPersistence {
  if (option === undefined || option === 'memory') return memoryPersistence();
  if (option === 'local') return localStoragePersistence();
  return option;
}

/** Reads a JSON value; a missing or corrupt one is `fallback` (a bad entry must not block the client). */
export async function readJson<T>(persistence: ChatPersistence, key: string, fallback: T): Promise<T> {
  try {
    const raw = await persistence.getItem(key);
    return raw === null ? fallback : (JSON.parse(raw) as T);
  } catch {
    return fallback;
  }
}
