import type { Message, NamedMember, SessionMember, UserProfile } from './model.js';
import type { StorageAdapter } from './ports/storage.js';

export interface UserDirectoryOptions {
  /** Profiles kept in memory (least recently used dropped first). Default 10,000. */
  maxEntries?: number;
  /** How long a profile read from storage is trusted before it is read again (another node may have changed it). Default 60 s. */
  ttlMs?: number;
}

interface Entry {
  /** Null: storage has no profile for this id. */
  profile: UserProfile | null;
  readAt: number;
}

/** Ids per storage read: the `getUsers` contract allows a few hundred. */
const READ_CHUNK = 200;

/**
 * The engine's view of user profiles: the last profile seen per user, bounded, in front of storage.
 * A profile is written only when it differs from the one this process last saw for the user, so a
 * connection or request that authenticates with an unchanged name costs no write; reads of names
 * (members, presence, message authors) cost one storage call for the ids not known yet, never one
 * per id.
 */
export class UserDirectory {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;

  constructor(
    private readonly storage: StorageAdapter,
    private readonly clock: () => Date,
    options: UserDirectoryOptions = {},
  ) {
    this.maxEntries = Math.max(1, options.maxEntries ?? 10_000);
    this.ttlMs = options.ttlMs ?? 60_000;
  }

  /** Stores `profile` unless it is the one last seen for the user. */
  async remember(profile: UserProfile): Promise<boolean> {
    const known = this.entries.get(profile.id)?.profile;
    if (known && known.name === profile.name && known.avatarUrl === profile.avatarUrl) return false;
    // Cached before the write: concurrent requests of one user write once. Dropped if it fails.
    const entry = this.put(profile.id, profile);
    try {
      await this.storage.saveUser(profile, this.clock());
    } catch (error) {
      if (this.entries.get(profile.id) === entry) this.entries.delete(profile.id);
      throw error;
    }
    return true;
  }

  /** The profiles of `ids` (null for an id without one): cached ones, the rest in one storage read per chunk. */
  async lookup(ids: Iterable<string>): Promise<Map<string, UserProfile | null>> {
    const now = this.clock().getTime();
    const found = new Map<string, UserProfile | null>();
    const missing: string[] = [];
    for (const id of new Set(ids)) {
      const entry = this.entries.get(id);
      if (entry && now - entry.readAt < this.ttlMs) {
        // Re-inserted: the map's order is the eviction order.
        this.entries.delete(id);
        this.entries.set(id, entry);
        found.set(id, entry.profile);
      } else {
        missing.push(id);
      }
    }
    for (let i = 0; i < missing.length; i += READ_CHUNK) {
      const chunk = missing.slice(i, i + READ_CHUNK);
      const stored = new Map((await this.storage.getUsers(chunk)).map((p) => [p.id, p]));
      for (const id of chunk) {
        const profile = stored.get(id) ?? null;
        this.put(id, profile);
        found.set(id, profile);
      }
    }
    return found;
  }

  private put(id: string, profile: UserProfile | null): Entry {
    const entry = { profile: profile && { ...profile }, readAt: this.clock().getTime() };
    this.entries.delete(id);
    this.entries.set(id, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return entry;
  }
}

/**
 * Names for display, on what the engine returns and announces: members, message authors. A read
 * that fails leaves the names out (reported) rather than failing a call whose change may already be
 * committed and must still be announced.
 */
export class DisplayNames {
  constructor(
    private readonly directory: UserDirectory,
    private readonly readFailed: (error: unknown) => void,
  ) {}

  /** The profiles of `ids` (null: none); empty when they could not be read. */
  async profiles(ids: readonly string[]): Promise<Map<string, UserProfile | null>> {
    if (ids.length === 0) return new Map();
    try {
      return await this.directory.lookup(ids);
    } catch (error) {
      this.readFailed(error);
      return new Map();
    }
  }

  /** Display names by user id (null: none). */
  async names(ids: readonly string[]): Promise<Map<string, string | null>> {
    return new Map([...(await this.profiles(ids))].map(([id, profile]) => [id, profile?.name ?? null]));
  }

  /** Members with their names and avatars: one storage read for the ones not cached. */
  async members(members: SessionMember[]): Promise<NamedMember[]> {
    const profiles = await this.profiles(members.map((m) => m.userId));
    return members.map((m) => {
      const profile = profiles.get(m.userId);
      return { ...m, name: profile?.name ?? null, avatarUrl: profile?.avatarUrl ?? null };
    });
  }

  /** Sets `authorName` on each message: one storage read per page for the names not cached, never one per message. */
  async authors<M extends Message>(messages: M[]): Promise<M[]> {
    const names = await this.names(messages.flatMap((m) => (m.userId === null ? [] : [m.userId])));
    for (const m of messages) m.authorName = m.userId === null ? null : (names.get(m.userId) ?? null);
    return messages;
  }

  async author(message: Message): Promise<Message> {
    return (await this.authors([message]))[0]!;
  }

  async authorsOf<P extends { messages: Message[] }>(page: P): Promise<P> {
    await this.authors(page.messages);
    return page;
  }
}
