import { randomUUID } from 'node:crypto';
import type { BindingContext } from './context.js';
import type { ChatSocket } from './sockets.js';
import { background } from './context.js';
import { sessionRoom, stateOf } from './sockets.js';

/** A node's connected users as its peers last heard: `[userId, sessionIds its sockets joined]`. */
export type Roster = [userId: string, sessionIds: string[]][];

/** Adds `values` to the set under `key`, creating it. */
function addAll(map: Map<string, Set<string>>, key: string, values: Iterable<string>): void {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  for (const value of values) set.add(value);
}

/** Heartbeats a peer may miss before it is taken for dead. */
const MISSED_HEARTBEATS = 3;

/**
 * Presence for the users of a node that died. A node that exits normally disconnects its sockets and
 * every disconnect announces itself; a node that is killed says nothing, so its users would stay
 * "online" on every other screen. Each node therefore tells the others, every `intervalMs` (through
 * the host's adapter, `serverSideEmit`), which users it holds sockets for and which sessions those
 * joined. A peer not heard from for three intervals is dead: one survivor (the lowest node id) looks
 * its users up cluster-wide (one `fetchSockets`) and sends `user:left` for each session they are no
 * longer in and `presence:update` offline for each who has no connection left — what the dead node's
 * disconnects would have sent. A peer that is only slow does not answer that lookup either: the
 * lookup fails (the adapter's timeout) and nothing is announced.
 *
 * A single node (the in-memory adapter, or alone in its cluster) sends nothing.
 */
export class NodeRoster {
  readonly nodeId = randomUUID();
  private readonly peers = new Map<string, { roster: Roster; heardAt: number }>();
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;

  constructor(
    private readonly ctx: BindingContext,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.ctx.nsp.on('parley:roster', this.heard);
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.ctx.nsp.off('parley:roster', this.heard);
  }

  /** A peer's heartbeat (from another node: checked for shape, not trusted blindly). */
  private readonly heard = (nodeId: unknown, roster: unknown): void => {
    if (typeof nodeId !== 'string' || nodeId === this.nodeId || !Array.isArray(roster)) return;
    const valid = roster.filter(
      (entry): entry is Roster[number] =>
        Array.isArray(entry) && typeof entry[0] === 'string' && Array.isArray(entry[1]) && entry[1].every((s: unknown) => typeof s === 'string'),
    );
    this.peers.set(nodeId, { roster: valid, heardAt: Date.now() });
  };

  private async tick(): Promise<void> {
    if (this.ticking || this.ctx.closed) return;
    this.ticking = true;
    try {
      // The in-memory adapter warns on serverSideEmit; a lone node has nobody to tell.
      if ((await this.ctx.nsp.adapter.serverCount()) > 1) this.ctx.nsp.serverSideEmit('parley:roster', this.nodeId, this.localRoster());
      const deadline = Date.now() - MISSED_HEARTBEATS * this.intervalMs;
      const dead: Roster[] = [];
      for (const [id, peer] of this.peers) {
        if (peer.heardAt >= deadline) continue;
        this.peers.delete(id);
        dead.push(peer.roster);
      }
      // Exactly one survivor speaks for the dead: the lowest id among the nodes still heard. Not
      // awaited: a long sweep must not hold up this node's own heartbeats.
      if (dead.length > 0 && [...this.peers.keys()].every((id) => this.nodeId < id)) {
        background(this.ctx, 'node roster', this.sweep(dead.flat()));
      }
    } catch (error) {
      background(this.ctx, 'node roster', Promise.reject(error));
    } finally {
      this.ticking = false;
    }
  }

  /** The users with a socket on this node, and the sessions those sockets joined. */
  private localRoster(): Roster {
    const users = new Map<string, Set<string>>();
    for (const socket of this.ctx.nsp.sockets.values() as IterableIterator<ChatSocket>) {
      const state = stateOf(socket);
      if (state) addAll(users, state.userId, state.sessions.keys());
    }
    return [...users].map(([userId, sessions]) => [userId, [...sessions]]);
  }

  /** What the dead node's disconnects would have sent, for users with nothing left on a live node. */
  private async sweep(roster: Roster): Promise<void> {
    const { ctx } = this;
    const sessionsOf = new Map<string, Set<string>>();
    for (const [userId, sessionIds] of roster) addAll(sessionsOf, userId, sessionIds);
    if (sessionsOf.size === 0) return;
    const roomsOf = new Map<string, Set<string>>();
    for (const socket of await ctx.presence.socketsOfUsers([...sessionsOf.keys()])) {
      if (socket.data.userId !== undefined) addAll(roomsOf, socket.data.userId, socket.rooms);
    }
    for (const [userId, sessionIds] of sessionsOf) {
      if (ctx.closed) return;
      const rooms = roomsOf.get(userId);
      for (const sessionId of sessionIds) {
        if (!rooms?.has(sessionRoom(sessionId))) ctx.nsp.to(sessionRoom(sessionId)).emit('user:left', { sessionId, userId });
      }
      if (rooms !== undefined) continue;
      // One at a time: each reads the user's memberships, and a dead node may have had thousands.
      const announced = ctx.presence.announce(userId, 'offline', sessionIds);
      background(ctx, 'node roster', announced, { userId });
      await announced.catch(() => {});
    }
  }
}
