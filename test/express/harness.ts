import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { SignJWT } from 'jose';
import { ChatEngine, jwtAuthenticator, MemoryStorage, type ChatEngineOptions } from 'parley-chat';
import { createChatRouter, type ChatRouterOptions } from 'parley-chat/express';
import { expect } from 'vitest';
import { NO_RATE_LIMITS } from '../support/engine.js';

export const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
const key = new TextEncoder().encode(SECRET);
export const authenticate = jwtAuthenticator({ secret: SECRET });

/** An HS256 token for `sub`, valid for an hour unless `claims` say otherwise. */
export function tokenFor(sub: string, claims: Record<string, unknown> = {}, signingKey: Uint8Array = key): Promise<string> {
  return new SignJWT({ sub, exp: Math.floor(Date.now() / 1000) + 3600, ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(signingKey);
}

export async function memoryEngine(options: Partial<ChatEngineOptions> = {}): Promise<ChatEngine> {
  const engine = new ChatEngine({ storage: new MemoryStorage(), rateLimits: NO_RATE_LIMITS, ...options });
  await engine.init();
  return engine;
}

/** Listens on a free port; resolves with the server and its origin (`http://127.0.0.1:1234`). */
export async function listen(app: express.Express | ((req: never, res: never) => void)): Promise<{ server: Server; origin: string; close: () => Promise<void> }> {
  const server = (app as express.Express).listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  /** The parsed JSON body (every answer of the router is JSON). */
  body: T;
}

export interface CallOptions {
  token?: string | null;
  headers?: Record<string, string>;
  /** Sent as is (a string) instead of JSON.stringify(body). */
  raw?: string | ReadableStream<Uint8Array>;
}

/** One HTTP request; asserts the answer is JSON (never HTML, never empty) and parses it. */
export async function call(base: string, method: string, path: string, body?: unknown, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let payload: string | ReadableStream<Uint8Array> | undefined = options.raw;
  if (payload === undefined && body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  const response = await fetch(base + path, {
    method,
    headers,
    body: payload,
    ...(payload instanceof ReadableStream && { duplex: 'half' }),
  } as RequestInit);
  const text = await response.text();
  expect(response.headers.get('content-type'), `${method} ${path} answered ${response.status} ${text.slice(0, 200)}`).toMatch(/^application\/json/);
  expect(text).not.toMatch(/<html|at .+\.(ts|js):\d+/i);
  return { status: response.status, headers: response.headers, body: JSON.parse(text) };
}

/** A client bound to one base URL and one user's token. */
export function clientFor(base: string, token: string | null) {
  return {
    get: (path: string, options: CallOptions = {}) => call(base, 'GET', path, undefined, { token, ...options }),
    post: (path: string, body?: unknown, options: CallOptions = {}) => call(base, 'POST', path, body, { token, ...options }),
    put: (path: string, body?: unknown, options: CallOptions = {}) => call(base, 'PUT', path, body, { token, ...options }),
    delete: (path: string, options: CallOptions = {}) => call(base, 'DELETE', path, undefined, { token, ...options }),
  };
}
export type Client = ReturnType<typeof clientFor>;

export interface ChatApp {
  engine: ChatEngine;
  base: string;
  origin: string;
  server: Server;
  /** A client authenticated as `userId`. */
  as(userId: string): Promise<Client>;
  close(): Promise<void>;
}

/** An Express 5 app with the router mounted at `prefix`, listening on a free port. */
export async function startChatApp(
  options: { engine?: ChatEngine; prefix?: string; router?: Partial<ChatRouterOptions> } = {},
): Promise<ChatApp> {
  const engine = options.engine ?? (await memoryEngine());
  const prefix = options.prefix ?? '/api/chat';
  const app = express();
  app.use(prefix, createChatRouter(engine, {
    ...(options.router?.authenticateRequest === undefined && { authenticate }),
    ...options.router,
  } as ChatRouterOptions));
  const { server, origin, close } = await listen(app);
  const base = origin + prefix;
  return {
    engine,
    base,
    origin,
    server,
    as: async (userId) => clientFor(base, await tokenFor(userId)),
    close,
  };
}

/** Error bodies are exactly `{ error: { code, message, details? } }`. */
export function expectError(reply: Reply, status: number, code: string): void {
  expect(reply.status, JSON.stringify(reply.body)).toBe(status);
  expect(Object.keys(reply.body)).toEqual(['error']);
  expect(reply.body.error.code).toBe(code);
  expect(typeof reply.body.error.message).toBe('string');
  expect(Object.keys(reply.body.error).every((k) => ['code', 'message', 'details'].includes(k))).toBe(true);
}
