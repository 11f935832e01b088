import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { SignJWT } from 'jose';
import { ChatEngine, jwtAuthenticator, type ChatEngineOptions } from 'parley-chat';
import { createChatClient, memoryPersistence, type ChatClient, type ChatClientOptions } from 'parley-chat/client';
import { createChatRouter } from 'parley-chat/express';
import { attachChat, type AttachChatOptions } from 'parley-chat/socket.io';
import { SqliteStorage } from 'parley-chat/sqlite';
import { Server } from 'socket.io';
import { NO_RATE_LIMITS } from '../support/engine.js';

const SECRET = 'client-test-secret-long-enough-for-hs256';
const key = new TextEncoder().encode(SECRET);

/** An HS256 token for `userId`, valid for an hour unless told otherwise. */
export function tokenFor(userId: string, expiresInSec = 3600, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: userId, exp: Math.floor(Date.now() / 1000) + expiresInSec, ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(key);
}

export interface ServerOptions {
  engine?: Partial<ChatEngineOptions>;
  attach?: Partial<AttachChatOptions>;
  /** Clock tolerance of the token check (default 5 s, as in production). */
  clockToleranceSec?: number;
}

/**
 * A real server as a host runs it — Express with the REST router at /api/chat, Socket.io with the
 * chat binding on the same HTTP server — over a SQLite file, so it can be stopped and started
 * again on the same port with everything stored kept (a server restart).
 */
export class TestServer {
  engine!: ChatEngine;
  port = 0;
  private http: HttpServer | null = null;
  private io: Server | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'parley-client-'));

  constructor(private readonly options: ServerOptions = {}) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const authenticate = jwtAuthenticator({ secret: SECRET, clockToleranceSec: this.options.clockToleranceSec ?? 5 });
    this.engine = new ChatEngine({ storage: new SqliteStorage({ filename: join(this.dir, 'chat.db') }), rateLimits: NO_RATE_LIMITS, ...this.options.engine });
    await this.engine.init();
    const app = express();
    app.use('/api/chat', createChatRouter(this.engine, { authenticate }));
    this.http = createServer(app);
    this.io = new Server(this.http);
    attachChat(this.io, this.engine, { authenticate, ...this.options.attach });
    await new Promise<void>((resolve, reject) => {
      this.http!.once('error', reject);
      this.http!.listen(this.port, '127.0.0.1', resolve);
    });
    this.port = (this.http.address() as AddressInfo).port;
    return this;
  }

  /** Stops serving (clients see the connection drop); the data stays for `start()`. */
  async stop(): Promise<void> {
    this.io?.disconnectSockets(true);
    await new Promise<void>((resolve) => (this.io ? this.io.close(() => resolve()) : resolve()));
    this.http?.closeAllConnections();
    await this.engine.close().catch(() => {});
    this.io = null;
    this.http = null;
  }

  async dispose(): Promise<void> {
    if (this.http) await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const clients = new Set<ChatClient>();

/** A client for `userId` as a page would make one, with fast reconnects for the test's sake. */
export function clientFor(server: TestServer, userId: string, options: Partial<ChatClientOptions> = {}): ChatClient {
  const client = createChatClient({
    url: server.url,
    token: () => tokenFor(userId),
    persistence: options.persistence ?? memoryPersistence(),
    ackTimeoutMs: 3_000,
    ...options,
    socket: { transports: ['websocket'], reconnectionDelay: 50, reconnectionDelayMax: 250, ...options.socket },
  });
  clients.add(client);
  return client;
}

/** Closes every client made by `clientFor` (call from afterEach). */
export function closeClients(): void {
  for (const client of clients) client.close();
  clients.clear();
}

/** Resolves when `check()` holds (polling), or fails after `timeoutMs` naming `what`. */
export async function until(check: () => boolean, what: string, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
