/**
 * parley-chat/client: what a page pays for it and what a long session costs.
 * - bundle: the client built as a page's bundler would (esbuild, minified, gzip), without
 *   socket.io-client (a peer the page loads anyway), beside socket.io-client built the same way;
 * - replay: 10,000 replayed messages applied to a session store (dedupe by changeSeq, order by seq,
 *   cursor) and one snapshot read, beside a plain Map insert + sort by seq of the same messages;
 * - snapshot read: ns per `getSnapshot()` when nothing changed, at 10,000 messages beside 100 (O(1));
 * - memory: the heap a store holding 10,000 messages takes, beside those messages' JSON size.
 * Messages are parsed from JSON one by one, as they come off the wire.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import type { Message } from '../src/model.js';
import { Outbox } from '../client/core/outbox.js';
import { memoryPersistence } from '../client/core/persistence.js';
import { SessionStore, type SessionLink } from '../client/core/session-store.js';
import { UserDirectory } from '../client/core/user-directory.js';
import type { BenchRow } from './lib.js';

const MESSAGES = 10_000;
const ROUNDS = 9;
const SESSION = 'bench-session';

function messageJson(count: number): string[] {
  const created = Date.parse('2026-12-07T12:00:00.000Z');
  return Array.from({ length: count }, (_, i) => {
    const at = new Date(created + i * 1000).toISOString();
    const message: Message = {
      id: `0193a6c2-${String(i).padStart(4, '0')}-7000-8000-${String(i).padStart(12, '0')}`,
      sessionId: SESSION,
      userId: i % 3 === 0 ? 'alice' : 'bob',
      agentId: null,
      content: `Message number ${i}: a typical chat line of about a hundred characters, give or take a few words.`,
      role: 'user',
      metadata: null,
      tokens: null,
      parentMessageId: null,
      replyCount: 0,
      seq: i + 1,
      changeSeq: i + 1,
      clientMessageId: `c-${i}`,
      isEdited: false,
      editedAt: null,
      isDeleted: false,
      deletedAt: null,
      createdAt: at,
      updatedAt: at,
      attachments: [],
      reactions: [],
    };
    return JSON.stringify(message);
  });
}

/** A store with no connection behind it: the part that applies events is what is measured. */
function detachedStore(): SessionStore {
  const outbox = new Outbox(memoryPersistence(), 'outbox', {
    connectedUser: () => null,
    send: () => Promise.reject(new Error('detached')),
    refreshToken: async () => false,
    settled: () => {},
    changed: () => {},
  });
  const link: SessionLink = {
    userId: () => 'carol',
    online: () => false,
    emit: () => Promise.reject(new Error('detached')),
    get: () => Promise.reject(new Error('detached')),
    outbox,
    users: new UserDirectory(() => Promise.reject(new Error('detached'))),
    loadCursor: async () => null,
    saveCursor: () => {},
    forget: () => {},
  };
  return new SessionStore(SESSION, link);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function timeReplay(json: string[]): { store: number; baseline: number } {
  const store: number[] = [];
  const baseline: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let parsed = json.map((s) => JSON.parse(s) as Message);
    let start = performance.now();
    const s = detachedStore();
    for (const m of parsed) s.onMessage(m);
    if (s.getSnapshot().messages.length !== json.length) throw new Error('client bench: the store lost messages');
    store.push(performance.now() - start);

    parsed = json.map((s) => JSON.parse(s) as Message);
    start = performance.now();
    const map = new Map<string, Message>();
    for (const m of parsed) map.set(m.id, m);
    const sorted = [...map.values()].sort((a, b) => a.seq - b.seq);
    if (sorted.length !== json.length) throw new Error('client bench: the baseline lost messages');
    baseline.push(performance.now() - start);
  }
  return { store: median(store), baseline: median(baseline) };
}

function nsPerSnapshotRead(json: string[]): number {
  const store = detachedStore();
  for (const s of json) store.onMessage(JSON.parse(s) as Message);
  const first = store.getSnapshot();
  const reads = 2_000_000;
  let ns = Infinity;
  for (let pass = 0; pass < 3; pass++) {
    // The best of three passes: the first also pays for compiling the loop.
    const start = performance.now();
    for (let i = 0; i < reads; i++) if (store.getSnapshot() !== first) throw new Error('client bench: the snapshot changed');
    ns = Math.min(ns, ((performance.now() - start) * 1e6) / reads);
  }
  return ns;
}

function heapOfStore(json: string[]): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const before = process.memoryUsage().heapUsed;
  const store = detachedStore();
  for (const s of json) store.onMessage(JSON.parse(s) as Message);
  store.getSnapshot();
  gc();
  const after = process.memoryUsage().heapUsed;
  if (store.getSnapshot().messages.length !== json.length) throw new Error('client bench: the store lost messages');
  return after - before;
}

async function gzippedBundle(entry: string, external: string[]): Promise<number> {
  const result = await build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, external, logLevel: 'silent' });
  return gzipSync(result.outputFiles[0]!.contents, { level: 9 }).length;
}

export default async function clientBench(): Promise<BenchRow[]> {
  const root = new URL('..', import.meta.url).pathname;
  const client = await gzippedBundle(`${root}client/core/index.ts`, ['socket.io-client']);
  const socketIo = await gzippedBundle(`${root}node_modules/socket.io-client/build/esm/index.js`, []);

  const json = messageJson(MESSAGES);
  const replay = timeReplay(json);
  const readLarge = nsPerSnapshotRead(json);
  const readSmall = nsPerSnapshotRead(json.slice(0, 100));
  const heap = heapOfStore(json);
  const jsonBytes = json.reduce((n, s) => n + Buffer.byteLength(s), 0);

  return [
    {
      scenario: 'client',
      metric: 'parley-chat/client min+gzip (no socket.io-client)',
      value: client / 1024,
      unit: 'KB',
      baseline: { name: 'socket.io-client min+gzip KB', value: socketIo / 1024 },
      ratio: socketIo / client,
      target: '<= 12 KB',
      pass: client <= 12 * 1024,
    },
    {
      scenario: 'client',
      metric: `apply ${MESSAGES.toLocaleString('en-US')} replayed msgs + snapshot, ms`,
      value: replay.store,
      unit: 'ms',
      baseline: { name: 'Map insert + sort by seq, ms', value: replay.baseline },
      ratio: replay.baseline / replay.store,
      target: '>= 0.5x (<= 2x the time)',
      pass: replay.store <= 2 * replay.baseline,
    },
    {
      scenario: 'client',
      metric: `getSnapshot() unchanged, ${MESSAGES.toLocaleString('en-US')} msgs`,
      value: readLarge,
      unit: 'ns',
      baseline: { name: 'the same at 100 msgs, ns', value: readSmall },
      ratio: readSmall / readLarge,
      target: 'O(1): ~1x',
      pass: readLarge <= 3 * readSmall,
    },
    {
      scenario: 'client',
      metric: `store heap, ${MESSAGES.toLocaleString('en-US')} msgs`,
      value: heap / 1024 / 1024,
      unit: 'MB',
      baseline: { name: 'their JSON, MB', value: jsonBytes / 1024 / 1024 },
      ratio: jsonBytes / heap,
      target: '>= 0.67x (<= 1.5x the JSON)',
      pass: heap <= 1.5 * jsonBytes,
    },
  ];
}
