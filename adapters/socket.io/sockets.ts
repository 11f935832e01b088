/**
 * A chat socket as this binding sees it: its types, the rooms it joins, and this node's bookkeeping
 * for it. A leaf module: the trackers and handlers import it, it imports none of them.
 */
import type { Namespace, Socket } from 'socket.io';
import type { ChatSocketData, ClientToServerEvents, InterServerEvents, ServerToClientEvents } from './events.js';
import type { ConnectionGate, SessionCursor } from './outbound-gate.js';

export type ChatNamespace = Namespace<ClientToServerEvents, ServerToClientEvents, InterServerEvents, ChatSocketData>;
export type ChatSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, ChatSocketData>;

/** Rooms: every socket of a user is in `user:<id>`; every socket joined to a session in `session:<id>`. */
export const userRoom = (userId: string) => intern(`user:${userId}`);
export const sessionRoom = (sessionId: string) => intern(`session:${sessionId}`);

/**
 * The one shared copy of a string (V8 internalizes property names). Every socket's room set holds
 * the room's name: with one copy per session instead of one per socket, an idle socket costs ~150
 * bytes less.
 */
function intern(s: string): string {
  return Object.keys({ [s]: 0 })[0] ?? s;
}

/** This node's bookkeeping for one chat socket (everything durable lives in the engine). */
export class SocketState {
  /** Sessions this socket joined, with what was delivered to it there. */
  readonly sessions = new Map<string, SessionCursor>();
  /** When the socket's identity expires, in ms since the epoch (Infinity: never); see TokenExpiry. */
  authExpiresAt = Number.POSITIVE_INFINITY;
  /** Whether `auth:expired` went out for the current expiry (the grace is running). */
  authExpiryNotified = false;
  /** Joins, leaves and the disconnect clean-up of one socket run one after another (null when idle). */
  private chain: Promise<void> | null = null;
  private pending = 0;

  constructor(
    readonly socket: ChatSocket,
    readonly gate: ConnectionGate,
  ) {}

  get userId(): string {
    return this.socket.data.userId;
  }

  /** Runs `op` after every op queued before it; its failure does not stop the ones after it. */
  serial<T>(op: () => Promise<T>): Promise<T> {
    this.pending++;
    const run = (this.chain ?? Promise.resolve()).then(op);
    // Keep neither the value nor the error, nor the chain once idle: retaining the last result (a
    // join's members and presence) would cost every idle socket a few KiB.
    const settled = run.then(noop, noop).then(() => {
      if (--this.pending === 0) this.chain = null;
    });
    this.chain = settled;
    return run;
  }
}

const noop = () => {};

/** When the socket joined the session, per its `data` (local or fetched from another node). */
export function joinedAtOf(data: Partial<ChatSocketData>, sessionId: string): number | undefined {
  const joined = data.joined;
  if (!Array.isArray(joined)) return undefined;
  for (let i = 0; i + 1 < joined.length; i += 2) {
    if (joined[i] === sessionId) return typeof joined[i + 1] === 'number' ? (joined[i + 1] as number) : undefined;
  }
  return undefined;
}

export function markJoined(data: ChatSocketData, sessionId: string, at: number): void {
  // concat, not push or spread: those leave room for 16 more elements, on every socket.
  if (joinedAtOf(data, sessionId) === undefined) data.joined = data.joined.concat([sessionId, at]);
}

export function unmarkJoined(data: ChatSocketData, sessionId: string): void {
  for (let i = 0; i + 1 < data.joined.length; i += 2) {
    if (data.joined[i] === sessionId) {
      data.joined = data.joined.filter((_, j) => j !== i && j !== i + 1);
      return;
    }
  }
}

const states = new WeakMap<object, SocketState>();
export const stateOf = (socket: object): SocketState | undefined => states.get(socket);
export const setState = (socket: object, state: SocketState) => states.set(socket, state);
