import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { ANY_LISTENER_FIELDS, compactAnyListeners, engineSessionId, replaceWrite, type EngineWrite } from '../../adapters/socket.io/private-fields.js';
import { until } from './harness.js';
import { inProcessCluster } from './in-process-cluster-adapter.js';

/**
 * What the Socket.io binding relies on beyond socket.io's and engine.io's public API
 * (adapters/socket.io/private-fields.ts), checked against the installed versions. A failure here
 * after an upgrade means that module must change before the binding can be trusted again.
 */

const installed = ['socket.io', 'engine.io', 'socket.io-adapter', 'ws']
  .map((name) => `${name}@${JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8')).version}`)
  .join(', ');
const upgradeBroke = (what: string) => `${what} — the installed ${installed} changed what adapters/socket.io/private-fields.ts relies on`;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A raw Socket.io server on a free port (no chat attached), with its own adapter if given one. */
async function serve(adapter?: unknown): Promise<{ io: Server; url: string }> {
  const http = createServer();
  const io = new Server(http, adapter === undefined ? {} : { adapter: adapter as never });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => io.close(() => resolve())));
  return { io, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

/** A connected client and the server's socket for it. */
async function connect(io: Server, url: string, transports: string[] = ['websocket']): Promise<{ client: ClientSocket; socket: Socket }> {
  const arrived = new Promise<Socket>((resolve) => io.once('connection', resolve));
  const client = connectClient(url, { forceNew: true, reconnection: false, transports });
  cleanups.push(() => void client.disconnect());
  const socket = await arrived;
  await until(() => client.connected, 5000, 'client connected');
  return { client, socket };
}

/** Replaces the connection's write with one that records each packet and drops those naming `dropped`. */
function recordWrites(socket: Socket, dropped: string): string[] {
  const written: string[] = [];
  const conn = socket.conn as unknown as { write: EngineWrite };
  const original = replaceWrite(conn, (data, options, callback) => {
    written.push(String(data));
    if (String(data).includes(dropped)) return conn;
    return original.call(conn, data, options, callback);
  });
  return written;
}

describe('what the socket.io binding relies on beyond public API (installed versions)', () => {
  it("every packet socket.io sends on a connection goes through its engine.io `write`, which can hold it back", async () => {
    const { io, url } = await serve();
    const { client, socket } = await connect(io, url);
    expect(typeof (socket.conn as unknown as { write?: unknown }).write, upgradeBroke('engine.io Socket#write is gone')).toBe('function');
    const written = recordWrites(socket, 'dropped');
    socket.on('ask', (answer: (reply: string) => void) => answer('the ack'));
    socket.join('room');
    const got: string[] = [];
    client.onAny((event: string) => got.push(event));

    socket.emit('direct');
    socket.emit('dropped');
    io.to('room').emit('to room');
    io.emit('to all');
    expect(await client.timeout(5000).emitWithAck('ask')).toBe('the ack');
    await until(() => got.length >= 3, 5000, 'the broadcasts');

    for (const event of ['direct', 'dropped', 'to room', 'to all']) {
      expect(written.some((data) => data.includes(`"${event}"`)), upgradeBroke(`"${event}" did not go through conn.write`)).toBe(true);
    }
    expect(written.some((data) => data.includes('"the ack"')), upgradeBroke('the ack did not go through conn.write')).toBe(true);
    expect(got, upgradeBroke('a packet the write held back still reached the client')).toEqual(['direct', 'to room', 'to all']);
  });

  it("a room broadcast from another node of a cluster goes through the receiving connection's `write` too", async () => {
    const cluster = inProcessCluster();
    cleanups.push(() => cluster.close());
    const a = await serve(cluster.adapter);
    const b = await serve(cluster.adapter);
    const { client, socket } = await connect(b.io, b.url);
    const written = recordWrites(socket, 'never');
    socket.join('room');
    await until(async () => (await a.io.of('/').adapter.serverCount()) === 2, 5000, 'cluster formed');
    const got = new Promise<string>((resolve) => client.on('from a', resolve));
    a.io.to('room').emit('from a', 'hello');
    expect(await got).toBe('hello');
    expect(written.some((data) => data.includes('"from a"')), upgradeBroke("a remote broadcast bypassed conn.write")).toBe(true);
  });

  it("engine.io's `id` is the session id its client was given (the `sid` of its requests)", async () => {
    const { io, url } = await serve();
    const { client, socket } = await connect(io, url, ['polling']);
    const sid = client.io.engine.id;
    expect(sid).toEqual(expect.any(String));
    expect(engineSessionId(socket.conn), upgradeBroke('engine.io Socket#id is not the sid')).toBe(sid);
  });

  it('socket.io keeps any-listeners in arrays that compactAnyListeners copies, and they still fire', async () => {
    const { io, url } = await serve();
    const { client, socket } = await connect(io, url);
    const incoming: string[] = [];
    const outgoing: string[] = [];
    const onIncoming = (event: string) => incoming.push(event);
    const onOutgoing = (event: string) => outgoing.push(event);
    socket.onAny(onIncoming);
    socket.onAnyOutgoing(onOutgoing);
    const fields = socket as unknown as Record<(typeof ANY_LISTENER_FIELDS)[number], unknown>;
    const before = { _anyListeners: fields._anyListeners, _anyOutgoingListeners: fields._anyOutgoingListeners };
    expect(fields._anyListeners, upgradeBroke('socket.io no longer keeps onAny listeners in _anyListeners')).toEqual([onIncoming]);
    expect(fields._anyOutgoingListeners, upgradeBroke('socket.io no longer keeps onAnyOutgoing listeners in _anyOutgoingListeners')).toEqual([onOutgoing]);

    compactAnyListeners(socket);
    for (const field of ANY_LISTENER_FIELDS) {
      expect(fields[field]).not.toBe(before[field]); // a copy...
      expect(fields[field]).toEqual(before[field]); // ...of the same listeners
    }
    const echoed = new Promise<void>((resolve) => client.once('pong!', () => resolve()));
    client.emit('ping!');
    await until(() => incoming.length === 1, 5000, 'the incoming event');
    socket.emit('pong!');
    await echoed;
    expect(incoming, upgradeBroke('onAny listeners stopped firing after compaction')).toEqual(['ping!']);
    expect(outgoing, upgradeBroke('onAnyOutgoing listeners stopped firing after compaction')).toEqual(['pong!']);
    // socket.io's own removal still finds them in the copies
    socket.offAny(onIncoming);
    socket.offAnyOutgoing(onOutgoing);
    expect(fields._anyListeners).toEqual([]);
    expect(fields._anyOutgoingListeners).toEqual([]);
  });
});
