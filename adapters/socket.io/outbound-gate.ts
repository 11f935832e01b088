/**
 * Per-connection control of what is written to a client, used to make `session:join` exact with any
 * Socket.io adapter (see `sessions.ts`).
 *
 * Why at the connection: session events reach a socket by room broadcast, and with a cluster adapter
 * a broadcast from another node is applied here without any local domain event — the only place
 * that sees every packet bound for one socket, local or remote, is the write to its engine.io
 * connection (`conn.write`, which socket.io calls for every packet: emits, acks and broadcasts from
 * every adapter). Which packet is being written is learnt from `socket.onAnyOutgoing`, which
 * socket.io calls with the decoded packet right before writing it, so this works with any parser.
 *
 * Socket.io offers no public hook that can hold or drop an outgoing packet, so the gate replaces
 * the connection's `write` (through `private-fields.ts`, where that is pinned to the installed
 * versions).
 *
 * The gate also counts the connection's outbound bytes for the cap on a connection that does not
 * read (`outbound-limit.ts`), with no allocation or listener of its own.
 */

import type { LimitedConnection, OutboundBacklog, OutboundLimit } from './outbound-limit.js';
import { replaceWrite, type EngineWrite } from './private-fields.js';
import { tcpSocketOf, type Corkable, type UpgradableConnection } from './tcp-socket.js';

/** The delivery state of one socket in one session. */
export class SessionCursor {
  /**
   * The replay covered every change up to this seq, so a live event at or below it is a duplicate.
   * Infinity while the join is pending (and forever after a failed one: nothing may pass).
   */
  floor = Number.POSITIVE_INFINITY;
  /** Highest change seq written to the connection. */
  sent = 0;
  /** A seq the client surely received: written before a ping it answered (see `onHeartbeat`). */
  confirmed = 0;
  /** `sent` at the last pong. */
  atLastPong = 0;

  constructor(readonly joinedAt: number) {}

  /** Whether a live event with this seq goes out; counts it as sent if so. */
  admit(seq: number): boolean {
    if (seq <= this.floor) return false;
    if (seq > this.sent) this.sent = seq;
    return true;
  }
}

/** The slice of an engine.io Socket the gate needs. */
export interface GatedConnection extends LimitedConnection, UpgradableConnection {
  write: EngineWrite;
  readonly transport: LimitedConnection['transport'] & UpgradableConnection['transport'];
  on(event: string, listener: (...args: any[]) => void): unknown;
}

interface HeldWrite {
  data: unknown;
  options: unknown;
  callback: unknown;
  cursor: SessionCursor | null;
  seq: number;
}

const gates = new WeakMap<object, ConnectionGate>();
const NO_MEMBERS: ReadonlyMap<string, SessionCursor>[] = [];

/**
 * A pong proves the client read everything written before the ping it answers (one ordered
 * stream). What was sent at the previous pong was written before this pong's ping, so it becomes
 * `confirmed`: a delivery cursor that survives an abrupt disconnect (one ping interval behind).
 * Shared by every connection (`this` is the engine.io socket): nothing allocated per connection.
 */
function onHeartbeat(this: object): void {
  const gate = gates.get(this);
  if (!gate) return;
  for (const cursors of gate.members) {
    for (const c of cursors.values()) {
      if (c.atLastPong > c.confirmed) c.confirmed = c.atLastPong;
      c.atLastPong = c.sent;
    }
  }
}

const uncork = (socket: Corkable) => socket.uncork();

/**
 * Engine.io writes one packet at a time per connection: while one is being written, the next ones
 * wait in its buffer, and leave together at the next flush — but as one `ws.send` each, so one
 * `writev` system call per frame. Corking the TCP socket for the flush hands the kernel all of them
 * at once (one call, fewer segments for the client to read): when a batch of sends commits, each
 * member's connection gets its `message:new` frames in one write instead of one per message. The
 * socket is uncorked on the next tick (Node's own pattern for `cork`), so nothing waits longer.
 * Only WebSocket transports whose TCP socket can be found (`tcp-socket.ts`); anything else is left alone.
 */
function onFlush(this: GatedConnection, packets: readonly unknown[]): void {
  const gate = gates.get(this); // what was queued is now the batch being written (see OutboundLimit)
  if (!gate) return;
  if (gate.outboundLimit) gate.outboundLimit.flushed(gate);
  if (packets.length < 2) return; // one frame is one write either way
  // Found once: a WebSocket transport keeps its TCP socket, and a connection never leaves WebSocket.
  const socket = (gate.tcpSocket ??= tcpSocketOf(this));
  if (socket === undefined || socket.writableCorked) return;
  socket.cork();
  process.nextTick(uncork, socket);
}

export class ConnectionGate implements OutboundBacklog {
  /** The gate of a connection, installed on first use; shared by the chat sockets multiplexed on it. */
  static of(conn: GatedConnection): ConnectionGate {
    let gate = gates.get(conn);
    if (!gate) {
      gate = new ConnectionGate(conn);
      gates.set(conn, gate);
      conn.on('heartbeat', onHeartbeat);
      conn.on('flush', onFlush);
    }
    return gate;
  }

  /**
   * Set by the outgoing-packet listener right before socket.io writes that packet: the packet is a
   * change of the session `nextCursor` tracks, with seq `nextSeq` (null: not a session change).
   */
  nextCursor: SessionCursor | null = null;
  nextSeq = 0;
  /** Cursor maps of the chat sockets on this connection (one, unless the host attached several chat namespaces). */
  members: ReadonlyMap<string, SessionCursor>[] = NO_MEMBERS;
  /** The cap on what this connection may queue (the smallest, if several chat namespaces share it). */
  outboundLimit: OutboundLimit | null = null;
  queuedBytes = 0;
  writingBytes = 0;
  /** The TCP socket under the connection's WebSocket transport, once found (see `onFlush`). */
  tcpSocket: Corkable | undefined = undefined;
  private readonly original: EngineWrite;
  private holds = 0;
  private bypassing = 0;
  private held: HeldWrite[] | null = null; // allocated by a hold: most of the time there is none

  private constructor(private readonly conn: GatedConnection) {
    this.original = replaceWrite(conn, (data, options, callback) => this.write(data, options, callback));
  }

  /** Counts this connection's outbound bytes against `limit` (or a smaller limit it already has). */
  limitTo(limit: OutboundLimit): void {
    if (this.outboundLimit === null || limit.maxBytes < this.outboundLimit.maxBytes) this.outboundLimit = limit;
  }

  /** Counts a socket's sessions in the heartbeat bookkeeping. */
  join(cursors: ReadonlyMap<string, SessionCursor>): void {
    this.members = this.members.concat([cursors]); // exact size: a push would reserve 16 more slots
  }

  leave(cursors: ReadonlyMap<string, SessionCursor>): void {
    this.members = this.members.filter((m) => m !== cursors);
  }

  /** Holds every write (in order) until as many `release()` calls. */
  hold(): void {
    this.holds++;
  }

  /** Ends a hold; the last one flushes, dropping session events at or below their socket's floor. */
  release(): void {
    if (this.holds === 0 || --this.holds > 0) return;
    const held = this.held ?? [];
    this.held = null;
    for (const w of held) {
      if (w.cursor !== null && !w.cursor.admit(w.seq)) continue;
      this.pass(w.data, w.options, w.callback);
    }
  }

  /** Writes made inside `fn` (synchronously) skip the hold and the floor: the replay itself. */
  bypass(fn: () => void): void {
    this.bypassing++;
    try {
      fn();
    } finally {
      this.bypassing--;
    }
  }

  private write(data: unknown, options: unknown, callback: unknown): unknown {
    const cursor = this.nextCursor;
    this.nextCursor = null;
    if (this.bypassing > 0) return this.pass(data, options, callback);
    if (this.holds > 0) {
      (this.held ??= []).push({ data, options, callback, cursor, seq: this.nextSeq });
      return this.conn;
    }
    if (cursor !== null && !cursor.admit(this.nextSeq)) return this.conn;
    return this.pass(data, options, callback);
  }

  /**
   * Hands a packet to engine.io, counted against the outbound limit first (as engine.io's own
   * 'packetCreate' would be: before the packet is queued and maybe flushed). Counted here because
   * every packet socket.io sends goes through this write already; a listener of our own would grow
   * every connection's listener table.
   */
  private pass(data: unknown, options: unknown, callback: unknown): unknown {
    this.outboundLimit?.queued(this.conn, this, data);
    return this.original.call(this.conn, data, options, callback);
  }
}
