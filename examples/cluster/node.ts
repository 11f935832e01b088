/**
 * One node of a Parley cluster: Express + the host's own Socket.io server on the Redis adapter,
 * Postgres for everything durable, Redis for rate-limit counters. Run as many as you like behind a
 * sticky load balancer (see README.md in this folder):
 *
 *   JWT_SECRET=… DATABASE_URL=postgres://… REDIS_URL=redis://… PORT=3001 npx tsx examples/cluster/node.ts
 *
 * Importable too: `startNode(options)` builds a node and resolves once it listens (tests and the
 * bench use it; `nodeOptionsFromEnv()` reads the same environment the command line uses).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { Server, type ServerOptions } from 'socket.io';
import { createAdapter as createRedisAdapter } from '@socket.io/redis-adapter';
import { createAdapter as createRedisStreamsAdapter } from '@socket.io/redis-streams-adapter';
import { ChatEngine, jwtAuthenticator, ScriptedProvider, type AgentConfig, type LlmProvider, type RateLimitConfig } from 'parley-chat';
import { PostgresStorage } from 'parley-chat/postgres';
import { attachChat, type ChatBinding } from 'parley-chat/socket.io';
import { createChatRouter } from 'parley-chat/express';
import { OpenAICompatibleProvider } from 'parley-chat/openai';

export type SocketAdapterKind = 'redis' | 'redis-streams';

export interface NodeOptions {
  /** HTTP port (0 = any free port). */
  port: number;
  host?: string;
  /** HS256 secret (≥ 32 characters) shared by every node, so a token works on any of them. */
  jwtSecret: string;
  /** Postgres: messages, sessions, cursors, streams — everything durable. */
  databaseUrl: string;
  /** Postgres schema for Parley's tables (default: the connection's `search_path`). */
  databaseSchema?: string;
  /** Redis: the Socket.io adapter's pub/sub (or stream) and the rate-limit counters. */
  redisUrl: string;
  /**
   * Prefix of every Redis key and channel this cluster uses (default `parley`): the redis-adapter
   * `key`, the streams-adapter `streamName`/`channelPrefix`/`sessionKeyPrefix`, the limiter keys.
   * Two clusters sharing one Redis need different prefixes.
   */
  redisPrefix?: string;
  /** `redis` (pub/sub, `@socket.io/redis-adapter`, default) or `redis-streams` (`@socket.io/redis-streams-adapter`). */
  adapter?: SocketAdapterKind;
  /**
   * Socket.io connection state recovery (only with `redis-streams`, whose stream keeps the missed
   * packets; the pub/sub adapter cannot restore a session). Tokens are checked again on recovery.
   */
  connectionStateRecovery?: boolean | { maxDisconnectionDuration: number };
  /** This process's id in `chat_streams` (default `host:pid:random`): must be unique per process. */
  nodeId?: string;
  /** A stream not heartbeated for this long belongs to a dead node and is closed as `error` (default 30 s). */
  streamLeaseMs?: number;
  /** How often this node tells the others who is connected to it (default 10000 ms): a killed node's users go offline three of these later. */
  nodeHeartbeatMs?: number;
  /** How often a growing answer is written to Postgres (default 1000 ms): what survives a crash. */
  streamFlushIntervalMs?: number;
  streamDelayMs?: number;
  rateLimits?: RateLimitConfig;
  /** The model; default: OpenAI-compatible if `openai` is set, else the ScriptedProvider (not a model). */
  llm?: LlmProvider;
  openai?: { baseURL: string; apiKey?: string; model: string };
  /** Pace of the ScriptedProvider (default 25 tokens/s). */
  scriptedTokensPerSecond?: number;
  /** The agents (default: one `assistant` with a short system prompt). */
  agents?: Record<string, AgentConfig>;
  corsOrigin?: string | string[];
  /** Extra Socket.io server options. */
  socketServer?: Partial<ServerOptions>;
  log?: (line: string) => void;
}

export interface ClusterNode {
  readonly nodeId: string;
  readonly url: string;
  readonly port: number;
  readonly engine: ChatEngine;
  readonly io: Server;
  readonly server: HttpServer;
  readonly binding: ChatBinding;
  /** Graceful: no new connections, running answers stopped with their text kept, queues flushed, Redis closed. */
  close(): Promise<void>;
}

export async function startNode(options: NodeOptions): Promise<ClusterNode> {
  if (!options.jwtSecret || options.jwtSecret.length < 32) throw new Error('JWT_SECRET is required (at least 32 characters, the same on every node)');
  const prefix = options.redisPrefix ?? 'parley';
  const nodeId = options.nodeId ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const log = options.log ?? (() => {});

  // ---- Redis: one command client (limiter + adapter publishing) and, for pub/sub, one subscriber.
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: true });
  await redis.connect();
  const clients: Redis[] = [redis];

  // ---- the engine: Postgres for durable state, Redis for rate limits
  const storage = new PostgresStorage({
    connectionString: options.databaseUrl,
    ...(options.databaseSchema !== undefined && { schema: options.databaseSchema }),
  });
  const engine = new ChatEngine({
    storage,
    llm: options.llm ?? buildLlm(options),
    agents: options.agents ?? { assistant: { systemPrompt: 'You are a helpful assistant taking part in a group chat.' } },
    authorize: 'members',
    nodeId,
    ...(options.rateLimits && { rateLimits: options.rateLimits }),
    // One budget per user across nodes. The engine names each limiter `parley:<action>`; the cluster
    // prefix keeps two clusters (or two test runs) on one Redis apart.
    rateLimitStore: (opts) => new RateLimiterRedis({ storeClient: redis, ...opts, keyPrefix: `${prefix}:rl:${opts.keyPrefix}` }),
    ...(options.streamLeaseMs !== undefined && { streamLeaseMs: options.streamLeaseMs }),
    ...(options.streamFlushIntervalMs !== undefined && { streamFlushIntervalMs: options.streamFlushIntervalMs }),
    ...(options.streamDelayMs !== undefined && { streamDelayMs: options.streamDelayMs }),
  });
  await engine.init(); // migrations (safe from several nodes at once) + closes streams of dead nodes

  // ---- HTTP + Socket.io on the Redis adapter
  const authenticate = jwtAuthenticator({ secret: options.jwtSecret });
  const app = express();
  app.disable('x-powered-by');
  app.use('/api/chat', createChatRouter(engine, { authenticate }));
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', nodeId });
  });
  const server = createServer(app);

  const adapterKind = options.adapter ?? 'redis';
  let adapter: ServerOptions['adapter'];
  if (adapterKind === 'redis-streams') {
    adapter = createRedisStreamsAdapter(redis, {
      streamName: `${prefix}:sio-stream`,
      channelPrefix: `${prefix}:sio`,
      sessionKeyPrefix: `${prefix}:sio-session:`,
    }) as unknown as ServerOptions['adapter'];
  } else {
    const sub = redis.duplicate();
    clients.push(sub);
    adapter = createRedisAdapter(redis, sub, { key: `${prefix}:sio` }) as unknown as ServerOptions['adapter'];
  }
  const recovery = options.connectionStateRecovery;
  if (recovery && adapterKind !== 'redis-streams') throw new Error('connection state recovery needs the redis-streams adapter');
  const io = new Server(server, {
    cors: { origin: options.corsOrigin ?? '*' },
    adapter,
    ...(recovery && {
      connectionStateRecovery: {
        maxDisconnectionDuration: typeof recovery === 'object' ? recovery.maxDisconnectionDuration : 2 * 60_000,
        skipMiddlewares: false, // tokens are checked again on recovery
      },
    }),
    ...options.socketServer,
  });
  const binding = attachChat(io, engine, { authenticate, ...(options.nodeHeartbeatMs !== undefined && { nodeHeartbeatMs: options.nodeHeartbeatMs }) });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;
  log(`node ${nodeId} listening on ${url} (socket.io adapter: ${adapterKind}, prefix ${prefix})`);

  let closing: Promise<void> | null = null;
  const close = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await engine.close(); // running answers stop (status 'stopped', text kept), writes flushed
    await new Promise<void>((resolve) => io.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
  };
  return { nodeId, url, port, engine, io, server, binding, close: () => (closing ??= close()) };
}

function buildLlm(options: NodeOptions): LlmProvider {
  if (options.openai) {
    const { baseURL, apiKey, model } = options.openai;
    return new OpenAICompatibleProvider({ baseURL, model, ...(apiKey !== undefined && { apiKey }) });
  }
  return new ScriptedProvider({ tokensPerSecond: options.scriptedTokensPerSecond ?? 25 });
}

/** The environment the command line reads (see README.md in this folder). */
export function nodeOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): NodeOptions {
  const num = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number (got ${JSON.stringify(raw)})`);
    return n;
  };
  const jwtSecret = env.JWT_SECRET;
  if (!jwtSecret || jwtSecret.length < 32) throw new Error('JWT_SECRET is required (at least 32 characters, the same on every node)');
  const adapter = (env.SOCKET_ADAPTER ?? 'redis') as SocketAdapterKind;
  if (adapter !== 'redis' && adapter !== 'redis-streams') throw new Error('SOCKET_ADAPTER must be "redis" or "redis-streams"');
  const options: NodeOptions = {
    port: num('PORT') ?? 3001,
    jwtSecret,
    databaseUrl: env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/parley',
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    adapter,
  };
  if (env.HOST) options.host = env.HOST;
  if (env.DATABASE_SCHEMA) options.databaseSchema = env.DATABASE_SCHEMA;
  if (env.REDIS_PREFIX) options.redisPrefix = env.REDIS_PREFIX;
  if (env.NODE_ID) options.nodeId = env.NODE_ID;
  if (env.CONNECTION_STATE_RECOVERY === '1' || env.CONNECTION_STATE_RECOVERY === 'true') options.connectionStateRecovery = true;
  const lease = num('STREAM_LEASE_MS');
  if (lease !== undefined) options.streamLeaseMs = lease;
  const heartbeat = num('NODE_HEARTBEAT_MS');
  if (heartbeat !== undefined) options.nodeHeartbeatMs = heartbeat;
  const flush = num('STREAM_FLUSH_MS');
  if (flush !== undefined) options.streamFlushIntervalMs = flush;
  const delay = num('STREAM_DELAY');
  if (delay !== undefined) options.streamDelayMs = delay;
  const tps = num('SCRIPTED_TOKENS_PER_SECOND');
  if (tps !== undefined) options.scriptedTokensPerSecond = tps;
  if (env.CORS_ORIGIN) options.corsOrigin = env.CORS_ORIGIN.split(',');
  if (env.OPENAI_BASE_URL) {
    options.openai = { baseURL: env.OPENAI_BASE_URL, model: env.OPENAI_MODEL ?? 'gpt-4o-mini', ...(env.OPENAI_API_KEY && { apiKey: env.OPENAI_API_KEY }) };
  }
  if (env.RATE_LIMITS_JSON) options.rateLimits = JSON.parse(env.RATE_LIMITS_JSON) as RateLimitConfig;
  return options;
}

/** The line a parent process waits for (tests, start-two.ts): `PARLEY_NODE_READY {"url",…}`. */
export const READY_MARKER = 'PARLEY_NODE_READY';

async function main(): Promise<void> {
  let options: NodeOptions;
  try {
    options = nodeOptionsFromEnv();
  } catch (error) {
    console.error(`parley node: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
  const node = await startNode({ ...options, log: (line) => console.error(`parley ${line}`) });
  if (!options.openai) console.error('parley: DEMO ASSISTANT — the ScriptedProvider is not a language model (set OPENAI_BASE_URL)');
  console.log(`${READY_MARKER} ${JSON.stringify({ url: node.url, port: node.port, nodeId: node.nodeId, pid: process.pid })}`);

  let stoppingSince = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    // Ctrl-C reaches this node twice when a parent (start-two.ts) forwards it too: only a repeat
    // well after the first one means "exit now".
    if (stoppingSince) {
      if (Date.now() - stoppingSince > 2000) process.exit(1);
      return;
    }
    stoppingSince = Date.now();
    console.error(`parley node ${node.nodeId}: ${signal}, shutting down (running answers are stopped and kept)`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    node.close().then(
      () => process.exit(0),
      (error) => {
        console.error('parley: error during shutdown', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  // A parent (test runner, start-two.ts) that dies must not leave this node running.
  if (process.env.PARLEY_EXIT_WITH_PARENT === '1') {
    process.stdin.on('end', () => shutdown('SIGTERM'));
    process.stdin.on('error', () => shutdown('SIGTERM'));
    process.stdin.resume();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error) => {
    console.error('parley node failed to start:', error);
    process.exit(1);
  });
}
