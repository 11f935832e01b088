/**
 * Socket.io fan-out and memory: the binding against raw Socket.io in the same run.
 *
 * - Fan-out to 10 / 100 / 1000 members: a committed message reaches every member's socket. Parley:
 *   the engine's `message.created` domain event → the binding → `nsp.to(room).emit` (which is what a
 *   commit publishes; the write itself is measured by socket-send). Raw: `nsp.to(room).emit` of the
 *   same Message. Figures: deliveries per second until the last member has the last message (clients
 *   in a child process, so their decoding does not share the server's core), and server CPU per
 *   delivery; best of 3 interleaved runs per side. Also end to end through `engine.createMessage`
 *   on MemoryStorage (one run), for reference.
 * - Memory per idle connection: 1000 connected clients (the same JWT handshake for both), each joined
 *   to one 10-member session (a room for raw); server heap + external after a full GC, minus the
 *   same after the first 100 (which warm the code up).
 */
import { setImmediate as tick } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Server } from 'socket.io';
import { Server as SocketServer } from 'socket.io';
import { attachChat } from '../adapters/socket.io/index.js';
import { ChatEngine, jwtAuthenticator, MemoryStorage, type Message } from '../src/index.js';
import type { BenchRow } from './lib.js';
import { BENCH_SECRET, ClientFleet, closeServer, listen, rawRelay, tokenFor, UNLIMITED } from './socket-send.bench.js';

const SIZES = [10, 100, 1000];
const DELIVERIES = Number(process.env.BENCH_FANOUT_DELIVERIES ?? 100_000);
const IDLE = Number(process.env.BENCH_IDLE_CONNECTIONS ?? 1000);
/** Messages emitted per event-loop turn, so the sockets drain while the burst goes out. */
const CHUNK = 10;
const ROUNDS = Number(process.env.BENCH_FANOUT_ROUNDS ?? 3);

interface FanoutResult {
  deliveriesPerSec: number;
  cpuMicrosPerDelivery: number;
}

/** Emits `count` messages with `emit(i)`, CHUNK per turn; resolves when every member got every one. */
async function timeFanout(fleet: ClientFleet, members: number, count: number, emit: (i: number) => void): Promise<FanoutResult> {
  const delivered = fleet.next('delivered');
  await fleet.request({ type: 'arm', expected: members * count }, 'armed');
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    emit(i);
    if (i % CHUNK === CHUNK - 1) await tick();
  }
  await delivered;
  const elapsed = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { deliveriesPerSec: ((members * count) / elapsed) * 1000, cpuMicrosPerDelivery: (used.user + used.system) / (members * count) };
}

/** A realistic Message to broadcast (as stored by the engine). */
async function sampleMessage(): Promise<Message> {
  const engine = new ChatEngine({ storage: new MemoryStorage(), rateLimits: UNLIMITED });
  await engine.init();
  const s = await engine.createSession({ createdBy: 'alice' });
  const m = await engine.createMessage({ sessionId: s.id, userId: 'alice', content: 'the quick brown fox jumps over the lazy dog while we plan tomorrow release', clientMessageId: 'c-1' });
  await engine.close();
  return m;
}

async function rawSetup(members: number) {
  const { server, url } = await listen((http) => new SocketServer(http));
  rawRelay(server);
  const fleet = await ClientFleet.start();
  const auths = Array.from({ length: members }, () => ({}));
  await fleet.request({ type: 'connect', url: `${url}/chat`, auths, join: { event: 'join', payload: { room: 'room' } } }, 'ready');
  const nsp = server.of('/chat');
  return {
    fleet,
    emit: (message: Message, seq: number) => nsp.to('room').emit('message:new', { ...message, sessionId: 'room', seq, changeSeq: seq }),
    close: async () => {
      await fleet.close();
      await closeServer(server);
    },
  };
}

async function parleySetup(members: number) {
  const engine = new ChatEngine({ storage: new MemoryStorage(), rateLimits: UNLIMITED });
  await engine.init();
  const users = Array.from({ length: members }, (_, i) => `member-${i}`);
  const session = await engine.createSession({ createdBy: users[0]!, memberIds: users.slice(1, 100) });
  for (const u of users.slice(100)) await engine.addMember(session.id, u);
  const { server, url } = await listen((http) => new SocketServer(http));
  attachChat(server, engine, { authenticate: jwtAuthenticator({ secret: BENCH_SECRET }) });
  const fleet = await ClientFleet.start();
  const auths = await Promise.all(users.map(async (u) => ({ token: await tokenFor(u) })));
  await fleet.request({ type: 'connect', url: `${url}/chat`, auths, join: { event: 'session:join', payload: { sessionId: session.id } } }, 'ready');
  await new Promise((r) => setTimeout(r, 200)); // let user:joined / presence chatter settle
  const sessionId = session.id;
  let seq = (await engine.getSession(sessionId)).lastSeq;
  return {
    fleet,
    /** What a commit publishes, without the commit: the binding's own cost. */
    publish: (message: Message) => {
      seq++;
      engine.emit('message.created', { sessionId, seq, message: { ...message, sessionId, seq, changeSeq: seq } });
    },
    /** The write, then the same delivery; not awaited one by one, as concurrent users would not. */
    write: (message: Message, i: number, writes: Promise<unknown>[]) => {
      writes.push(engine.createMessage({ sessionId, userId: 'member-0', content: `${message.content} ${i}` }, { trusted: true }));
    },
    close: async () => {
      await fleet.close();
      await closeServer(server);
      await engine.close();
    },
  };
}

/** Best of `ROUNDS` runs per side, interleaved (A B B A …) so drift and neighbours hit both. */
async function fanout(members: number, count: number, template: Message) {
  const raw = await rawSetup(members);
  const parley = await parleySetup(members);
  try {
    const best = { raw: null as FanoutResult | null, binding: null as FanoutResult | null, endToEnd: null as FanoutResult | null };
    const keep = (key: keyof typeof best, r: FanoutResult) => {
      if (!best[key] || r.deliveriesPerSec > best[key]!.deliveriesPerSec) best[key] = r;
    };
    let rawSeq = 0;
    const runRaw = () => timeFanout(raw.fleet, members, count, () => raw.emit(template, ++rawSeq));
    const runBinding = () => timeFanout(parley.fleet, members, count, () => parley.publish(template));
    await timeFanout(raw.fleet, members, Math.min(count, 20), () => raw.emit(template, ++rawSeq)); // warm-up
    await timeFanout(parley.fleet, members, Math.min(count, 20), () => parley.publish(template));
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        keep('raw', await runRaw());
        keep('binding', await runBinding());
      } else {
        keep('binding', await runBinding());
        keep('raw', await runRaw());
      }
    }
    const writes: Promise<unknown>[] = [];
    keep('endToEnd', await timeFanout(parley.fleet, members, count, (i) => parley.write(template, i, writes)));
    await Promise.all(writes);
    return { raw: best.raw!, binding: best.binding!, endToEnd: best.endToEnd! };
  } finally {
    await parley.close();
    await raw.close();
  }
}

// ---- memory per idle connection ----------------------------------------------------------------

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function settledMemory(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 100));
    gc();
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/**
 * Connects `IDLE` clients, 10 per session (a room for raw); returns server bytes per connection.
 * `configure` runs on Parley's Socket.io server once the chat is attached (a bench's variant).
 */
export async function idleMemory(kind: 'raw' | 'parley', configure?: (io: Server) => void): Promise<number> {
  const sessions = Math.ceil(IDLE / 10);
  const users = Array.from({ length: sessions * 10 }, (_, k) => `u-${Math.floor(k / 10)}-${k % 10}`);
  // Both sides get the same handshake (a JWT in auth); only Parley verifies it.
  const auths = await Promise.all(users.map(async (u) => ({ token: await tokenFor(u) })));
  let server: Server;
  let url: string;
  let engine: ChatEngine | null = null;
  let joins: { event: string; payload: unknown }[];
  if (kind === 'raw') {
    ({ server, url } = await listen((http) => new SocketServer(http)));
    rawRelay(server);
    joins = Array.from({ length: sessions }, (_, i) => ({ event: 'join', payload: { room: `room-${i}` } }));
  } else {
    engine = new ChatEngine({ storage: new MemoryStorage(), rateLimits: UNLIMITED });
    await engine.init();
    joins = [];
    for (let i = 0; i < sessions; i++) {
      const members = users.slice(i * 10, i * 10 + 10);
      const { id } = await engine.createSession({ createdBy: members[0]!, memberIds: members.slice(1) });
      joins.push({ event: 'session:join', payload: { sessionId: id } });
    }
    ({ server, url } = await listen((http) => new SocketServer(http)));
    attachChat(server, engine, { authenticate: jwtAuthenticator({ secret: BENCH_SECRET }) });
    configure?.(server);
  }
  const fleet = await ClientFleet.start();
  const connectSession = (i: number) =>
    fleet.request({ type: 'connect', url: `${url}/chat`, auths: auths.slice(i * 10, i * 10 + 10), join: joins[i]! }, 'ready');
  try {
    // The first 10% warm the code up (compiled code is not per connection), then the baseline.
    const warm = Math.ceil(sessions / 10);
    for (let i = 0; i < warm; i++) await connectSession(i);
    const before = await settledMemory();
    for (let i = warm; i < sessions; i++) await connectSession(i);
    await new Promise((r) => setTimeout(r, 300));
    const after = await settledMemory();
    return (after - before) / ((sessions - warm) * 10);
  } finally {
    await fleet.close();
    await closeServer(server);
    await engine?.close();
  }
}

export default async function socketFanoutBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  // Memory first, on a fresh heap; the median of three interleaved pairs.
  const pairs: { raw: number; parley: number }[] = [];
  for (let i = 0; i < 3; i++) pairs.push({ raw: await idleMemory('raw'), parley: await idleMemory('parley') });
  pairs.sort((a, b) => a.parley / a.raw - b.parley / b.raw);
  const { raw: rawBytes, parley: parleyBytes } = pairs[1]!;
  rows.push({
    scenario: `socket idle connections (${IDLE})`,
    metric: 'server memory per connection (heap + external; median of 3)',
    value: parleyBytes / 1024,
    unit: 'KiB',
    baseline: { name: 'raw Socket.io', value: rawBytes / 1024 },
    ratio: rawBytes / parleyBytes,
    target: '<= 1.2x raw',
    pass: parleyBytes <= 1.2 * rawBytes,
  });

  const template = await sampleMessage();
  for (const members of SIZES) {
    const count = Math.max(50, Math.ceil(DELIVERIES / members));
    const { raw, binding, endToEnd } = await fanout(members, count, template);
    const scenario = `socket fan-out (${members} members)`;
    const ratio = binding.deliveriesPerSec / raw.deliveriesPerSec;
    rows.push(
      {
        scenario,
        metric: 'deliveries/s (domain event → sockets)',
        value: binding.deliveriesPerSec,
        unit: '/s',
        baseline: { name: 'raw io.to(room).emit', value: raw.deliveriesPerSec },
        ratio,
        target: '>= 0.9x raw',
        pass: ratio >= 0.9,
      },
      {
        scenario,
        metric: 'server CPU µs / delivery',
        value: binding.cpuMicrosPerDelivery,
        unit: 'µs',
        baseline: { name: 'raw io.to(room).emit', value: raw.cpuMicrosPerDelivery },
        ratio: raw.cpuMicrosPerDelivery / binding.cpuMicrosPerDelivery,
      },
      {
        scenario,
        metric: 'deliveries/s (createMessage → sockets, memory storage)',
        value: endToEnd.deliveriesPerSec,
        unit: '/s',
        baseline: { name: 'raw io.to(room).emit', value: raw.deliveriesPerSec },
        ratio: endToEnd.deliveriesPerSec / raw.deliveriesPerSec,
      },
    );
  }
  return rows;
}
