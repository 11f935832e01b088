import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { ChatEngine, jwtAuthenticator, MemoryStorage, type ChatEngineOptions, type StorageAdapter } from 'parley-chat';
import { attachChat, type AttachChatOptions, type ChatBinding, type ClientToServerEvents, type ServerToClientEvents } from 'parley-chat/socket.io';
import { Server, type ServerOptions } from 'socket.io';
import { io as connectClient, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from 'socket.io-client';
import { NO_RATE_LIMITS } from '../support/engine.js';
import { Received } from '../support/received.js';

export const SECRET = 'socket-io-test-secret-long-enough-for-hs256';
const key = new TextEncoder().encode(SECRET);

export type ChatClient = ClientSocket<ServerToClientEvents, ClientToServerEvents>;

/** A JWT for `userId` (HS256, sub = userId), valid for an hour unless told otherwise. */
export function tokenFor(userId: string, options: { name?: string; expiresInSec?: number } = {}): Promise<string> {
  const exp = Math.floor(Date.now() / 1000) + (options.expiresInSec ?? 3600);
  return new SignJWT({ sub: userId, exp, ...(options.name !== undefined && { name: options.name }) })
    .setProtectedHeader({ alg: 'HS256' })
    .sign(key);
}

export { Received };

export interface Tab {
  socket: ChatClient;
  received: Received;
  userId: string;
  /** The ack of `event`, awaited. */
  call<E extends keyof ClientToServerEvents>(event: E, payload: unknown): Promise<any>;
  close(): Promise<void>;
}

export interface ChatFixture {
  engine: ChatEngine;
  io: Server;
  binding: ChatBinding;
  url: string;
  reported: unknown[];
  /** A new connection (a tab) for `userId`, resolved after `connection:success`. */
  connect(userId: string, options?: { name?: string; auth?: Record<string, unknown>; client?: Partial<ManagerOptions & SocketOptions> }): Promise<Tab>;
  /** A connection attempt expected to fail: the `connect_error`. */
  refused(auth: Record<string, unknown>): Promise<Error & { data?: any }>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  engine?: ChatEngine;
  storage?: StorageAdapter;
  engineOptions?: Partial<ChatEngineOptions>;
  attach?: Partial<AttachChatOptions>;
  server?: Partial<ServerOptions>;
}

const fixtures = new Set<ChatFixture>();

/** Closes every fixture still open (call from afterEach). */
export async function closeAll(): Promise<void> {
  await Promise.all([...fixtures].map((f) => f.close()));
}

/** A real HTTP server on a free port with a Socket.io server and `attachChat` on it. */
export async function startChat(options: FixtureOptions = {}): Promise<ChatFixture> {
  const engine =
    options.engine ??
    new ChatEngine({ storage: options.storage ?? new MemoryStorage(), rateLimits: NO_RATE_LIMITS, ...options.engineOptions });
  if (!options.engine) await engine.init();
  const http: HttpServer = createServer();
  const io = new Server(http, options.server);
  const reported: unknown[] = [];
  const binding = attachChat(io, engine, {
    authenticate: jwtAuthenticator({ secret: SECRET }),
    onError: (error) => reported.push(error),
    ...options.attach,
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const tabs = new Set<Tab>();

  const open = (auth: Record<string, unknown>, client: Partial<ManagerOptions & SocketOptions> = {}) =>
    connectClient(`${url}/chat`, { auth, forceNew: true, reconnection: false, transports: ['websocket'], ...client }) as ChatClient;

  const fixture: ChatFixture = {
    engine,
    io,
    binding,
    url,
    reported,
    async connect(userId, opts = {}) {
      const token = await tokenFor(userId, opts.name === undefined ? {} : { name: opts.name });
      const socket = open({ token, ...opts.auth }, opts.client);
      const received = new Received(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('connection:success', () => resolve());
        socket.once('connect_error', reject);
      });
      const tab: Tab = {
        socket,
        received,
        userId,
        call: (event, payload) => (socket.timeout(5000) as any).emitWithAck(event, payload),
        close: async () => {
          tabs.delete(tab);
          socket.disconnect();
        },
      };
      tabs.add(tab);
      return tab;
    },
    async refused(auth) {
      const socket = open(auth);
      try {
        return await new Promise((resolve, reject) => {
          socket.once('connect_error', resolve);
          socket.once('connection:success', () => reject(new Error('connected, but a refusal was expected')));
        });
      } finally {
        socket.disconnect();
      }
    },
    async close() {
      fixtures.delete(fixture);
      for (const tab of tabs) tab.socket.disconnect();
      await binding.close();
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await engine.close().catch(() => {});
    },
  };
  fixtures.add(fixture);
  return fixture;
}

/** Resolves when `check()` holds (polling), or fails after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
