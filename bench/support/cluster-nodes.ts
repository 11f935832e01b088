/**
 * Cluster bench support: `examples/cluster/node.ts` as separate processes on the real Postgres and
 * Redis (a fresh schema and Redis prefix per run, removed by `dispose()`), and socket.io-client tabs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import pg from 'pg';
import { io as connectClient, type Socket } from 'socket.io-client';

export const PG_URL = process.env.PARLEY_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.PARLEY_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SECRET = 'cluster-bench-secret-long-enough-for-hs256!';
const key = new TextEncoder().encode(SECRET);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface BenchNode {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export class ClusterRun {
  readonly schema = `parley_bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  readonly prefix = `parley-bench:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  private readonly children = new Set<ChildProcess>();
  private readonly onExit = () => {
    for (const child of this.children) child.kill('SIGKILL');
  };

  constructor() {
    process.once('exit', this.onExit);
  }

  startNode(nodeId: string, env: Record<string, string> = {}): Promise<BenchNode> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/cluster/node.ts'], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PORT: '0',
        JWT_SECRET: SECRET,
        DATABASE_URL: PG_URL,
        DATABASE_SCHEMA: this.schema,
        REDIS_URL,
        REDIS_PREFIX: this.prefix,
        NODE_ID: nodeId,
        PARLEY_EXIT_WITH_PARENT: '1',
        NODE_OPTIONS: '',
        ...env,
      },
    });
    this.children.add(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => (this.children.delete(child), resolve())));
    let output = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${nodeId} did not start:\n${output}`)), 20_000);
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        output += d;
        const line = output.split('\n').find((l) => l.startsWith('PARLEY_NODE_READY '));
        if (!line) return;
        clearTimeout(timer);
        const { url } = JSON.parse(line.slice('PARLEY_NODE_READY '.length)) as { url: string };
        resolve({
          url,
          child,
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            const force = setTimeout(() => child.kill('SIGKILL'), 5000);
            await exited;
            clearTimeout(force);
          },
        });
      });
      void exited.then(() => reject(new Error(`${nodeId} exited before it was ready:\n${output}`)));
    });
  }

  async dispose(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    process.off('exit', this.onExit);
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`drop schema if exists "${this.schema}" cascade`).finally(() => client.end());
    const redis = new Redis(REDIS_URL);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  }
}

export function tokenFor(userId: string): Promise<string> {
  return new SignJWT({ sub: userId }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(key);
}

export async function connect(url: string, userId: string): Promise<Socket> {
  const socket = connectClient(`${url}/chat`, { auth: { token: await tokenFor(userId) }, transports: ['websocket'], forceNew: true, reconnection: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('connection:success', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

export async function rest(url: string, userId: string, method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${url}/api/chat${path}`, {
    method,
    headers: { authorization: `Bearer ${await tokenFor(userId)}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}
