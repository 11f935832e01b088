/**
 * LLM streaming: 1, 10 and 50 concurrent answers at 100 tokens/s
 * (ScriptedProvider), each in its own session watched by 10 viewer sockets (real socket.io-client
 * connections on a real port), against a naive per-token emit measured in the same run.
 *
 * The server runs in a child process (bench/support/stream-server.ts) so its CPU is its own; the
 * viewers run in this process (bench/support/stream-viewers.ts): two cores, one each. Every run
 * is a fresh child: sessions, connections, a short warm-up answer in every session (JIT, SQLite
 * caches), then the measured window: viewer 0 of every session sends `stream:request` at once and
 * the window ends when every viewer has `stream:complete`.
 *
 * - parley: ChatEngine on SQLite (temp dir) + attachChat, STREAM_DELAY 50 ms, default flush
 *   interval (1 s), default moderation (profanity filter on the output).
 * - naive: the same process shape (Socket.io on a port, the same provider), each provider token
 *   emitted at once with `io.to(room).emit('stream:chunk', { id, delta, index, tokens })`; no
 *   coalescing, no storage.
 *
 * Figures per concurrency level:
 * - websocket frames per token: engine.io `message` packets written to the viewers' connections in
 *   the window (each is one `ws.send`, one frame; pings excluded) / (viewers × tokens generated).
 *   Includes everything sent (message:new of the prompt and answer, stream:complete, …), not only
 *   chunks. Target ≤ 0.25.
 * - server CPU ms per 1,000 tokens: the child's `process.cpuUsage()` (user + system) over the
 *   window / (tokens generated / 1000). Target ≤ 0.5× naive.
 * - added delivery latency: per token and viewer, the time from the provider yielding it (recorded
 *   in the server) to the viewer receiving the first chunk whose cumulative delta length reaches
 *   the raw length after that token; p50 and p99 of parley minus the same percentile of naive.
 *   Clocks: `performance.timeOrigin + performance.now()` in both processes, the child's offset
 *   measured over IPC (shortest of 30 round trips). Target ≤ STREAM_DELAY + 10 ms.
 * - storage writes per stream: createStream / updateStream / flushStream / insertMessages / updateMessage calls
 *   attributed to the stream (wrapped adapter). Target ≤ 2 + duration in seconds (per stream).
 *
 * References (same process shape, raw Socket.io, no Parley), for reading the CPU figure:
 * - `floor`: the provider alone (tokens generated and recorded, nothing emitted). Both sides pay
 *   it (a timer wake-up and an async-generator step per token), so the row "above the provider
 *   floor" compares what each side adds to it.
 * - `coalesced`: a raw `io.to(room).emit` of Parley-shaped chunks at most every
 *   STREAM_DELAY: what coalescing alone buys, without the engine, storage or filter — the least
 *   any coalescing server pays for the same chunks (and without
 *   the filter's hold-back of a trailing partial word, so its latency is ~one token gap lower).
 * Their figures are in the progress lines on stderr and in the extra rows.
 *
 * Knobs: BENCH_STREAM_LEVELS (default '1,10,50'), BENCH_STREAM_TOKENS (tokens per answer, default
 * 1000 = 10 s at 100 tokens/s), BENCH_STREAM_TPS (default 100), BENCH_STREAM_VIEWERS (default 10),
 * BENCH_STREAM_ROUNDS (default 1: runs of each side per level; the best CPU and the best latency
 * of each side are kept, so a noisy neighbour hits both alike), BENCH_STREAM_REFERENCES (default
 * 'floor,coalesced'; 'floor' or ''), BENCH_STREAM_ABLATE (Parley only, for finding where CPU goes:
 * any of nodelivery,memory,nofilter,noflush — the figures are then not Parley's),
 * BENCH_STREAM_NODE_ARGS (node flags for the server process, e.g. --perf-basic-prof),
 * BENCH_STREAM_PROFILE_DIR (a V8 CPU profile of each server's measured window, written there).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fmt, percentile, type BenchRow } from './lib.js';
import { tokenFor } from './socket-send.bench.js';
import { promptFor, StreamServer, viewerId, type ServerMode, type ServerReport } from './support/stream-server.js';
import { ViewerFleet, type ViewerGroup } from './support/stream-viewers.js';
import { chatMessage, rng, vocabulary } from './support/text.js';

const LEVELS = (process.env.BENCH_STREAM_LEVELS ?? '1,10,50').split(',').map(Number);
const TOKENS = Number(process.env.BENCH_STREAM_TOKENS ?? 1000);
const TPS = Number(process.env.BENCH_STREAM_TPS ?? 100);
const VIEWERS = Number(process.env.BENCH_STREAM_VIEWERS ?? 10);
/**
 * The answers of a level start spread evenly over one token interval (stream k at k × interval /
 * streams), on every side alike, as real answers start whenever their users ask. Started in the
 * same millisecond, the naive and floor sides' provider timers fired together (one wake-up for
 * several streams' tokens: 3,300-4,900 wake-ups in 10 s at 10 streams) while Parley's, started a
 * storage round trip apart, did not (5,500-6,700). Spread, every side has its own. (The CPU ratio
 * moved less than the runs' noise.) BENCH_STREAM_STAGGER=0 starts them all at once, as before.
 */
const STAGGER = process.env.BENCH_STREAM_STAGGER !== '0';
const ROUNDS = Number(process.env.BENCH_STREAM_ROUNDS ?? 1);
const REFERENCES = (process.env.BENCH_STREAM_REFERENCES ?? 'floor,coalesced').split(',').filter(Boolean) as ('floor' | 'coalesced')[];
const ABLATE = (process.env.BENCH_STREAM_ABLATE ?? '').split(',').filter(Boolean);
const STREAM_DELAY = 50;
const WARMUP_TOKENS = 30;

const log = (line: string) => console.error(`streaming: ${line}`);

/** An answer of exactly `tokens` ScriptedProvider tokens (`\s*\S+`): plain chat English. */
function answerText(tokens: number): string {
  const random = rng(0x5eed);
  const vocab = vocabulary();
  const words: string[] = [];
  while (words.length < tokens) words.push(...chatMessage(vocab, random).split(/\s+/).filter(Boolean));
  return words.slice(0, tokens).join(' ');
}

interface RunResult {
  mode: ServerMode;
  streams: number;
  tokens: number;
  framesPerToken: number;
  /** `stream:chunk` packets received per viewer per token (client side, a cross-check). */
  chunksPerToken: number;
  bytesPerViewerToken: number;
  cpuMsPer1k: number;
  clientCpuMs: number;
  windowMs: number;
  latency: { p50: number; p99: number; max: number; samples: number };
  /** Parley only. */
  writes: { max: number; mean: number; maxDurationS: number; meanDurationS: number; within: boolean; byMethod: Record<string, number> } | null;
  report: ServerReport;
}

/** Temp dirs of running runs: removed on exit or on a signal (the server children are killed then too). */
const tempDirs = new Set<string>();
const removeTempDirs = () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
};
const onSignal = (signal: NodeJS.Signals) => {
  log(`${signal}: cleaning up`);
  process.exit(128 + (signal === 'SIGINT' ? 2 : 15)); // 'exit' handlers remove the dirs and kill the children
};

async function runOnce(mode: ServerMode, streams: number, reply: string): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-stream-bench-'));
  tempDirs.add(dir);
  let server: StreamServer | null = null;
  let fleet: ViewerFleet | null = null;
  try {
    server = await StreamServer.start({
      mode,
      sessions: streams,
      viewers: VIEWERS,
      tokensPerSecond: TPS,
      reply,
      streamDelayMs: STREAM_DELAY,
      dir,
      ...(mode === 'parley' && ABLATE.length > 0 && { ablate: ABLATE }),
    });
    const rooms = server.rooms;
    const groups: ViewerGroup[] = await Promise.all(
      rooms.map(async (room, k) =>
        mode === 'parley'
          ? {
              auths: await Promise.all(Array.from({ length: VIEWERS }, async (_, i) => ({ token: await tokenFor(viewerId(k, i)) }))),
              join: { event: 'session:join', payload: { sessionId: room } },
            }
          : { auths: Array.from({ length: VIEWERS }, () => ({})), join: { event: 'join', payload: { room } } },
      ),
    );
    fleet = await ViewerFleet.connect(server.url, groups);
    await sleep(300); // presence / user:joined chatter settles
    const request = (tag: string, maxTokens?: number) => (k: number) =>
      mode === 'parley'
        ? { event: 'stream:request', payload: { sessionId: rooms[k]!, prompt: promptFor(`${tag}${k}`), ...(maxTokens && { config: { maxTokens } }) } }
        : { event: 'stream:request', payload: { room: rooms[k]!, prompt: promptFor(`${tag}${k}`), ...(maxTokens && { maxTokens }) } };
    const timeoutMs = (TOKENS / TPS) * 1000 * 3 + 30_000;
    await fleet.stream(request('warm-', WARMUP_TOKENS), timeoutMs);
    await sleep(500); // the warm-up's commits settle

    await server.request({ type: 'begin' }, 'begun');
    const clientCpu = process.cpuUsage();
    await fleet.stream(request(''), timeoutMs, STAGGER ? 1000 / TPS / streams : 0);
    const clientUsed = process.cpuUsage(clientCpu);
    await sleep(20);
    const { report } = await server.request({ type: 'end' }, 'ended');

    // ---- latency: each token against the first chunk that contains it, per viewer
    const latencies: number[] = [];
    let tokens = 0;
    let mismatched = 0;
    fleet.groups.forEach((group, k) => {
      const trace = report.traces[String(k)];
      if (!trace) throw new Error(`no provider trace for stream ${k}`);
      tokens += trace.cum.length;
      const at = trace.at.map((t) => t - server!.offsetMs);
      for (const viewer of group) {
        if (mode === 'floor') continue; // nothing is emitted
        if (viewer.cum !== trace.cum[trace.cum.length - 1]) mismatched++;
        let r = 0;
        for (let j = 0; j < trace.cum.length; j++) {
          while (r < viewer.receivedCum.length && viewer.receivedCum[r]! < trace.cum[j]!) r++;
          if (r === viewer.receivedCum.length) break;
          latencies.push(viewer.receivedAt[r]! - at[j]!);
        }
      }
    });
    if (mismatched > 0) log(`WARNING ${mode} ×${streams}: ${mismatched} viewers' deltas do not add up to the raw answer length (latency matching is approximate)`);
    latencies.sort((a, b) => a - b);
    const chunks = fleet.viewers.reduce((n, v) => n + v.chunks, 0);

    let writes: RunResult['writes'] = null;
    if (mode === 'parley') {
      const per = report.streams;
      if (per.length !== streams) log(`WARNING: ${per.length} streams attributed, expected ${streams}`);
      const byMethod: Record<string, number> = {};
      for (const s of per) for (const [m, n] of Object.entries(s.byMethod)) byMethod[m] = (byMethod[m] ?? 0) + n;
      writes = {
        max: Math.max(...per.map((s) => s.writes)),
        mean: per.reduce((n, s) => n + s.writes, 0) / per.length,
        maxDurationS: Math.max(...per.map((s) => s.durationMs / 1000)),
        meanDurationS: per.reduce((n, s) => n + s.durationMs, 0) / per.length / 1000,
        within: per.every((s) => s.writes <= 2 + s.durationMs / 1000),
        byMethod,
      };
    }

    const result: RunResult = {
      mode,
      streams,
      tokens,
      framesPerToken: report.frames / (VIEWERS * tokens),
      chunksPerToken: chunks / (VIEWERS * tokens),
      bytesPerViewerToken: report.frameBytes / (VIEWERS * tokens),
      cpuMsPer1k: report.cpuMicros / 1000 / (tokens / 1000),
      clientCpuMs: (clientUsed.user + clientUsed.system) / 1000,
      windowMs: report.elapsedMs,
      latency: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? NaN, samples: latencies.length },
      writes,
      report,
    };
    const lat = latencies.length === 0 ? 'none (nothing emitted)' : `p50 ${result.latency.p50.toFixed(1)} p99 ${result.latency.p99.toFixed(1)} max ${result.latency.max.toFixed(1)} ms (${latencies.length} samples)`;
    const threads = Object.entries(report.threads)
      .map(([name, { ms, wakeups }]) => `${name} ${Math.round(ms)} ms/${wakeups} wake-ups`)
      .join(', ');
    log(
      `${mode} ×${streams}: ${tokens} tokens in ${(report.elapsedMs / 1000).toFixed(1)} s; frames/token ${result.framesPerToken.toFixed(3)} ` +
        `(stream:chunk ${result.chunksPerToken.toFixed(3)}, ${result.bytesPerViewerToken.toFixed(1)} B per viewer per token); ` +
        `server CPU ${(report.cpuMicros / 1000).toFixed(0)} ms = ${result.cpuMsPer1k.toFixed(1)} ms/1k tokens; latency ${lat}` +
        `\n    server pid ${server.pid}: system ${(report.systemMicros / 1000).toFixed(0)} ms, loop active ${report.loopActiveMs.toFixed(0)} ms, ` +
        `by thread: ${threads || 'n/a'}; loop lateness p99 ${report.eventLoopDelay.p99.toFixed(1)} max ${report.eventLoopDelay.max.toFixed(1)} ms; ` +
        `viewers' CPU ${result.clientCpuMs.toFixed(0)} ms; clock offset ${server.offsetMs.toFixed(2)} ms` +
        (writes
          ? `\n    writes per stream: max ${writes.max}, mean ${writes.mean.toFixed(1)} over ${writes.meanDurationS.toFixed(1)} s ${JSON.stringify(writes.byMethod)}; ` +
            `other writes ${report.otherWrites}; all storage calls ${JSON.stringify(report.storageCalls)}`
          : ''),
    );
    return result;
  } finally {
    fleet?.close();
    await server?.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

/** The better of two runs of one side: lower CPU, and lower latency (taken apart). */
function better(a: RunResult | null, b: RunResult): RunResult {
  if (!a) return b;
  const cpu = a.cpuMsPer1k <= b.cpuMsPer1k ? a : b;
  const lat = a.latency.p99 <= b.latency.p99 ? a : b;
  return { ...cpu, latency: lat.latency };
}

export default async function streamingBench(): Promise<BenchRow[]> {
  const reply = answerText(TOKENS);
  const rows: BenchRow[] = [];
  let order = 0;
  log(
    `${LEVELS.join('/')} concurrent streams × ${VIEWERS} viewers, ${TOKENS} tokens at ${TPS} tokens/s, STREAM_DELAY ${STREAM_DELAY} ms, ` +
      `${ROUNDS} round(s), references: ${REFERENCES.join(', ') || 'none'}`,
  );
  if (ABLATE.length > 0) log(`WARNING: Parley runs with ${ABLATE.join(', ')} ablated: these are not Parley's figures`);
  process.on('exit', removeTempDirs);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (const streams of LEVELS) {
      const best = new Map<ServerMode, RunResult>();
      const modes: ServerMode[] = ['naive', 'parley', ...REFERENCES];
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate the order, so drift and neighbours hit every side alike.
        for (const mode of order++ % 2 === 0 ? modes : [...modes].reverse()) {
          best.set(mode, better(best.get(mode) ?? null, await runOnce(mode, streams, reply)));
        }
      }
      rows.push(...rowsFor(streams, best));
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', removeTempDirs);
  }
  return rows;
}

function rowsFor(streams: number, runs: Map<ServerMode, RunResult>): BenchRow[] {
  const parley = runs.get('parley')!;
  const naive = runs.get('naive')!;
  const floor = runs.get('floor');
  const coalesced = runs.get('coalesced');
  const scenario = `streaming (${streams} × ${VIEWERS} viewers, ${TPS} tok/s)`;
  const addedP50 = parley.latency.p50 - naive.latency.p50;
  const addedP99 = parley.latency.p99 - naive.latency.p99;
  const latencyTarget = STREAM_DELAY + 10;
  const w = parley.writes!;
  const rows: BenchRow[] = [
    {
      scenario,
      metric: 'websocket frames per token (per viewer)',
      value: parley.framesPerToken,
      unit: 'frames',
      baseline: { name: 'naive per-token emit', value: naive.framesPerToken },
      ratio: naive.framesPerToken / parley.framesPerToken,
      target: '<= 0.25',
      pass: parley.framesPerToken <= 0.25,
    },
    {
      scenario,
      metric: 'server CPU per 1,000 tokens',
      value: parley.cpuMsPer1k,
      unit: 'ms',
      baseline: { name: 'naive per-token emit', value: naive.cpuMsPer1k },
      ratio: naive.cpuMsPer1k / parley.cpuMsPer1k,
      target: '<= 0.5x naive',
      pass: parley.cpuMsPer1k <= 0.5 * naive.cpuMsPer1k,
    },
  ];
  if (floor) {
    const own = parley.cpuMsPer1k - floor.cpuMsPer1k;
    const naiveOwn = naive.cpuMsPer1k - floor.cpuMsPer1k;
    rows.push({
      scenario,
      metric: `  same, above the provider floor (${fmt(floor.cpuMsPer1k)} ms)`,
      value: own,
      unit: 'ms',
      baseline: { name: 'naive above the floor', value: naiveOwn },
      ratio: naiveOwn / own,
    });
  }
  if (coalesced) {
    rows.push({
      scenario,
      metric: '  reference: raw coalesced emit (no engine), CPU per 1,000 tokens',
      value: coalesced.cpuMsPer1k,
      unit: 'ms',
      baseline: { name: 'naive per-token emit', value: naive.cpuMsPer1k },
      ratio: naive.cpuMsPer1k / coalesced.cpuMsPer1k,
    });
  }
  rows.push(
    {
      scenario,
      metric: `added latency p50 (parley ${parley.latency.p50.toFixed(1)} − naive)`,
      value: addedP50,
      unit: 'ms',
      baseline: { name: 'naive p50', value: naive.latency.p50 },
      target: `<= ${latencyTarget} ms`,
      pass: addedP50 <= latencyTarget,
    },
    {
      scenario,
      metric: `added latency p99 (parley ${parley.latency.p99.toFixed(1)} − naive)`,
      value: addedP99,
      unit: 'ms',
      baseline: { name: 'naive p99', value: naive.latency.p99 },
      target: `<= ${latencyTarget} ms`,
      pass: addedP99 <= latencyTarget,
    },
    {
      scenario,
      metric: `storage writes per stream (max; mean ${w.mean.toFixed(1)})`,
      value: w.max,
      unit: 'writes',
      target: `<= 2 + ${w.meanDurationS.toFixed(1)} s`,
      pass: w.within,
    },
  );
  return rows;
}
