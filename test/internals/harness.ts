import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import express from 'express';
import { ChatEngine, type Authenticate, type ChatEngineOptions, type Logger } from 'parley-chat';
import { createChatRouter } from 'parley-chat/express';
import { attachChat, type ChatBinding } from 'parley-chat/socket.io';
import { Server, type ServerOptions } from 'socket.io';
import { io as connectClient, type Socket } from 'socket.io-client';
import { authenticate as hs256, clientFor, tokenFor } from '../express/harness.js';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { Received } from '../support/received.js';

export { tokenFor };

/** A logger that keeps every call, and renders them (errors with their causes and fields) for searching. */
export function capturingLogger() {
  const calls: { level: string; obj: object; msg: string | undefined }[] = [];
  const logger: Logger & { calls: typeof calls; text(): string } = {
    calls,
    error: (obj, msg) => void calls.push({ level: 'error', obj, msg }),
    warn: (obj, msg) => void calls.push({ level: 'warn', obj, msg }),
    info: (obj, msg) => void calls.push({ level: 'info', obj, msg }),
    text: () => inspect(calls, { depth: 12, breakLength: Infinity }),
  };
  return logger;
}

export interface FullApp {
  engine: ChatEngine;
  binding: ChatBinding;
  io: Server;
  origin: string;
  /** REST as `userId`. */
  rest(userId: string): Promise<ReturnType<typeof clientFor>>;
  /** A connected socket for `userId`, with everything it receives. */
  socket(userId: string): Promise<{ socket: Socket; received: Received; call(event: string, payload: unknown): Promise<any> }>;
  close(): Promise<void>;
}

/**
 * The quick start's wiring on a free port: one HTTP server, the REST router under /api/chat and
 * the Socket.io binding on /chat, both with their default loggers (the engine's).
 */
export async function startFullApp(options: {
  engine?: ChatEngine;
  engineOptions?: Partial<ChatEngineOptions>;
  authenticate?: Authenticate;
  server?: Partial<ServerOptions>;
  initEngine?: boolean;
}): Promise<FullApp> {
  const engine = options.engine ?? new ChatEngine({ storage: options.engineOptions!.storage!, rateLimits: NO_RATE_LIMITS, ...options.engineOptions });
  if (options.initEngine !== false && !options.engine) await engine.init();
  const authenticate = options.authenticate ?? hs256;
  const app = express();
  app.use('/api/chat', createChatRouter(engine, { authenticate }));
  const http: HttpServer = createServer(app);
  const io = new Server(http, options.server);
  const binding = attachChat(io, engine, { authenticate });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const sockets: Socket[] = [];
  return {
    engine,
    binding,
    io,
    origin,
    rest: async (userId) => clientFor(`${origin}/api/chat`, await tokenFor(userId)),
    async socket(userId) {
      const socket = connectClient(`${origin}/chat`, { auth: { token: await tokenFor(userId) }, forceNew: true, reconnection: false, transports: ['websocket'] });
      sockets.push(socket);
      const received = new Received(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('connection:success', () => resolve());
        socket.once('connect_error', reject);
      });
      return { socket, received, call: (event, payload) => socket.timeout(10_000).emitWithAck(event, payload) };
    },
    async close() {
      for (const socket of sockets) socket.disconnect();
      await binding.close();
      io.disconnectSockets(true);
      http.closeAllConnections();
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await engine.close().catch(() => {});
    },
  };
}

/** A local port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
