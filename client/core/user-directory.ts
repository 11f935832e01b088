import type { UserProfile } from '../../src/model.js';

/** Ids per `GET /users` (the server's bound). */
const BATCH = 100;
/** An id whose lookup failed (offline, rate limited) may be asked for again after this. */
const RETRY_MS = 10_000;

/**
 * The display names this client knows, shared by its sessions: learnt from what the server sends
 * (member lists, presence, typing, message authors) and, for ids it has not named, fetched with
 * `GET /users` — the ids wanted in one tick go in one request (per 100), and each id is asked for
 * once (a failed request may be retried after a while).
 */
export class UserDirectory {
  /** Null: the server has no profile for this id. */
  private readonly profiles = new Map<string, { name: string | null; avatarUrl: string | null } | null>();
  private readonly queued = new Set<string>();
  /** Ids asked for (in flight, or failed at this time). */
  private readonly asked = new Map<string, number>();
  private flushQueued = false;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly fetchUsers: (ids: readonly string[]) => Promise<UserProfile[]>) {}

  name(userId: string): string | null {
    return this.profiles.get(userId)?.name ?? null;
  }

  avatarUrl(userId: string): string | null {
    return this.profiles.get(userId)?.avatarUrl ?? null;
  }

  /**
   * A name the server sent along with an event or a list. Null means the server said the user has
   * none (nothing to fetch); undefined, that it did not say.
   */
  learn(userId: string, name: string | null | undefined, avatarUrl?: string | null): void {
    if (name === undefined) return;
    if (name === null || name === '') {
      if (!this.profiles.has(userId)) this.profiles.set(userId, null);
      return;
    }
    const known = this.profiles.get(userId);
    if (known?.name === name && (avatarUrl === undefined || known.avatarUrl === avatarUrl)) return;
    this.profiles.set(userId, { name, avatarUrl: avatarUrl === undefined ? (known?.avatarUrl ?? null) : avatarUrl });
    this.notify();
  }

  /** Fetches, in one request per tick, the ids not known yet. */
  want(userIds: Iterable<string>): void {
    const now = Date.now();
    for (const id of userIds) {
      if (this.profiles.has(id)) continue;
      const at = this.asked.get(id);
      if (at !== undefined && (at === Infinity || now - at < RETRY_MS)) continue;
      this.queued.add(id);
    }
    if (this.queued.size === 0 || this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => void this.flush());
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  private async flush(): Promise<void> {
    this.flushQueued = false;
    const ids = [...this.queued];
    this.queued.clear();
    for (let i = 0; i < ids.length; i += BATCH) {
      const batch = ids.slice(i, i + BATCH);
      for (const id of batch) this.asked.set(id, Infinity);
      try {
        const found = new Map((await this.fetchUsers(batch)).map((u) => [u.id, u]));
        for (const id of batch) {
          const user = found.get(id);
          // A name learnt from an event meanwhile is as fresh: keep it.
          if (!this.profiles.get(id)?.name) this.profiles.set(id, user ? { name: user.name, avatarUrl: user.avatarUrl } : null);
        }
        this.notify();
      } catch {
        const now = Date.now();
        for (const id of batch) this.asked.set(id, now);
      }
    }
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
