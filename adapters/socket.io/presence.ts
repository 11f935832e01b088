import type { ChatEngine } from '../../src/engine.js';
import { ChatError } from '../../src/errors.js';
import type { PresenceStatus } from '../../src/model.js';
import type { ChatNamespace, ChatSocket } from './sockets.js';
import { joinedAtOf, sessionRoom, userRoom } from './sockets.js';
import type { ChatSocketData } from './events.js';

/** What `fetchSockets()` tells about a socket, local or on another node. */
interface SocketView {
  id: string;
  data: Partial<ChatSocketData>;
  rooms: Set<string>;
}

/** Sockets are ordered by (time, id); the smallest of a user's is "the first one in". */
function isBefore(at: number, id: string, otherAt: number, otherId: string): boolean {
  return at < otherAt || (at === otherAt && id < otherId);
}

function joinedAt(socket: SocketView, sessionId: string): number {
  return joinedAtOf(socket.data, sessionId) ?? 0;
}

/**
 * Online status counted from Socket.io rooms, never from a node-local counter: every socket of a user
 * is in `user:<id>`, and `fetchSockets()` asks the adapter, so the count spans tabs and nodes, and
 * sockets of a node that died drop out of it. "First in" is decided by the (time, id) order of the
 * user's sockets, so two tabs connecting at once announce at least once (usually exactly once) and
 * never zero times; "last out" is checked after the socket has left its rooms.
 */
export class PresenceTracker {
  constructor(
    private readonly nsp: ChatNamespace,
    private readonly engine: ChatEngine,
  ) {}

  /** Whether `socket` is the first of its user's connections (call after it joined `user:<id>`). */
  async isFirstConnection(socket: ChatSocket): Promise<boolean> {
    const { connectedAt } = socket.data;
    const sockets = await this.socketsOf(socket.data.userId);
    // Stryker disable next-line ConditionalExpression: a socket is never before itself, so counting it changes nothing
    return !sockets.some((s) => s.id !== socket.id && isBefore(s.data.connectedAt ?? 0, s.id, connectedAt, socket.id));
  }

  /** Whether the user has no connection left anywhere. */
  async isOffline(userId: string): Promise<boolean> {
    return (await this.socketsOf(userId)).length === 0;
  }

  /** Whether `socket` is the first of its user's sockets in the session (call after it joined the room). */
  async isFirstInSession(socket: ChatSocket, sessionId: string): Promise<boolean> {
    const room = sessionRoom(sessionId);
    const mine = joinedAt(socket, sessionId);
    const sockets = await this.socketsOf(socket.data.userId);
    // Stryker disable next-line ConditionalExpression: a socket is never before itself, so counting it changes nothing
    return !sockets.some((s) => s.id !== socket.id && s.rooms.has(room) && isBefore(joinedAt(s, sessionId), s.id, mine, socket.id));
  }

  /** Whether none of the user's sockets is in the session any more. */
  async isAbsentFromSession(userId: string, sessionId: string): Promise<boolean> {
    const room = sessionRoom(sessionId);
    return !(await this.socketsOf(userId)).some((s) => s.rooms.has(room));
  }

  /**
   * Sends `presence:update` to the sessions the user is in: their memberships plus `alsoSessionIds`
   * (sessions their sockets joined without being members, under an `'open'` policy).
   */
  // Stryker disable next-line ArrayDeclaration: a default that is no session id (ids hold no space) names a room no socket is in
  async announce(userId: string, status: PresenceStatus, alsoSessionIds: Iterable<string> = []): Promise<void> {
    const ids = new Set(alsoSessionIds);
    try {
      for (const s of await this.engine.listSessions(userId)) ids.add(s.id);
    } finally {
      // Even if the memberships cannot be read, the sessions the socket was in hear about it.
      if (ids.size > 0) {
        const name = await this.nameOf(userId);
        const event = { userId, ...(name !== null && { name }), status, lastSeenAt: new Date().toISOString() };
        this.nsp.to([...ids].map(sessionRoom)).emit('presence:update', event);
      }
    }
  }

  /** The user's profile name; trouble reading it must not stop the announcement. */
  private async nameOf(userId: string): Promise<string | null> {
    try {
      return (await this.engine.getUsers([userId]))[0]?.name ?? null;
    } catch {
      return null;
    }
  }

  /** `Transport.getPresence`: who of `userIds` has a connection on any node (one adapter round trip). */
  async getPresence(userIds: readonly string[]): Promise<Map<string, { status: PresenceStatus; lastSeenAt: string | null }>> {
    const online = new Map<string, { status: PresenceStatus; lastSeenAt: string | null }>();
    if (userIds.length === 0) return online;
    const sockets = await this.fetch([...new Set(userIds)].map(userRoom));
    const now = new Date().toISOString();
    // Stryker disable next-line ConditionalExpression: every socket in a user room was given its userId when it connected
    for (const s of sockets) if (s.data.userId !== undefined) online.set(s.data.userId, { status: 'online', lastSeenAt: now });
    return online;
  }

  /** Every socket of these users, on any node (one adapter round trip). */
  socketsOfUsers(userIds: readonly string[]): Promise<SocketView[]> {
    return this.fetch([...new Set(userIds)].map(userRoom));
  }

  private socketsOf(userId: string): Promise<SocketView[]> {
    return this.fetch([userRoom(userId)]);
  }

  private async fetch(rooms: string[]): Promise<SocketView[]> {
    try {
      return (await this.nsp.in(rooms).fetchSockets()) as SocketView[];
    } catch (error) {
      // A cluster adapter times out when a node does not answer.
      throw new ChatError('UNAVAILABLE', 'Presence is unavailable right now', { cause: error });
    }
  }
}
