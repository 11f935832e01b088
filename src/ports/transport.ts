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
  /**
   * Asks the other nodes to stop a stream this node does not run (the node that runs it calls
   * `engine.stopLocalStream(streamId)`). Socket.io: `serverSideEmit`, so it works behind any adapter.
   */
  requestStop?(streamId: string): Promise<void>;
  /** Called by `engine.close()`. */
  close?(): Promise<void>;
}
