/**
 * Streams this node does not run: how it tells a live one from one whose node is gone, and how it
 * closes one in that node's place.
 */
import type { ChatEvents } from '../events.js';
import type { Message, StreamRecord, StreamStatus } from '../model.js';
import type { StorageAdapter } from '../ports/storage.js';

/** The states of a stream that has not ended. */
export const RUNNING_STATUSES: readonly StreamStatus[] = ['pending', 'streaming'];

/**
 * What a running stream promises about its row, and what other nodes conclude from it. While tokens
 * flow the row is written about once a second (the flush); when the upstream is silent the node
 * running it touches the row instead (the heartbeat). So a live stream's row is never older than
 * `heartbeatMs`, plus one write's latency — the guarantee the rest is derived from:
 * - `freshMs` (two heartbeats, so one late write is tolerated): a stream of another node whose row
 *   is older is not offered to a joining member — its node is most likely gone;
 * - the lease: a stream whose row is older than the whole lease is closed as `error` by any node.
 *   Closing is final, so it waits ten heartbeats; leaving a snapshot out is not, so it waits two.
 */
export interface StreamLeaseTimings {
  leaseMs: number;
  /** The longest a running stream's row goes unwritten. */
  heartbeatMs: number;
  /** How often the engine checks its streams: each row not written for this long is touched. */
  tickMs: number;
  /** A row written within this is taken for a live stream. */
  freshMs: number;
  /** How often the engine looks for abandoned streams. */
  sweepMs: number;
}

export function streamLeaseTimings(leaseMs: number): StreamLeaseTimings {
  const heartbeatMs = Math.max(100, Math.floor(leaseMs / 10));
  return {
    leaseMs,
    heartbeatMs,
    // A tick every half heartbeat touching rows older than half a heartbeat: at most one heartbeat.
    tickMs: Math.floor(heartbeatMs / 2),
    freshMs: 2 * heartbeatMs,
    sweepMs: Math.max(50, Math.floor(leaseMs / 3)),
  };
}

/** Whether the stream's row was written recently enough for its node to be taken as alive. */
export function isFresh(record: StreamRecord, now: Date, timings: StreamLeaseTimings): boolean {
  return now.getTime() - Date.parse(record.updatedAt) <= timings.freshMs;
}

/**
 * Ends a running stream of another node as `stopped` or `error`, keeping the text it flushed.
 * Compare-and-set on the running status, as every final write is: of several nodes doing this at
 * once (and the owner, if it was only slow), exactly one commits. The owner, if alive, finds its
 * row no longer running at its next flush or heartbeat and stops without writing. Null when the
 * stream had already ended.
 */
export function closeRemoteStream(
  storage: StorageAdapter,
  record: StreamRecord,
  end: { status: 'stopped' | 'error'; finishReason: string; errorMessage?: string },
  now: Date,
): Promise<{ stream: StreamRecord; message: Message | null } | null> {
  return storage.updateStream(
    record.id,
    {
      status: end.status,
      finishReason: end.finishReason,
      ...(end.errorMessage !== undefined && { errorMessage: end.errorMessage }),
      completedAt: now,
      expectedStatuses: RUNNING_STATUSES,
      at: now,
    },
    { patch: { metadata: { status: end.status, streamId: record.id }, at: now }, bumpSeq: true },
  );
}

/** What `stream.stopped` says of a stream stopped in its node's place: the text it had flushed. */
export function stoppedInPlace(record: StreamRecord, answer: Message | null): ChatEvents['stream.stopped'] {
  return {
    streamId: record.id,
    sessionId: record.sessionId,
    messageId: record.messageId,
    seq: answer?.changeSeq ?? 0,
    content: answer?.content ?? '',
    parts: answer?.parts ?? [],
    answer,
  };
}
