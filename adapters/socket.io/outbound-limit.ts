/**
 * A cap on what one connection can make the server hold for it. A client that stops reading (but
 * stays connected) leaves every packet for it queued in the process: engine.io buffers packets
 * while its transport is busy writing, and a WebSocket write stays busy until the client's TCP
 * window opens again — never, for a client that does not read. Past the cap the connection is
 * closed, and what was queued for it is freed.
 *
 * Counted with engine.io's public connection API only (`socket.conn`): each packet socket.io writes
 * (`conn.write`, seen by the connection's gate) adds its bytes before engine.io queues it; 'flush'
 * (emitted only while the transport is writable, that is once the previous batch was written out)
 * hands what was queued to the transport as the batch now being written. A connection holds what
 * is queued plus, while its transport is not writable, that batch. For polling, a batch is written
 * at once as one HTTP response and the transport stays not writable until the client polls again:
 * counting the batch until then errs on the safe side by one batch. Engine.io's own few-byte
 * packets (ping, noop) are not counted.
 */

/** The counters of one connection (kept on its ConnectionGate: nothing allocated per connection). */
export interface OutboundBacklog {
  /** Bytes of the packets queued since the last flush. */
  queuedBytes: number;
  /** Bytes of the batch last handed to the transport. */
  writingBytes: number;
}

/** The slice of an engine.io Socket (`socket.conn`) the limit reads and closes: public fields only. */
export interface LimitedConnection {
  readonly readyState: string;
  readonly transport: { readonly writable: boolean };
  close(discard?: boolean): unknown;
}

/** What a limit reports when it closes a connection. */
export type OutboundLimitExceeded = (conn: LimitedConnection, heldBytes: number, maxBytes: number) => void;

export class OutboundLimit {
  /** Connections being closed (the close waits for the packet that crossed the cap to be queued). */
  private readonly closing = new WeakSet<object>();
  // A room broadcast queues the same encoded string on every member's connection: measure it once.
  private lastData: unknown = undefined;
  private lastSize = 0;

  constructor(
    readonly maxBytes: number,
    private readonly exceeded: OutboundLimitExceeded,
  ) {}

  /** A packet is about to be queued on `conn`; past the cap, `conn` is closed. */
  queued(conn: LimitedConnection, backlog: OutboundBacklog, data: unknown): void {
    backlog.queuedBytes += this.sizeOf(data);
    const held = backlog.queuedBytes + (conn.transport.writable ? 0 : backlog.writingBytes);
    if (held <= this.maxBytes || this.closing.has(conn)) return;
    this.closing.add(conn);
    // Not from inside the write: that runs within socket.io's broadcast to a whole room.
    process.nextTick(() => {
      if (conn.readyState === 'closed') return;
      this.exceeded(conn, held, this.maxBytes);
      // `discard`: close now, without waiting for the queue to drain (it never would).
      conn.close(true);
    });
  }

  /** What was queued went to the transport (engine.io 'flush'); the batch before it was written out. */
  flushed(backlog: OutboundBacklog): void {
    backlog.writingBytes = backlog.queuedBytes;
    backlog.queuedBytes = 0;
  }

  private sizeOf(data: unknown): number {
    if (typeof data === 'string') {
      if (data !== this.lastData) {
        this.lastData = data;
        this.lastSize = Buffer.byteLength(data);
      }
      return this.lastSize;
    }
    return data instanceof ArrayBuffer || ArrayBuffer.isView(data) ? data.byteLength : 0;
  }
}
