/**
 * The server side of the streaming bench, run in a child process of its own so its CPU can be read
 * with `process.cpuUsage()` while the viewers (in the bench process) decode what it sends.
 *
 * Shapes of the same process (same Socket.io server on a real port, same ScriptedProvider, same
 * recording of provider tokens):
 * - `parley`: ChatEngine on SQLite (a file in the temp dir the bench gives) + `attachChat`, JWT
 *   handshake, `session:join`, `stream:request` → coalesced `stream:chunk` to the session room.
 * - `naive`: a bare namespace: `join` a room, `stream:request` → every provider token emitted at
 *   once with `io.to(room).emit('stream:chunk', { id, delta, index, tokens })`; no coalescing, no
 *   storage, no filter.
 * - references, same bare namespace: `floor` (the provider alone, nothing emitted) and `coalesced`
 *   (a raw emit of Parley-shaped chunks at most every STREAM_DELAY, first token at once).
 *
 * Driven over IPC by `StreamServer` (below); the child is this same file with
 * `PARLEY_STREAM_BENCH_SERVER=1`.
 *
 * What it measures between `begin` and `end`: its own CPU (user + system), websocket data frames
 * written (engine.io `message` packets: one `ws.send` each, one frame each — pings counted apart),
 * storage calls (every method, with the writes a stream causes attributed to it), the event-loop
 * delay, and for every provider token the time it was yielded and the cumulative raw text length
 * after it (keyed by the prompt, which names the session).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session as InspectorSession } from 'node:inspector';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

/** Cross-process clock (same machine): ms since the epoch with sub-ms precision. */
export const now = () => performance.timeOrigin + performance.now();

/** See the file comment; `floor` and `coalesced` are references (a raw emit without Parley). */
export type ServerMode = 'parley' | 'naive' | 'floor' | 'coalesced';

export interface ServerOptions {
  mode: ServerMode;
  /** Number of sessions (= concurrent streams), each with `viewers` members. */
  sessions: number;
  viewers: number;
  tokensPerSecond: number;
  /** The answer every stream gives (ScriptedProvider `reply`). */
  reply: string;
  /** STREAM_DELAY for the engine. */
  streamDelayMs: number;
  /** Directory for the SQLite file (parley only). */
  dir: string;
  /**
   * Parley only, to find where the CPU goes (not for the figures): `nodelivery` (stream.chunk is
   * not broadcast), `memory` (MemoryStorage), `nofilter` (profanity filter off), `noflush` (no
   * periodic flush).
   */
  ablate?: string[];
}

/** Per stream (keyed by the prompt's tag): provider tokens, as cumulative raw length and yield time. */
export interface TokenTrace {
  cum: number[];
  at: number[];
}

export interface StreamWrites {
  tag: string;
  /** createStream / updateStream / flushStream / insertMessages / updateMessage calls for this stream. */
  writes: number;
  byMethod: Record<string, number>;
  /** From createStream to the final updateStream (the commit), ms. */
  durationMs: number;
}

export interface ServerReport {
  cpuMicros: number;
  /** Of which system (kernel) time. */
  systemMicros: number;
  /** Event-loop active time (libuv: outside the poll wait), ms. */
  loopActiveMs: number;
  elapsedMs: number;
  /** engine.io `message` packets written to the viewers' connections (= websocket data frames). */
  frames: number;
  /** Bytes of those packets (their encoded text). */
  frameBytes: number;
  /** Ping packets (not part of streaming; counted apart). */
  pings: number;
  traces: Record<string, TokenTrace>;
  /** Parley only. */
  streams: StreamWrites[];
  /** Every storage call in the window, by method (parley only). */
  storageCalls: Record<string, number>;
  /** Writes not attributable to a stream (parley only). */
  otherWrites: number;
  /** Event-loop lateness beyond the probe interval, ms. */
  eventLoopDelay: { p50: number; p99: number; max: number };
  /** CPU ms and wake-ups (voluntary context switches) per thread name over the window (Linux /proc; empty elsewhere). */
  threads: Record<string, { ms: number; wakeups: number }>;
}

export type ServerCommand = { type: 'begin' } | { type: 'end' } | { type: 'clock'; t: number } | { type: 'close' };
export type ServerReply =
  | { type: 'ready'; url: string; rooms: string[] }
  | { type: 'begun' }
  | { type: 'ended'; report: ServerReport }
  | { type: 'clock'; t: number; child: number }
  | { type: 'error'; message: string };

/** The tag a prompt carries: `bench <tag>: …`. */
export const promptFor = (tag: string) => `bench ${tag}: please answer at length`;
const tagOf = (prompt: string) => /^bench (\S+):/.exec(prompt)?.[1] ?? 'unknown';

const WRITES = new Set(['createStream', 'updateStream', 'flushStream', 'insertMessages', 'updateMessage']);

// ---- the child ---------------------------------------------------------------------------------

async function serverProcess(options: ServerOptions): Promise<void> {
  const { Server } = await import('socket.io');
  const { ScriptedProvider } = await import('../../src/providers/scripted-provider.js');
  const { listen } = await import('../socket-send.bench.js');
  type LlmProvider = import('../../src/ports/llm.js').LlmProvider;

  let counting = false;
  let traces: Record<string, TokenTrace> = {};
  const scripted = new ScriptedProvider({ tokensPerSecond: options.tokensPerSecond, reply: options.reply });
  /** Records when each token left the provider and the raw length so far. */
  const provider: LlmProvider = {
    name: 'recording-scripted',
    defaultModel: scripted.defaultModel,
    async *stream(request, signal) {
      const prompt = [...request.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
      const trace: TokenTrace = { cum: [], at: [] };
      if (counting) traces[tagOf(prompt)] = trace;
      let cum = 0;
      for await (const delta of scripted.stream(request, signal)) {
        if (delta.text) {
          cum += delta.text.length;
          trace.cum.push(cum);
          trace.at.push(now());
        }
        yield delta;
      }
    },
  };

  let frames = 0;
  let frameBytes = 0;
  let pings = 0;
  const { server, url } = await listen((http) => new Server(http));
  server.engine.on('connection', (conn: { on(event: 'packetCreate', fn: (p: { type: string; data?: unknown }) => void): void }) => {
    conn.on('packetCreate', (packet) => {
      if (!counting) return;
      if (packet.type === 'message') {
        frames++;
        frameBytes += typeof packet.data === 'string' ? Buffer.byteLength(packet.data) : ((packet.data as Buffer | undefined)?.byteLength ?? 0);
      } else if (packet.type === 'ping') pings++;
    });
  });

  // Storage accounting (parley).
  let storageCalls: Record<string, number> = {};
  let otherWrites = 0;
  let streamWrites = new Map<string, StreamWrites & { startedAt: number }>();
  let messageToStream = new Map<string, string>();
  let close: () => Promise<void>;
  const rooms: string[] = [];

  if (options.mode === 'parley') {
    const ablate = new Set(options.ablate ?? []);
    const { ChatEngine, jwtAuthenticator } = await import('../../src/index.js');
    const { SqliteStorage } = await import('../../adapters/storage/sqlite/index.js');
    const { attachChat } = await import('../../adapters/socket.io/index.js');
    const { BENCH_SECRET, UNLIMITED } = await import('../socket-send.bench.js');
    const { join } = await import('node:path');
    const { MemoryStorage } = await import('../../src/index.js');
    const inner = ablate.has('memory') ? new MemoryStorage() : new SqliteStorage({ filename: join(options.dir, 'chat.db') });
    // Counts calls made by the engine (internal calls between the adapter's own methods are not).
    const storage = new Proxy(inner, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (typeof value !== 'function' || typeof prop !== 'string') return value;
        return (...args: unknown[]) => {
          if (counting) {
            storageCalls[prop] = (storageCalls[prop] ?? 0) + 1;
            if (WRITES.has(prop)) attribute(prop, args);
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const attribute = (method: string, args: unknown[]) => {
      let streamId: string | undefined;
      if (method === 'createStream') {
        const input = args[0] as { stream: { id: string; sessionId: string }; messages: { id: string }[] };
        streamId = input.stream.id;
        const tag = rooms.indexOf(input.stream.sessionId);
        streamWrites.set(streamId, { tag: String(tag), writes: 0, byMethod: {}, durationMs: 0, startedAt: now() });
        for (const m of input.messages) messageToStream.set(m.id, streamId);
      } else if (method === 'updateStream') {
        streamId = args[0] as string;
        const status = (args[1] as { status?: string }).status;
        const entry = streamWrites.get(streamId);
        if (entry && (status === 'completed' || status === 'stopped' || status === 'error')) entry.durationMs = now() - entry.startedAt;
      } else if (method === 'flushStream') {
        streamId = args[0] as string;
      } else if (method === 'updateMessage') {
        streamId = messageToStream.get(args[0] as string);
      } else if (method === 'insertMessages') {
        streamId = (args[0] as { id: string }[]).map((m) => messageToStream.get(m.id)).find((id) => id !== undefined);
      }
      const entry = streamId === undefined ? undefined : streamWrites.get(streamId);
      if (!entry) {
        otherWrites++;
        return;
      }
      entry.writes++;
      entry.byMethod[method] = (entry.byMethod[method] ?? 0) + 1;
    };

    const engine = new ChatEngine({
      storage,
      rateLimits: UNLIMITED,
      llm: provider,
      streamDelayMs: options.streamDelayMs,
      maxConcurrentStreams: options.sessions + 10,
      ...(ablate.has('nofilter') && { moderation: { profanity: false } }),
      ...(ablate.has('noflush') && { streamFlushIntervalMs: 1e9 }),
    });
    if (ablate.has('nodelivery')) {
      const orig = engine.emit.bind(engine) as (e: string, p: unknown) => boolean;
      engine.emit = ((e: string, p: unknown) => (e === 'stream.chunk' ? true : orig(e, p))) as never;
    }
    await engine.init();
    for (let k = 0; k < options.sessions; k++) {
      const users = Array.from({ length: options.viewers }, (_, i) => viewerId(k, i));
      const session = await engine.createSession({ createdBy: users[0]!, memberIds: users.slice(1) });
      rooms.push(session.id);
    }
    attachChat(server, engine, { authenticate: jwtAuthenticator({ secret: BENCH_SECRET }) });
    close = async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await engine.close();
    };
  } else {
    // Raw Socket.io: `naive` emits every token to the room at once; `floor` emits nothing (the
    // provider's own cost); `coalesced` emits at most every STREAM_DELAY (first token at once), in
    // Parley's chunk shape, with nothing else (no engine, storage or filter).
    const nsp = server.of('/chat');
    const controllers = new Set<AbortController>();
    nsp.on('connection', (socket) => {
      socket.on('join', ({ room }: { room: string }, ack: (r: unknown) => void) => {
        void socket.join(room);
        ack({ ok: true });
      });
      socket.on('stream:request', ({ room, prompt, maxTokens }: { room: string; prompt: string; maxTokens?: number }, ack: (r: unknown) => void) => {
        const id = randomUUID();
        const controller = new AbortController();
        controllers.add(controller);
        ack({ ok: true, data: { streamId: id } });
        let index = 0;
        let tokens = 0;
        let pending = '';
        let lastAt = -Infinity;
        let timer: NodeJS.Timeout | null = null;
        const flushChunk = () => {
          if (timer) clearTimeout(timer);
          timer = null;
          lastAt = performance.now();
          nsp.to(room).emit('stream:chunk', { id, sessionId: room, messageId: id, index: index++, delta: pending, content: '', tokens, isComplete: false });
          pending = '';
        };
        void (async () => {
          for await (const delta of provider.stream({ messages: [{ role: 'user', content: prompt }], ...(maxTokens && { maxTokens }) }, controller.signal)) {
            if (!delta.text) continue;
            tokens++;
            if (options.mode === 'naive') {
              nsp.to(room).emit('stream:chunk', { id, delta: delta.text, index: index++, tokens });
            } else if (options.mode === 'coalesced') {
              pending += delta.text;
              const wait = lastAt + options.streamDelayMs - performance.now();
              if (wait <= 0) flushChunk();
              else timer ??= setTimeout(flushChunk, wait);
            }
          }
          if (pending) flushChunk();
          nsp.to(room).emit('stream:complete', { id, tokens });
        })()
          .catch((error: unknown) => console.error('naive stream failed', error))
          .finally(() => controllers.delete(controller));
      });
    });
    for (let k = 0; k < options.sessions; k++) rooms.push(`room-${k}`);
    close = async () => {
      for (const c of controllers) c.abort();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    };
  }

  // Coarse, since its own timer wakes the loop; the histogram holds whole intervals, so the
  // resolution is taken off below.
  const LOOP_PROBE_MS = 20;
  const loop = monitorEventLoopDelay({ resolution: LOOP_PROBE_MS });
  let threadsAtBegin = threadTimes();
  let eluAtBegin = performance.eventLoopUtilization();
  let cpuAtBegin = process.cpuUsage();
  let begunAt = 0;
  const profile = windowProfiler(process.env.BENCH_STREAM_PROFILE_DIR);
  const reply = (r: ServerReply) => process.send!(r);
  process.on('message', async (command: ServerCommand) => {
    try {
      switch (command.type) {
        case 'clock':
          return reply({ type: 'clock', t: command.t, child: now() });
        case 'begin':
          if (profile) await profile.start();
          traces = {};
          frames = frameBytes = pings = otherWrites = 0;
          storageCalls = {};
          streamWrites = new Map();
          messageToStream = new Map();
          loop.reset();
          loop.enable();
          counting = true;
          begunAt = performance.now();
          threadsAtBegin = threadTimes();
          eluAtBegin = performance.eventLoopUtilization();
          cpuAtBegin = process.cpuUsage();
          return reply({ type: 'begun' });
        case 'end': {
          if (profile) await profile.stop(options.mode, options.sessions);
          const cpu = process.cpuUsage(cpuAtBegin);
          const elapsedMs = performance.now() - begunAt;
          const threadsAtEnd = threadTimes();
          counting = false;
          const threads: Record<string, { ms: number; wakeups: number }> = {};
          for (const [tid, { name, ms, wakeups }] of threadsAtEnd) {
            const before = threadsAtBegin.get(tid);
            const used = ms - (before?.ms ?? 0);
            const woke = wakeups - (before?.wakeups ?? 0);
            if (used > 0 || woke > 0) {
              const t = (threads[name] ??= { ms: 0, wakeups: 0 });
              t.ms += used;
              t.wakeups += woke;
            }
          }
          loop.disable();
          const ms = (ns: number) => Math.max(0, ns / 1e6 - LOOP_PROBE_MS);
          return reply({
            type: 'ended',
            report: {
              cpuMicros: cpu.user + cpu.system,
              systemMicros: cpu.system,
              loopActiveMs: performance.eventLoopUtilization(eluAtBegin).active,
              elapsedMs,
              frames,
              frameBytes,
              pings,
              traces,
              streams: [...streamWrites.values()].map(({ startedAt: _, ...rest }) => rest),
              storageCalls,
              otherWrites,
              eventLoopDelay: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
              threads,
            },
          });
        }
        case 'close':
          await close();
          process.exit(0);
      }
    } catch (error) {
      reply({ type: 'error', message: String((error as Error)?.stack ?? error) });
    }
  });
  // The bench process died (even SIGKILL): do not outlive it.
  process.once('disconnect', () => process.exit(1));
  reply({ type: 'ready', url: `${url}/chat`, rooms });
}

/**
 * A V8 CPU profile of the measured window only (BENCH_STREAM_PROFILE_DIR=dir): one
 * `<mode>-<streams>-<pid>.cpuprofile` per run, without the setup that `--cpu-prof` would include.
 */
function windowProfiler(dir: string | undefined) {
  if (!dir) return null;
  const session = new InspectorSession();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<any>((resolve, reject) => session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))));
  return {
    async start() {
      await post('Profiler.enable');
      await post('Profiler.setSamplingInterval', { interval: 500 });
      await post('Profiler.start');
    },
    async stop(mode: string, streams: number) {
      const { profile } = await post('Profiler.stop');
      writeFileSync(`${dir}/${mode}-${streams}-${process.pid}.cpuprofile`, JSON.stringify(profile));
    },
  };
}

/**
 * CPU time (user + system, ms) and voluntary context switches (each one a sleep and a wake-up) of
 * each thread of this process, by thread id, from /proc (Linux).
 */
function threadTimes(): Map<string, { name: string; ms: number; wakeups: number }> {
  const times = new Map<string, { name: string; ms: number; wakeups: number }>();
  try {
    const tick = 10; // USER_HZ = 100 on Linux
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/[0-9]+$/, '#');
      const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
      const wakeups = Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? 0);
      times.set(tid, { name: tid === String(process.pid) ? 'main' : name, ms: (Number(fields[11]) + Number(fields[12])) * tick, wakeups });
    }
  } catch {
    // not Linux
  }
  return times;
}

/** The user id of viewer `i` of session `k` (viewer 0 owns the session and asks for the answer). */
export const viewerId = (k: number, i: number) => `s${k}-v${i}`;

if (process.env.PARLEY_STREAM_BENCH_SERVER === '1') {
  serverProcess(JSON.parse(process.env.PARLEY_STREAM_BENCH_OPTIONS!) as ServerOptions).catch((error: unknown) => {
    process.send?.({ type: 'error', message: String((error as Error)?.stack ?? error) } satisfies ServerReply);
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100);
  });
}

// ---- the bench side ----------------------------------------------------------------------------

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A server child process, driven over IPC. */
export class StreamServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly rooms: string[],
  ) {}

  /** The child's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** ms to subtract from the child's clock to read it on ours (measured over IPC). */
  offsetMs = 0;

  static async start(options: ServerOptions): Promise<StreamServer> {
    const child = fork(fileURLToPath(import.meta.url), [], {
      env: { ...process.env, PARLEY_STREAM_BENCH_SERVER: '1', PARLEY_STREAM_BENCH_OPTIONS: JSON.stringify(options) },
      // BENCH_STREAM_NODE_ARGS: more node flags for the server, e.g. '--perf-basic-prof' to read it with
      // `perf record -g -p <pid>` (the pid is logged). V8's --cpu-prof under-samples this workload
      // badly (mostly timer wake-ups): it showed a fraction of the CPU that getrusage counts.
      execArgv: ['--import', 'tsx', ...(process.env.BENCH_STREAM_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    live.add(child);
    child.once('exit', () => live.delete(child));
    try {
      const ready = await next(child, 'ready');
      const server = new StreamServer(child, ready.url, ready.rooms);
      await server.calibrate();
      return server;
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  /** The child's clock offset: the ping with the shortest round trip, its midpoint. */
  private async calibrate(): Promise<void> {
    let best = { rtt: Infinity, offset: 0 };
    for (let i = 0; i < 30; i++) {
      const t = now();
      const r = await this.request({ type: 'clock', t }, 'clock');
      const back = now();
      if (back - t < best.rtt) best = { rtt: back - t, offset: r.child - (t + back) / 2 };
    }
    this.offsetMs = best.offset;
  }

  async request<T extends ServerReply['type']>(command: ServerCommand, expect: T): Promise<Extract<ServerReply, { type: T }>> {
    const reply = next(this.child, expect);
    this.child.send(command);
    return reply;
  }

  /** Asks the child to close; kills it if it has not exited within 5 s. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    try {
      this.child.send({ type: 'close' } satisfies ServerCommand);
    } catch {
      // the IPC channel is gone already
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

function next<T extends ServerReply['type']>(child: ChildProcess, type: T): Promise<Extract<ServerReply, { type: T }>> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (message: ServerReply) => {
      if (message.type === 'error') {
        cleanup();
        reject(new Error(`server process: ${message.message}`));
      } else if (message.type === type) {
        cleanup();
        resolve(message as Extract<ServerReply, { type: T }>);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`server process exited (${code}) while waiting for '${type}'`));
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}
