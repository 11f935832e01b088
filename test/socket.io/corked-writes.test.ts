import { afterEach, describe, expect, it } from 'vitest';
import { tcpSocketOf, type UpgradableConnection } from '../../adapters/socket.io/tcp-socket.js';
import { closeAll, startChat, until, type ChatFixture, type Tab } from './harness.js';

/**
 * Frames written together reach the network in one write, on every kind of connection whose TCP
 * socket the binding can find: one opened on WebSocket, and one that started on long-polling and
 * upgraded (the default of socket.io-client).
 */

afterEach(closeAll);

const POLLING_THEN_UPGRADE = { transports: ['polling', 'websocket'], upgrade: true };

async function member(f: ChatFixture, userId: string, client: Record<string, unknown>): Promise<Tab> {
  const tab = await f.connect(userId, { client });
  expect((await tab.call('session:join', { sessionId: 'room-1' })).ok).toBe(true);
  return tab;
}

function serverSideOf(f: ChatFixture, userId: string) {
  return [...f.io.of('/chat').sockets.values()].find((s) => s.data.userId === userId)!;
}

/** Counts the writes to a TCP socket (one per `_write`, one per `_writev` of several chunks). */
function countWrites(tcp: any): number[] {
  const writes: number[] = [];
  const { _write, _writev } = tcp;
  tcp._write = function (this: unknown, chunk: unknown, encoding: unknown, cb: unknown) {
    writes.push(1);
    return _write.call(this, chunk, encoding, cb);
  };
  tcp._writev = function (this: unknown, chunks: unknown[], cb: unknown) {
    writes.push(chunks.length);
    return _writev.call(this, chunks, cb);
  };
  return writes;
}

describe('socket.io binding: corked writes', () => {
  for (const [kind, client] of [
    ['opened on WebSocket', {}],
    ['upgraded from long-polling', POLLING_THEN_UPGRADE],
  ] as const) {
    it(`messages committed together reach a member ${kind} in one write, complete and in order`, async () => {
      const f = await startChat();
      await f.engine.createSession({ id: 'room-1', title: 'Room', createdBy: 'alice', memberIds: ['bob'] });
      const bob = await member(f, 'bob', client);
      const conn = serverSideOf(f, 'bob').conn;
      await until(() => conn.transport.name === 'websocket' && bob.socket.io.engine.transport.name === 'websocket', 5000, 'the upgrade');
      // The socket ws writes to (read here, in a test, from ws's own field) is the one the binding corks.
      const tcp = (conn.transport as any).socket._socket;
      expect(tcpSocketOf(conn as unknown as UpgradableConnection)).toBe(tcp);
      const writes = countWrites(tcp);

      const contents = Array.from({ length: 8 }, (_, i) => `together ${i}`);
      await Promise.all(contents.map((content) => f.engine.createMessage({ sessionId: 'room-1', userId: 'alice', content })));
      const received = await bob.received.waitFor('message:new', 8);
      expect(received.map((m) => m.content)).toEqual(contents);
      // Engine.io sends the first frame at once and the rest at its next flush: two writes, not eight.
      expect(writes.length).toBeLessThanOrEqual(2);
      expect(writes.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(8);
    });
  }

  it('a connection that stays on long-polling has no TCP socket to cork, and still gets every message', async () => {
    const f = await startChat();
    await f.engine.createSession({ id: 'room-1', title: 'Room', createdBy: 'alice', memberIds: ['bob'] });
    const bob = await member(f, 'bob', { transports: ['polling'] });
    expect(tcpSocketOf(serverSideOf(f, 'bob').conn as unknown as UpgradableConnection)).toBeUndefined();
    const contents = Array.from({ length: 8 }, (_, i) => `polled ${i}`);
    await Promise.all(contents.map((content) => f.engine.createMessage({ sessionId: 'room-1', userId: 'alice', content })));
    expect((await bob.received.waitFor('message:new', 8)).map((m) => m.content)).toEqual(contents);
  });
});
