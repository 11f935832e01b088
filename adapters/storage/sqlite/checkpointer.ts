import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside the COMMIT that
 * crosses `wal_autocheckpoint` pages: it copies the log into the database and fsyncs, 5-20 ms
 * during which the event loop — every socket, every ack — waits (on the socket-send bench it was
 * most of the ack p99). A worker thread with its own connection runs `wal_checkpoint(PASSIVE)`
 * instead, which never blocks writers or readers; the writer then restarts the log from the top.
 * The writer's own automatic checkpoint stays on, with a higher threshold, in case the worker
 * falls behind or dies.
 */
export interface Checkpointer {
  /** Asks the worker to close its connection and end (it does so within one interval). */
  stop(): void;
}

/** Pages of log after which the writer checkpoints itself anyway (~40 MB with 4 KiB pages; measured: 4,000 doubled the ack p99 at 4,000 msg/s). */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 10_000;

// CommonJS, run by the worker: `eval` workers cannot import ESM by a relative path, and the
// driver's path is resolved by the caller, so the host's module layout does not matter.
const WORKER_SOURCE = `
const { statSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.filename, { fileMustExist: true });
db.pragma('busy_timeout = 0');
const wal = workerData.filename + '-wal';
let checkpointed = -1; // the log's mtime at the last checkpoint
let seen = -1; // ... at the last look
let busyLooks = 0; // consecutive looks that found new commits
let lastCheckpointAt = 0;
let delay = workerData.intervalMs;
let timer;
const round = () => {
  // The log's mtime moves with every commit. While it moves at look after look (a busy writer),
  // the log is checkpointed every interval; a trickle of commits (a stream's flush a second) at most
  // every 40 intervals (1 s), and a quiet log is looked at less and less often (up to 16 intervals).
  const mtime = statSync(wal, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  busyLooks = mtime !== seen ? busyLooks + 1 : 0;
  seen = mtime;
  delay = busyLooks > 0 ? workerData.intervalMs : Math.min(delay * 2, workerData.intervalMs * 16);
  const now = Date.now();
  if (mtime !== checkpointed && (busyLooks >= 3 || now - lastCheckpointAt >= workerData.intervalMs * 40)) {
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
      checkpointed = mtime;
      lastCheckpointAt = now;
    } catch { /* busy or closing: the next round retries */ }
  }
  timer = setTimeout(round, delay);
};
timer = setTimeout(round, delay);
parentPort.once('message', () => {
  clearTimeout(timer);
  try { db.close(); } catch {}
  parentPort.close();
});
`;

/** The path of better-sqlite3's entry point as this module sees it, or null when it cannot be found. */
function driverPath(): string | null {
  try {
    // Rooted at this module, so the host's own better-sqlite3 (a peer dependency) is found. tsup
    // gives the CommonJS build an `import.meta.url` of its own file.
    return createRequire(import.meta.url).resolve('better-sqlite3');
  } catch {
    return null;
  }
}

/**
 * Starts checkpointing `filename` every `intervalMs` in a worker thread; null if the worker cannot
 * start (the caller then keeps SQLite's own automatic checkpoints). The worker never keeps the
 * process alive.
 */
export function startCheckpointer(filename: string, intervalMs = 25): Checkpointer | null {
  const driver = driverPath();
  if (driver === null) return null;
  let worker: Worker;
  try {
    worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, filename, intervalMs } });
  } catch {
    return null;
  }
  worker.unref();
  // A worker that fails (say, the file was deleted) just ends: the writer's fallback checkpoint remains.
  worker.on('error', () => {});
  return {
    stop() {
      worker.postMessage('stop');
    },
  };
}
