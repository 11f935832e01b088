/**
 * The TCP socket under a connection's WebSocket transport, found through public API: Node's
 * `IncomingMessage#socket` is the socket a WebSocket upgrade takes over (the one `ws` writes to).
 * - A connection opened on WebSocket has that upgrade request as its `request`.
 * - A connection that started on HTTP long-polling and upgraded later: engine.io's `headers` event
 *   hands us every request of a session, upgrades included, and the upgrade names the session it
 *   upgrades (`sid`). Recorded until that TCP socket closes.
 * Anything else (polling, WebTransport, a host that set `conn.request = null` to save memory, a
 * custom WebSocket engine) has none, and its writes are simply not corked.
 */

import type { IncomingMessage } from 'node:http';
import { engineSessionId } from './private-fields.js';

/** What corking needs of a TCP socket. */
export interface Corkable {
  cork(): void;
  uncork(): void;
  readonly writableCorked: number;
}

/** The public slice of an engine.io connection read here. */
export interface UpgradableConnection {
  readonly request?: IncomingMessage | null;
  readonly transport: { readonly name?: string };
}

/** The public slice of an engine.io server read here. */
export interface UpgradeSource {
  on(event: 'headers', listener: (headers: unknown, request: IncomingMessage) => void): unknown;
}

/** TCP sockets of WebSocket upgrades, by the engine.io session they upgrade. */
const upgrades = new Map<string, IncomingMessage['socket']>();
const watched = new WeakSet<object>();

/** Records the upgrades `engine` handles from now on (once per engine, however many bindings). */
export function watchUpgrades(engine: UpgradeSource): void {
  if (watched.has(engine)) return;
  watched.add(engine);
  engine.on('headers', onHeaders);
}

function onHeaders(_headers: unknown, request: IncomingMessage): void {
  if (!isWebSocketUpgrade(request)) return; // a polling request: nothing to record
  const sid = sessionIdOf(request.url);
  if (sid === null) return; // opened on WebSocket: the connection's own `request`
  const socket = request.socket;
  upgrades.set(sid, socket);
  socket.once('close', () => {
    if (upgrades.get(sid) === socket) upgrades.delete(sid);
  });
}

/** The TCP socket `conn`'s WebSocket transport writes to, if there is one and it can be found. */
export function tcpSocketOf(conn: UpgradableConnection): Corkable | undefined {
  if (conn.transport.name !== 'websocket') return undefined;
  const request = conn.request;
  if (request && isWebSocketUpgrade(request)) return request.socket;
  const sid = engineSessionId(conn);
  return sid === undefined ? undefined : upgrades.get(sid);
}

function isWebSocketUpgrade(request: IncomingMessage): boolean {
  return request.headers?.upgrade?.toLowerCase() === 'websocket';
}

function sessionIdOf(url: string | undefined): string | null {
  const query = url?.indexOf('?') ?? -1;
  return query < 0 ? null : new URLSearchParams(url!.slice(query + 1)).get('sid');
}
