/**
 * What the Socket.io binding's few uses of socket.io / engine.io internals
 * (adapters/socket.io/private-fields.ts) and its corked writes buy, each measured with and without
 * in the same run, interleaved, as a ratio (> 1: the binding as shipped is better).
 *
 * - Corked writes (socket-send's maximum rate and server CPU per message, SQLite and memory storage):
 *   without = the connection's request dropped once the chat socket is set up, so the binding finds
 *   no TCP socket to cork (what a host gets that discards `conn.request`). The clients open on
 *   WebSocket, where the TCP socket is found through public API; a connection upgraded from polling
 *   is found through engine.io's `id`, the module's second entry.
 * - The exact-size any-listener arrays (socket-fanout's server memory per idle connection):
 *   without = the arrays grown again by `push`, as socket.io leaves them.
 * The write interception (the module's first entry) has no "without": it is what makes a join exact.
 *
 * Knobs: BENCH_PRIVATE_ROUNDS (default 3 interleaved pairs per figure), BENCH_PRIVATE_STORAGES
 * (default 'sqlite,memory'), and socket-send's own (BENCH_SOCKET_SENDS, …).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'socket.io';
import { ANY_LISTENER_FIELDS } from '../adapters/socket.io/private-fields.js';
import { MemoryStorage, type StorageAdapter } from '../src/index.js';
import type { BenchRow } from './lib.js';
import { idleMemory } from './socket-fanout.bench.js';
import { measureParley, type SendResult } from './socket-send.bench.js';

const ROUNDS = Math.max(1, Number(process.env.BENCH_PRIVATE_ROUNDS ?? 3));
const STORAGES = (process.env.BENCH_PRIVATE_STORAGES ?? 'sqlite,memory').split(',');

/** Without corking: no request left to find the connection's TCP socket by. */
function withoutCorking(io: Server): void {
  io.of('/chat').on('connection', (socket) => {
    (socket.conn as unknown as { request: unknown }).request = null;
  });
}

/** Without compaction: each any-listener array grown by `push` again, as socket.io builds it. */
function withoutCompaction(io: Server): void {
  io.of('/chat').on('connection', (socket) => {
    const fields = socket as unknown as Record<string, unknown>;
    for (const field of ANY_LISTENER_FIELDS) {
      const listeners = fields[field];
      if (!Array.isArray(listeners)) continue;
      const grown: unknown[] = [];
      for (const listener of listeners) grown.push(listener);
      fields[field] = grown;
    }
  });
}

async function storageFor(name: string): Promise<{ storage: StorageAdapter; done: () => void }> {
  if (name === 'memory') return { storage: new MemoryStorage(), done: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'parley-private-bench-'));
  const { SqliteStorage } = await import('../adapters/storage/sqlite/index.js');
  return { storage: new SqliteStorage({ filename: join(dir, 'chat.db') }), done: () => rmSync(dir, { recursive: true, force: true }) };
}

async function send(storageName: string, configure?: (io: Server) => void): Promise<SendResult> {
  const { storage, done } = await storageFor(storageName);
  try {
    return await measureParley(storage, configure);
  } finally {
    done();
  }
}

const medianOf = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

export default async function socketPrivateFieldsBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];

  // Memory first, on a fresh heap.
  const memory: { shipped: number; without: number }[] = [];
  for (let i = 0; i < ROUNDS; i++) memory.push({ shipped: await idleMemory('parley'), without: await idleMemory('parley', withoutCompaction) });
  const memoryRatios = memory.map((m) => m.without / m.shipped);
  rows.push({
    scenario: 'exact-size any-listener arrays',
    metric: `server bytes per idle connection, median of ${ROUNDS} pairs (ratios ${memoryRatios.map((r) => r.toFixed(3)).join(', ')})`,
    value: medianOf(memory.map((m) => m.shipped)),
    unit: 'B',
    baseline: { name: 'arrays as socket.io grows them', value: medianOf(memory.map((m) => m.without)) },
    ratio: medianOf(memoryRatios),
  });
  rows.push({
    scenario: 'exact-size any-listener arrays',
    metric: `bytes saved per idle connection, median of ${ROUNDS} pairs`,
    value: medianOf(memory.map((m) => m.without - m.shipped)),
    unit: 'B',
  });

  for (const storageName of STORAGES) {
    const pairs: { shipped: SendResult; without: SendResult }[] = [];
    for (let i = 0; i < ROUNDS; i++) pairs.push({ shipped: await send(storageName), without: await send(storageName, withoutCorking) });
    const rateRatios = pairs.map((p) => p.shipped.rate / p.without.rate);
    const cpuRatios = pairs.map((p) => p.without.cpuUsPerMessage / p.shipped.cpuUsPerMessage);
    const scenario = `corked writes (socket-send, ${storageName})`;
    rows.push(
      {
        scenario,
        metric: `max msg/s, median of ${ROUNDS} pairs (ratios ${rateRatios.map((r) => r.toFixed(2)).join(', ')})`,
        value: medianOf(pairs.map((p) => p.shipped.rate)),
        unit: 'msg/s',
        baseline: { name: 'not corked', value: medianOf(pairs.map((p) => p.without.rate)) },
        ratio: medianOf(rateRatios),
      },
      {
        scenario,
        metric: `server CPU µs / message at max rate, median of ${ROUNDS} pairs (ratios ${cpuRatios.map((r) => r.toFixed(2)).join(', ')})`,
        value: medianOf(pairs.map((p) => p.shipped.cpuUsPerMessage)),
        unit: 'µs',
        baseline: { name: 'not corked', value: medianOf(pairs.map((p) => p.without.cpuUsPerMessage)) },
        ratio: medianOf(cpuRatios),
      },
    );
  }
  return rows;
}
