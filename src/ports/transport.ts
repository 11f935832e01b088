import type { PresenceStatus } from '../model.js';

/**
 * How engine events reach people (DESIGN §3). `attachChat` implements it over Socket.io rooms; the
 * engine asks it only for what it cannot know itself. Register one with `engine.useTransport(t)`.
 */
export interface Transport {
  /**
   * Who is online right now, across every node. Users missing from the result are offline.
   * `lastSeenAt` is an ISO date or null.
   */
  getPresence?(userIds: readonly string[]): Promise<Map<string, { status: PresenceStatus; lastSeenAt: string | null }>>;
  /** Called by `engine.close()`. */
  close?(): Promise<void>;
}
