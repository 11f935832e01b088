/**
 * Cluster tests: Parley nodes as separate OS processes (`examples/cluster/node.ts`), sharing the real
 * Postgres (a fresh schema per run, dropped after) and Redis (a unique key/channel prefix per run,
 * its keys deleted after), with socket.io-client tabs connected to each.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import { io as connectClient, type Socket } from 'socket.io-client';
import { dropSchema, PG_URL, uniqueSchema } from '../support/postgres.js';
import { Received } from '../support/received.js';
import { requireService, serviceUrls } from '../support/services.js';

export const REDIS_URL = serviceUrls.redis();
export const SECRET = 'cluster-test-secret-long-enough-for-hs256!!';
const key = new TextEncoder().encode(SECRET);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const READY_MARKER = 'PARLEY_NODE_READY';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

// ---- services ---------------------------------------------------------------------------------

/** null when Postgres and Redis answer; otherwise why the cluster tests are skipped. Under CI=true: throws. */
export async function missingServices(): Promise<string | null> {
  const reasons = await Promise.all([requireService('postgres'), requireService('redis')]);
  const missing = reasons.filter((reason) => reason !== null);
  return missing.length ? `cluster tests skipped: ${missing.join('; ')}` : null;
}

/** One run's share of Postgres and Redis: created lazily, removed by `dispose()`. */
export class RunResources {
  readonly schema = uniqueSchema('parley_cluster');
  readonly redisPrefix = `parley-test:${process.pid}:${Math.random().toString(36).slice(2, 10)}`;

  async dispose(): Promise<void> {
    await dropSchema(this.schema).catch(() => {});
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${this.redisPrefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    } catch {
      // best effort
    } finally {
      redis.disconnect();
    }
  }
}

// ---- node processes ---------------------------------------------------------------------------

export interface NodeProcess {
  url: string;
  nodeId: string;
  pid: number;
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const children = new Set<ChildProcess>();
// A last resort if the test process itself goes away without its afterAll (the nodes also exit when
// their stdin — our pipe — closes).
process.once('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

export interface SpawnOptions {
  resources: RunResources;
  nodeId: string;
  adapter?: 'redis' | 'redis-streams';
  env?: Record<string, string>;
}

/** Starts `examples/cluster/node.ts` in its own process (node --import tsx, one PID: SIGKILL kills the node itself). */
export function spawnNode(options: SpawnOptions): Promise<NodeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/cluster/node.ts'], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PORT: '0',
      JWT_SECRET: SECRET,
      DATABASE_URL: PG_URL,
      DATABASE_SCHEMA: options.resources.schema,
      REDIS_URL,
      REDIS_PREFIX: options.resources.redisPrefix,
      SOCKET_ADAPTER: options.adapter ?? 'redis',
      NODE_ID: options.nodeId,
      PARLEY_EXIT_WITH_PARENT: '1',
      NODE_OPTIONS: '',
      ...options.env,
    },
  });
  children.add(child);
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  child.stderr!.setEncoding('utf8').on('data', (d: string) => output.push(d));
  return new Promise<NodeProcess>((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${options.nodeId} did not start within 20 s:\n${output.join('')}`));
    }, 20_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      output.push(d);
      buffer += d;
      const line = buffer.split('\n').find((l) => l.startsWith(READY_MARKER));
      if (!line) return;
      clearTimeout(timer);
      buffer = '';
      const info = JSON.parse(line.slice(READY_MARKER.length)) as { url: string; nodeId: string; pid: number };
      resolve({
        ...info,
        child,
        output,
        exited,
        kill: async (signal = 'SIGTERM') => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill(signal);
          const forced = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(forced);
        },
      });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node ${options.nodeId} exited (${code}) before it was ready:\n${output.join('')}`));
    });
  });
}

/** Kills every node process still running (SIGKILL: a test's cleanup must not hang on a stuck node). */
export async function killAllNodes(): Promise<void> {
  const running = [...children];
  await Promise.all(
    running.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

// ---- clients ----------------------------------------------------------------------------------

export function tokenFor(userId: string, name?: string): Promise<string> {
  return new SignJWT({ sub: userId, ...(name !== undefined && { name }) })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(key);
}

export { Received };

export interface Tab {
  userId: string;
  socket: Socket;
  received: Received;
  call(event: string, payload: unknown): Promise<{ ok: boolean; data?: any; error?: any }>;
  close(): Promise<void>;
}

const tabs = new Set<Tab>();

export async function connectTab(node: { url: string }, userId: string, options: { reconnection?: boolean; auth?: Record<string, unknown> } = {}): Promise<Tab> {
  const token = await tokenFor(userId);
  const socket = connectClient(`${node.url}/chat`, {
    auth: { token, ...options.auth },
    transports: ['websocket'],
    forceNew: true,
    reconnection: options.reconnection ?? false,
    reconnectionDelay: 50,
    reconnectionDelayMax: 100,
  });
  const received = new Received(socket, 8000);
  const tab: Tab = {
    userId,
    socket,
    received,
    call: (event, payload) => socket.timeout(8000).emitWithAck(event, payload),
    close: async () => {
      tabs.delete(tab);
      if (socket.disconnected && !socket.active) return;
      socket.disconnect();
    },
  };
  tabs.add(tab);
  await received.waitFor('connection:success', 1, () => true, 8000).catch((error) => {
    socket.disconnect();
    throw error;
  });
  return tab;
}

export function closeAllTabs(): void {
  for (const tab of tabs) tab.socket.disconnect();
  tabs.clear();
}

/** A REST call as `userId` against one node. */
export async function rest(node: { url: string }, userId: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${node.url}/api/chat${path}`, {
    method,
    headers: { authorization: `Bearer ${await tokenFor(userId)}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

export async function createSession(node: { url: string }, owner: string, memberIds: string[]): Promise<string> {
  const res = await rest(node, owner, 'POST', '/sessions', { memberIds });
  if (res.status !== 201) throw new Error(`create session: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}
