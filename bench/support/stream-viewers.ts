/**
 * The viewers of the streaming bench: real socket.io-client connections (websocket transport, one
 * engine.io connection each), in the bench process. Each viewer counts the `stream:chunk` packets it
 * receives and records, for every chunk that carries text, the cumulative length of the deltas so
 * far and when it arrived (`now()`, the cross-process clock), so each provider token can be matched
 * to the first packet that contains it.
 */
import { io, type Socket } from 'socket.io-client';
import { now } from './stream-server.js';

export interface ViewerGroup {
  /** One handshake `auth` per viewer; viewer 0 asks for the answer. */
  auths: Record<string, unknown>[];
  /** What each viewer emits (with an ack) to join the stream's room. */
  join: { event: string; payload: unknown };
}

export class Viewer {
  /** Cumulative length of the deltas received. */
  cum = 0;
  /** Per text-carrying chunk: `cum` after it and its arrival time. */
  receivedCum: number[] = [];
  receivedAt: number[] = [];
  /** `stream:chunk` packets received (with or without text). */
  chunks = 0;
  completed = false;

  constructor(readonly socket: Socket) {}

  reset(): void {
    this.cum = 0;
    this.receivedCum = [];
    this.receivedAt = [];
    this.chunks = 0;
    this.completed = false;
  }
}

export class ViewerFleet {
  private pendingCompletions = 0;
  private onAllComplete: (() => void) | null = null;
  private onFailure: ((error: Error) => void) | null = null;

  private constructor(readonly groups: Viewer[][]) {}

  static async connect(url: string, groups: ViewerGroup[], progress?: (connected: number) => void): Promise<ViewerFleet> {
    const fleet = new ViewerFleet([]);
    const all = groups.flatMap((g, k) => g.auths.map((auth, i) => ({ k, i, auth, join: g.join })));
    const sockets: Socket[] = [];
    try {
      for (let from = 0; from < all.length; from += 50) {
        const batch = all.slice(from, from + 50).map(async ({ k, i, auth, join }) => {
          const socket = await connectOne(url, auth, join, sockets);
          const viewer = new Viewer(socket);
          (fleet.groups[k] ??= [])[i] = viewer;
          fleet.listen(viewer);
        });
        await Promise.all(batch);
        progress?.(Math.min(all.length, from + 50));
      }
    } catch (error) {
      for (const s of sockets) s.disconnect();
      throw error;
    }
    return fleet;
  }

  private listen(viewer: Viewer): void {
    viewer.socket.on('stream:chunk', (chunk: { delta: string }) => {
      const at = now();
      viewer.chunks++;
      if (chunk.delta) {
        viewer.cum += chunk.delta.length;
        viewer.receivedCum.push(viewer.cum);
        viewer.receivedAt.push(at);
      }
    });
    viewer.socket.on('stream:complete', () => {
      if (viewer.completed) return;
      viewer.completed = true;
      if (--this.pendingCompletions === 0 && this.onAllComplete) this.onAllComplete();
    });
    for (const event of ['stream:error', 'stream:stopped']) {
      viewer.socket.on(event, (payload: unknown) => this.onFailure?.(new Error(`${event}: ${JSON.stringify(payload)}`)));
    }
    viewer.socket.on('disconnect', (reason) => this.onFailure?.(new Error(`a viewer disconnected: ${reason}`)));
  }

  get viewers(): Viewer[] {
    return this.groups.flat();
  }

  /**
   * Viewer 0 of every group asks for an answer, group k `k × staggerMs` after the first; resolves
   * when every viewer has its `stream:complete`.
   */
  async stream(request: (k: number) => { event: string; payload: unknown }, timeoutMs: number, staggerMs = 0): Promise<void> {
    for (const v of this.viewers) v.reset();
    this.pendingCompletions = this.viewers.length;
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve, reject) => {
      this.onAllComplete = resolve;
      this.onFailure = reject;
      timer = setTimeout(() => reject(new Error(`streams not complete after ${timeoutMs} ms (${this.pendingCompletions} viewers waiting)`)), timeoutMs);
    });
    try {
      const acks = this.groups.map(
        (group, k) =>
          new Promise<void>((resolve, reject) => {
            const { event, payload } = request(k);
            const send = () =>
              group[0]!.socket.timeout(30_000).emit(event, payload, (err: unknown, ack: { ok?: boolean; error?: unknown }) => {
                if (err || ack?.ok === false) reject(new Error(`${event} refused: ${JSON.stringify(err ?? ack)}`));
                else resolve();
              });
            if (k === 0 || staggerMs <= 0) send();
            else setTimeout(send, k * staggerMs);
          }),
      );
      await Promise.all([...acks, done]);
    } finally {
      clearTimeout(timer);
      this.onAllComplete = null;
      this.onFailure = null;
    }
  }

  close(): void {
    this.onFailure = null;
    for (const v of this.viewers) {
      v.socket.removeAllListeners();
      v.socket.disconnect();
    }
  }
}

function connectOne(url: string, auth: Record<string, unknown>, join: { event: string; payload: unknown }, sockets: Socket[]): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(url, { auth, forceNew: true, reconnection: false, transports: ['websocket'] });
    sockets.push(socket);
    socket.once('connect_error', reject);
    socket.once('connect', () => {
      socket.timeout(30_000).emit(join.event, join.payload, (err: unknown, ack: { ok?: boolean }) => {
        if (err || ack?.ok === false) return reject(new Error(`join refused: ${JSON.stringify(err ?? ack)}`));
        resolve(socket);
      });
    });
  });
}
