import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ChatError } from 'parley-chat';
import { SqliteStorage } from 'parley-chat/sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, startChat, tokenFor, until, type ChatFixture, type Tab } from './harness.js';

/**
 * A client that stays connected but never reads: whatever is sent to it would stay queued in the
 * server. Past `maxBufferedBytes` its connection is closed and the memory freed; nobody else
 * notices. Messages are stored in a SQLite file, so the server's heap holds little more than what
 * it queues for its clients (which share this process: their received events are cleared before
 * measuring).
 */

const dirs: string[] = [];
afterEach(async () => {
  await closeAll();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap and buffers of this process, after full collections. */
async function settledMemory(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 50));
    gc();
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const MiB = 1024 * 1024;

async function sqliteChat(attach: { maxBufferedBytes?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'parley-slow-'));
  dirs.push(dir);
  const f = await startChat({ storage: new SqliteStorage({ filename: join(dir, 'chat.db') }), attach });
  const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice', memberIds: ['bob', 'mallory'] });
  return { f, sessionId };
}

async function joined(f: ChatFixture, userId: string, sessionId: string): Promise<Tab> {
  const tab = await f.connect(userId);
  expect((await tab.call('session:join', { sessionId })).ok).toBe(true);
  return tab;
}

/** The WebSocket under a socket.io-client connection (the `ws` package in Node): pausing it stops reading the TCP socket. */
const webSocketOf = (tab: Tab) => (tab.socket.io.engine.transport as unknown as { ws: { pause(): void; resume(): void; terminate(): void } }).ws;

/** Resolves with the server-side disconnect reason of `userId`'s socket. */
function serverDisconnect(f: ChatFixture, userId: string): Promise<string> {
  const socket = [...f.io.of('/chat').sockets.values()].find((s) => s.data.userId === userId)!;
  return new Promise((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
}

/** `count` sends of ~4 KB by `tab`, ten in flight at a time. */
async function flood(tab: Tab, sessionId: string, count: number): Promise<void> {
  const content = 'x'.repeat(4000);
  for (let i = 0; i < count; i += 10) {
    const acks = await Promise.all(Array.from({ length: Math.min(10, count - i) }, (_, k) => tab.call('message:send', { sessionId, content: `${i + k} ${content}` })));
    expect(acks.every((a) => a.ok)).toBe(true);
  }
}

describe('socket.io binding: a connection that never reads', () => {
  it('is closed past maxBufferedBytes and what was queued for it is freed; the other members are unaffected', async () => {
    const cap = 1 * MiB;
    const messages = 4000; // ~16 MB: without the cap the server held ~30 MiB more, for as long as the client stayed
    const { f, sessionId } = await sqliteChat({ maxBufferedBytes: cap });
    const alice = await joined(f, 'alice', sessionId);
    const bob = await joined(f, 'bob', sessionId);
    const mallory = await joined(f, 'mallory', sessionId);
    const cut = serverDisconnect(f, 'mallory');
    const malloryWs = webSocketOf(mallory);
    malloryWs.pause(); // connected, but reads nothing more
    const baseline = await settledMemory();

    await flood(alice, sessionId, messages);
    expect(await cut).toBe('forced close'); // the connection closed, not a namespace disconnect: nothing taken as delivered
    await until(() => bob.received.of('message:new').length === messages, 20_000, 'bob got every message');
    expect(alice.received.of('message:new')).toHaveLength(messages);
    expect(alice.socket.connected && bob.socket.connected).toBe(true);
    // the log says who and why; nobody else hears of it
    expect(f.reported).toEqual([expect.any(ChatError)]);
    expect(f.reported[0]).toMatchObject({ code: 'LIMIT_EXCEEDED', message: expect.stringMatching(/not reading.*maxBufferedBytes \(1048576\)/) });
    expect(bob.received.of('user:left')).toEqual([{ sessionId, userId: 'mallory' }]); // as after any disconnect

    for (const tab of [alice, bob, mallory]) tab.received.clear();
    const growth = (await settledMemory()) - baseline;
    // at most about one batch still in the closing socket's buffer, against ~30 MiB held without the cap
    expect(growth / MiB).toBeLessThan(8);

    // when it reads again, the client gets what had left before the cut, then the connection closes
    const seen = new Promise<string>((resolve) => mallory.socket.once('disconnect', (reason) => resolve(reason)));
    malloryWs.resume();
    expect(await seen).toBe('transport close');
    expect(mallory.received.of('message:new').length).toBeLessThan(messages);
  }, 60_000);

  it('the default cap lets a slow client catch up a full replay of 100 long messages', async () => {
    const { f, sessionId } = await sqliteChat();
    const content = '語'.repeat(10_000); // the longest message, 3 bytes a character: ~3 MB for the replay
    for (let i = 0; i < 100; i++) await f.engine.createMessage({ sessionId, userId: 'alice', content });
    const bob = await f.connect('bob');
    const bobWs = webSocketOf(bob);
    bobWs.pause(); // a slow link: nothing is read while the whole replay is queued
    const join = bob.call('session:join', { sessionId, lastSeq: 0 });
    await new Promise((r) => setTimeout(r, 300));
    bobWs.resume();
    expect((await join).ok).toBe(true);
    await bob.received.waitFor('session:synced');
    expect(bob.received.of('message:new')).toHaveLength(100);
    expect(bob.socket.connected).toBe(true);
    expect(f.reported).toEqual([]);
  });

  it('a polling client that stops polling is closed past the cap too', async () => {
    const { f, sessionId } = await sqliteChat({ maxBufferedBytes: 256 * 1024 });
    const alice = await joined(f, 'alice', sessionId);
    const poller = await PollingClient.open(f.url, await tokenFor('mallory'));
    const cut = serverDisconnect(f, 'mallory');
    await poller.emit('session:join', { sessionId }); // and never polls again
    await flood(alice, sessionId, 100); // ~400 KB for the poller
    expect(await cut).toBe('forced close');
    expect(f.reported).toEqual([expect.objectContaining({ code: 'LIMIT_EXCEEDED' })]);
    expect(alice.socket.connected).toBe(true);
  });
});

/** Engine.IO v4 long-polling spoken by hand, so that the client can simply stop polling. */
class PollingClient {
  private constructor(
    private readonly base: string,
    private sid: string,
  ) {}

  static async open(url: string, token: string): Promise<PollingClient> {
    const base = `${url}/socket.io/?EIO=4&transport=polling`;
    const open = await (await fetch(base)).text(); // 0{"sid":…}
    const client = new PollingClient(base, (JSON.parse(open.slice(1)) as { sid: string }).sid);
    await client.post(`40/chat,${JSON.stringify({ token })}`);
    // the namespace connect and connection:success, in one or more polls
    let received = '';
    while (!received.includes('connection:success')) received += await client.poll();
    return client;
  }

  /** Sends an event with an ack id (the ack is left unread). */
  emit(event: string, payload: unknown): Promise<void> {
    return this.post(`42/chat,1${JSON.stringify([event, payload])}`);
  }

  private async poll(): Promise<string> {
    return (await fetch(`${this.base}&sid=${this.sid}`)).text();
  }

  private async post(body: string): Promise<void> {
    const res = await fetch(`${this.base}&sid=${this.sid}`, { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8' } });
    expect(await res.text()).toBe('ok');
  }
}
