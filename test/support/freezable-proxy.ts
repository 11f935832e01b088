import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a server that can freeze on demand, as a server stopped with SIGSTOP
 * (or a network that stops delivering) looks to its clients: connections are still accepted, but
 * nothing reaches the server and nothing comes back. What clients send meanwhile — bytes, and
 * closing their end — is held in order and delivered when it thaws, as a kernel's socket buffers
 * would hold it for a stopped process. Only the connections through the proxy freeze: the server
 * itself, and everyone else using it, are untouched.
 */
export interface FreezableProxy {
  /** `127.0.0.1:<port>` of the proxy. */
  host: string;
  port: number;
  readonly frozen: boolean;
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

type Pending = Buffer | 'end';

export async function startFreezableProxy(target: { host: string; port: number }): Promise<FreezableProxy> {
  let frozen = false;
  const pipes = new Set<Pipe>();

  /** One direction of one connection: forwards at once, or holds while frozen. */
  class Direction {
    private held: Pending[] = [];
    constructor(
      from: Socket,
      private readonly to: Socket,
    ) {
      from.on('data', (chunk: Buffer) => this.push(chunk));
      from.on('end', () => this.push('end'));
    }
    private push(item: Pending): void {
      if (frozen || this.held.length > 0) this.held.push(item);
      else this.deliver(item);
    }
    private deliver(item: Pending): void {
      if (this.to.destroyed) return;
      if (item === 'end') this.to.end();
      else this.to.write(item);
    }
    flush(): void {
      const held = this.held;
      this.held = [];
      for (const item of held) this.deliver(item);
    }
  }

  class Pipe {
    private readonly directions: Direction[];
    constructor(
      readonly client: Socket,
      readonly upstream: Socket,
    ) {
      this.directions = [new Direction(client, upstream), new Direction(upstream, client)];
      // Held data is delivered at the thaw even if a side has closed since (it stays in `pipes`).
      const done = () => {
        if (frozen) return;
        pipes.delete(this);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', done);
      upstream.on('close', done);
      client.on('error', () => {});
      upstream.on('error', () => {});
    }
    flush(): void {
      for (const d of this.directions) d.flush();
      if (this.client.destroyed || this.upstream.destroyed) {
        pipes.delete(this);
        this.client.end();
        this.upstream.end();
      }
    }
  }

  const server = createServer((client) => {
    client.setNoDelay(true);
    const upstream = connect(target.port, target.host);
    upstream.setNoDelay(true);
    pipes.add(new Pipe(client, upstream));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    host: '127.0.0.1',
    port,
    get frozen() {
      return frozen;
    },
    freeze() {
      frozen = true;
    },
    thaw() {
      frozen = false;
      for (const pipe of [...pipes]) pipe.flush();
    },
    async close() {
      frozen = false;
      for (const pipe of pipes) {
        pipe.client.destroy();
        pipe.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
