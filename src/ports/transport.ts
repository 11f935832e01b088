import type { PresenceStatus } from '../model.js';

/**
 * How engine events reach people. `attachChat` implements it over Socket.io rooms; the
 * engine asks it only for what it cannot know itself. Register one with `engine.useTransport(t)`.
 */
export interface Transport {
  /**
   * Who is online right now, across every node. Users missing from the result are offline.
   * `lastSeenAt` is an ISO date or null.
   */
  getPresence?(userIds: readonly string[]): Promise<Map<string, { status: PresenceStatus; lastSeenAt: string | null }>>;
  /**
   * Asks the other nodes to stop a stream this node does not run, and says whether one of them
   * claimed it: the node that runs it calls `engine.stopLocalStreamAndWait(streamId, ms)` and
   * answers true once the stream's final status is committed (or its wait ran out). False when no
   * node claimed it within a short time — its node is gone, or there is no other node — and then
   * the engine commits the stream as stopped itself (compare-and-set: a slow owner finds its row
   * no longer running and stops without writing). A transport resolving nothing counts as no claim.
   * Socket.io: `serverSideEmitWithAck`, so it works behind any adapter.
   */
  requestStop?(streamId: string): Promise<boolean | void>;
  /** Called by `engine.close()`. */
  close?(): Promise<void>;
}
