/**
 * The reference app, as a function: build it, `listen()`, `close()`. `index.ts` is the entry point
 * `npm start` runs; tests call `createApp` on port 0 with a temporary SQLite directory.
 *
 * Parley is mounted exactly as the README's quick start shows — the lines between "quick start"
 * markers below are the ones to copy into your own app. Everything else here is the demo around it:
 * static files for the browser page, the demo sign-in, CORS and security headers.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type RequestHandler } from 'express';
import { Server } from 'socket.io';
import { ChatEngine, jwtAuthenticator, ScriptedProvider, type LlmProvider, type StorageAdapter } from 'parley-chat';
import { SqliteStorage } from 'parley-chat/sqlite';
import { attachChat } from 'parley-chat/socket.io';
import { createChatRouter } from 'parley-chat/express';
import { OpenAICompatibleProvider } from 'parley-chat/openai';
import { AnthropicProvider } from 'parley-chat/anthropic';
import type { AppConfig } from './config.js';
import { demoSignInRouter, randomSecret } from './demo-auth.js';
import { demoTools } from './demo-tools.js';
import { clientBundle } from './client-bundle.js';

const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), 'public');

/** The page's Markdown libraries, served as ES modules from node_modules (the page has no build step). */
const require = createRequire(import.meta.url);
const VENDOR_FILES: Record<string, string> = {
  'marked.js': require.resolve('marked'), // lib/marked.esm.js
  'purify.js': join(dirname(require.resolve('dompurify')), 'purify.es.mjs'),
};

export const ASSISTANT_PROMPT =
  'You are a helpful assistant taking part in a group chat. Answer concisely and address the person who ' +
  'asked. The chat renders Markdown: use it for lists and code blocks, not for decoration.';

export interface AppOptions extends AppConfig {
  /** Use this provider instead of the one `llm` describes (tests pace a ScriptedProvider). */
  llmProvider?: LlmProvider;
  /** Use this storage instead of the one `storage` describes. */
  storageAdapter?: StorageAdapter;
  /** How long demo tokens live (a jose duration, default '12h'); tests shorten it to see renewals. */
  demoTokenTtl?: string;
}

/** What the browser page needs to know about the server (`GET /app-config.json`). */
export interface PublicAppConfig {
  /** Demo mode: `POST /demo/sign-in` exists. Otherwise the host issues tokens. */
  demo: boolean;
  assistant: { agentId: 'assistant'; provider: string; model: string | null; isModel: boolean };
}

export interface ParleyApp {
  engine: ChatEngine;
  io: Server;
  server: HttpServer;
  /** Demo mode (no JWT_SECRET): the demo sign-in route is mounted. */
  demo: boolean;
  /** Human-readable descriptions for the start-up banner. */
  describe: { storage: string; llm: string };
  /** Starts listening on `options.port` (0 = any free port); resolves with the page's URL. */
  listen(): Promise<string>;
  /**
   * Graceful shutdown: stops accepting connections, stops running answers (keeping their partial
   * text) and flushes storage with `engine.close()`, then disconnects sockets and closes the server.
   */
  close(): Promise<void>;
}

export async function createApp(options: AppOptions): Promise<ParleyApp> {
  const { storage, describeStorage } = await buildStorage(options);
  const { llm, describeLlm, publicAssistant } = buildLlm(options);
  const demo = options.jwtSecret === undefined;
  const secret = options.jwtSecret ?? randomSecret();

  // ---- quick start ----------------------------------------------------------------------------
  const engine = new ChatEngine({
    storage,
    llm,
    agents: { assistant: { systemPrompt: ASSISTANT_PROMPT, tools: demoTools } },
    authorize: 'members',
    rateLimits: options.rateLimits,
    streamDelayMs: options.streamDelayMs,
    maxConcurrentStreams: options.maxConcurrentStreams,
  });
  await engine.init(); // migrations; idempotent

  const authenticate = jwtAuthenticator({ secret }); // HS256, sub = userId
  const app = express();
  app.disable('x-powered-by');
  app.use(securityHeaders);
  app.use(['/api', '/demo'], cors(options.corsOrigin));
  app.use('/api/chat', createChatRouter(engine, { authenticate })); // parses its own JSON bodies
  const server = createServer(app);
  const io = new Server(server, { cors: { origin: options.corsOrigin } });
  attachChat(io, engine, { authenticate }); // namespace '/chat'
  // ---- end of quick start ---------------------------------------------------------------------

  if (demo) app.use('/demo', demoSignInRouter(secret, options.demoTokenTtl));
  const publicConfig: PublicAppConfig = { demo, assistant: publicAssistant };
  app.get('/app-config.json', (_req, res) => {
    res.json(publicConfig);
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', storage: storage.name });
  });
  void clientBundle().catch(() => {}); // started now, so the page's first request does not wait for it
  app.get('/vendor/parley-client.js', (_req, res, next) => {
    clientBundle().then((text) => res.type('text/javascript').send(text), next);
  });
  app.get('/vendor/:file', (req, res, next) => {
    const path = VENDOR_FILES[req.params.file];
    if (path) res.type('text/javascript').sendFile(path);
    else next();
  });
  app.use(express.static(PUBLIC_DIR, { index: 'index.html', maxAge: 0 }));

  let closing: Promise<void> | null = null;
  return {
    engine,
    io,
    server,
    demo,
    describe: { storage: describeStorage, llm: describeLlm },
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          resolve(urlOf(server));
        });
      }),
    close: () => (closing ??= shutdown(engine, io, server)),
  };
}

async function shutdown(engine: ChatEngine, io: Server, server: HttpServer): Promise<void> {
  // 1. No new HTTP connections or sockets from here on.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // 2. Running answers stop with their partial text kept (clients connected now get `stream:stopped`),
  //    queued writes are flushed, storage is closed.
  await engine.close();
  await flushConnections(io, 1000);
  // 3. Disconnect the sockets that are left, and idle keep-alive HTTP connections.
  await new Promise<void>((resolve) => io.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/**
 * `io.close()` drops packets still queued on a connection, which would lose the `stream:stopped`
 * that `engine.close()` just sent. Wait (briefly) until every connection's queue is empty.
 * `clients` and `writeBuffer` are engine.io internals, read defensively: if they change, we just
 * don't wait.
 */
async function flushConnections(io: Server, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  const queued = () => {
    const clients = (io.engine as unknown as { clients?: Record<string, { writeBuffer?: unknown[] }> }).clients ?? {};
    return Object.values(clients).some((client) => (client.writeBuffer?.length ?? 0) > 0);
  };
  while (queued() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function buildStorage(options: AppOptions): Promise<{ storage: StorageAdapter; describeStorage: string }> {
  if (options.storageAdapter) return { storage: options.storageAdapter, describeStorage: options.storageAdapter.name };
  if (options.storage.kind === 'postgres') {
    // Imported only when asked for, so the app runs without `pg` installed.
    const { PostgresStorage } = await import('parley-chat/postgres');
    const url = new URL(options.storage.connectionString);
    return {
      storage: new PostgresStorage({ connectionString: options.storage.connectionString }),
      describeStorage: `PostgreSQL ${url.hostname}:${url.port || 5432}${url.pathname} (DATABASE_URL)`,
    };
  }
  mkdirSync(dirname(options.storage.filename), { recursive: true });
  return { storage: new SqliteStorage({ filename: options.storage.filename }), describeStorage: `SQLite ${options.storage.filename}` };
}

function buildLlm(options: AppOptions): { llm: LlmProvider; describeLlm: string; publicAssistant: PublicAppConfig['assistant'] } {
  const describeProvider = (llm: LlmProvider, isModel: boolean) => ({
    llm,
    describeLlm: isModel ? `${llm.name}${llm.defaultModel ? ` (${llm.defaultModel})` : ''}` : 'ScriptedProvider: canned demo text, NOT a language model',
    publicAssistant: { agentId: 'assistant' as const, provider: llm.name, model: llm.defaultModel ?? null, isModel },
  });
  if (options.llmProvider) return describeProvider(options.llmProvider, options.llmProvider.name !== 'scripted');
  if (options.llm.kind === 'openai') {
    const { baseURL, apiKey, model } = options.llm;
    const llm = new OpenAICompatibleProvider({ baseURL, model, ...(apiKey !== undefined && { apiKey }) });
    return { ...describeProvider(llm, true), describeLlm: `OpenAI-compatible ${baseURL}, model ${model}` };
  }
  if (options.llm.kind === 'anthropic') {
    const { apiKey, model, baseURL } = options.llm;
    const llm = new AnthropicProvider({ apiKey, model, ...(baseURL !== undefined && { baseURL }) });
    return { ...describeProvider(llm, true), describeLlm: `Anthropic Messages API, model ${model}` };
  }
  return describeProvider(new ScriptedProvider({ tokensPerSecond: 25 }), false);
}

/** The page renders server text as text or sanitized Markdown; the CSP is the second line of defence (no inline script at all). */
const securityHeaders: RequestHandler = (_req, res, next) => {
  res.setHeader(
    'Content-Security-Policy',
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
      "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  );
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  next();
};

/** CORS for the REST routes, with the same CORS_ORIGIN as the Socket.io server. */
function cors(origin: string | string[]): RequestHandler {
  const allowed = Array.isArray(origin) ? origin : [origin];
  return (req, res, next) => {
    const from = req.headers.origin;
    if (from !== undefined && (allowed.includes('*') || allowed.includes(from))) {
      res.setHeader('Access-Control-Allow-Origin', allowed.includes('*') ? '*' : from);
      res.setHeader('Vary', 'Origin');
      if (req.method === 'OPTIONS') {
        res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE, OPTIONS');
        res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
        res.setHeader('Access-Control-Max-Age', '600');
        res.status(204).end();
        return;
      }
    }
    next();
  };
}

function urlOf(server: HttpServer): string {
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? (address.address === '::' ? 'localhost' : `[${address.address}]`) : address.address === '0.0.0.0' ? 'localhost' : address.address;
  return `http://${host}:${address.port}`;
}
