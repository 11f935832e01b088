import { EventEmitter } from 'node:events';
import { ClusterAdapterWithHeartbeat, type ClusterMessage, type ClusterResponse } from 'socket.io-adapter';

/**
 * A Socket.io cluster adapter whose "broker" is an in-process EventEmitter, for tests only: several
 * Socket.io servers in one process behave like nodes of a cluster (broadcasts, fetchSockets,
 * socketsLeave cross between them). Messages are deep-copied and delivered on a later tick, as a
 * real broker (Redis, Postgres) would. Built on socket.io-adapter's own `ClusterAdapterWithHeartbeat`,
 * the base of the official cluster adapters (socket.io-adapter ships with socket.io).
 */
export function inProcessCluster() {
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  const adapters = new Set<InProcessAdapter>();

  class InProcessAdapter extends ClusterAdapterWithHeartbeat {
    // One channel per namespace, as real adapters do (heartbeats count nodes per namespace).
    private readonly onBusMessage = (message: ClusterMessage) => {
      if (message.nsp === this.nsp.name) this.onMessage(structuredClone(message));
    };
    private readonly onBusResponse = (response: ClusterResponse) => this.onResponse(structuredClone(response));

    constructor(nsp: unknown) {
      super(nsp, { heartbeatInterval: 1000, heartbeatTimeout: 5000 });
      bus.on('message', this.onBusMessage);
      bus.on(`response:${this.uid}`, this.onBusResponse);
      adapters.add(this);
    }

    protected override async doPublish(message: ClusterMessage): Promise<string> {
      setImmediate(() => bus.emit('message', message));
      return '';
    }

    protected override async doPublishResponse(requesterUid: string, response: ClusterResponse): Promise<void> {
      setImmediate(() => bus.emit(`response:${requesterUid}`, response));
    }

    override close(): void {
      super.close();
      bus.off('message', this.onBusMessage);
      bus.off(`response:${this.uid}`, this.onBusResponse);
      adapters.delete(this);
    }
  }

  return {
    /** Pass as `new Server(http, { adapter })`. */
    adapter: InProcessAdapter as unknown as new (nsp: unknown) => unknown,
    close: () => {
      for (const a of [...adapters]) a.close();
    },
  };
}
