/**
 * The one module where the Socket.io binding touches what socket.io and engine.io do not offer as
 * public API. Everything else in the binding uses their documented events and methods. Each use is
 * pinned to the installed versions' shape by `test/socket.io/private-fields.test.ts`, so an upgrade
 * that changes one fails there, by name, instead of silently changing behaviour.
 *
 * 1. engine.io's `Socket#write`, replaced on each chat connection. It buys correctness, not speed:
 *    an exact `session:join` (replay first, then live events, none twice, none missing) with any
 *    adapter. Socket.io has no hook that can hold or drop an outgoing packet: a room broadcast,
 *    local or applied from another node, goes from the adapter straight to the connection's `write`;
 *    `onAnyOutgoing` sees the packet but cannot stop it. See `outbound-gate.ts`.
 * 2. engine.io's `Socket#id` (the session id, `sid`): a plain property, but typed private. It ties a
 *    WebSocket upgrade request to the connection it upgrades, so a connection that started on
 *    polling gets its writes corked too (`tcp-socket.ts`).
 * 3. socket.io's `_anyListeners` and `_anyOutgoingListeners` arrays, copied to their exact size.
 *    It buys memory on every idle connection (bench/results/socket-private-fields.md): socket.io
 *    grows them by `push`, which reserves 16 more slots, for lists that hold one function.
 */

/** engine.io's `Socket#write` signature: socket.io calls it with (encoded packet, options). */
export type EngineWrite = (data: unknown, options?: unknown, callback?: unknown) => unknown;

/**
 * Replaces `conn.write` with `write` and returns the original (call it with `conn` as `this`).
 * Every packet socket.io sends on this connection (emits, acks, broadcasts from any adapter) goes
 * through it.
 */
export function replaceWrite(conn: { write: EngineWrite }, write: EngineWrite): EngineWrite {
  const original = conn.write;
  conn.write = write;
  return original;
}

/** The engine.io session id of a connection (`sid` in its requests), or undefined if it has none. */
export function engineSessionId(conn: object): string | undefined {
  const id = (conn as { id?: unknown }).id;
  return typeof id === 'string' ? id : undefined;
}

/** The two any-listener arrays socket.io keeps on each socket. */
export const ANY_LISTENER_FIELDS = ['_anyListeners', '_anyOutgoingListeners'] as const;

/**
 * Copies a socket's any-listener arrays to their exact size, if they are arrays (else leaves them
 * alone). Call after the last `onAny` / `onAnyOutgoing` on the socket.
 */
export function compactAnyListeners(socket: object): void {
  const fields = socket as Record<string, unknown>;
  for (const field of ANY_LISTENER_FIELDS) {
    const value = fields[field];
    if (Array.isArray(value)) fields[field] = value.slice();
  }
}
