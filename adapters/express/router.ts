import express from 'express';
import type { Request, RequestHandler, Response, Router } from 'express';
import type { Authenticate, AuthenticatedUser } from '../../src/auth/jwt.js';
import type { ChatEngine } from '../../src/engine.js';
import { ChatError, isChatError } from '../../src/errors.js';
import { parseInput } from '../../src/schemas.js';
import { log } from '../../src/logger.js';
import { requestAuthenticator, type AuthenticateRequest } from './auth.js';
import { bodyOf, jsonBody } from './body.js';
import { chatErrorHandler, errorBody, sendError, type RouterLogger } from './errors.js';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi.js';
import { coerceQuery } from './query.js';
import { buildRoutes, type ChatRoute } from './routes.js';

/** What the router needs from the host's `express` module (Express 4 and 5 both have it). */
export interface ExpressModule {
  Router(): Router;
  json(options: { limit: number; strict: boolean; type: string[] }): RequestHandler;
}

export interface ChatRouterOptions {
  /** Verifies `Authorization: Bearer <token>` (the same function the Socket.io binding takes). */
  authenticate?: Authenticate;
  /** Or: the host's own request authentication (cookie sessions…); return null when nobody is logged in. */
  authenticateRequest?: AuthenticateRequest;
  /** Largest JSON body accepted, in bytes (default 64 KiB); larger is a 413. */
  maxBodyBytes?: number;
  /**
   * The host's `express` module, when the router must come from it (e.g. an app on Express 4
   * while this package resolves Express 5). Default: the `express` this package resolves.
   */
  express?: ExpressModule;
  /** Where failures that are the server's (5xx) are logged, with their cause; default: the engine's `logger`. */
  logger?: RouterLogger;
  /** `info` of the OpenAPI document. */
  openapi?: { title?: string; version?: string };
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

/** Checks at creation that every route's params schema names exactly its path's parameters. */
function assertParamsMatchPath(route: ChatRoute): void {
  const inPath = [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]).sort();
  const inSchema = Object.keys(route.params.shape).sort();
  if (inPath.join() !== inSchema.join()) {
    throw new Error(`parley-chat/express: route ${route.operationId} has params [${inSchema.join()}] for path ${route.path}`);
  }
}

/** Every path of the table with the methods it takes, as `Allow` lists them (GET brings HEAD). */
function methodsByPath(routes: readonly ChatRoute[]): Map<string, string[]> {
  const byPath = new Map<string, Set<string>>([['/openapi.json', new Set(['GET'])]]);
  for (const route of routes) {
    const methods = byPath.get(route.path) ?? new Set<string>();
    methods.add(route.method.toUpperCase());
    byPath.set(route.path, methods);
  }
  const order = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
  return new Map(
    [...byPath].map(([path, methods]) => {
      if (methods.has('GET')) methods.add('HEAD'); // Express answers HEAD with the GET route
      return [path, [...methods].sort((a, b) => order.indexOf(a) - order.indexOf(b))];
    }),
  );
}

/**
 * 405 for a method a known path does not take, with `Allow` (RFC 9110). The code is VALIDATION, as
 * for 413 and 415: the resource exists and the request's form is wrong, whereas NOT_FOUND would
 * tell a client the resource is not there.
 */
function methodNotAllowed(allowed: readonly string[]): RequestHandler {
  const allow = allowed.join(', ');
  return (req, res) => {
    res.setHeader('Allow', allow);
    res.status(405).json(errorBody(new ChatError('VALIDATION', `${req.method} is not allowed here; this path takes ${allow}`, { details: { allow: allowed } })));
  };
}

/**
 * The REST binding: an Express `Router` for Express 4 or 5, to mount wherever the host
 * likes. Each route authenticates the caller, parses its params, query and JSON body with the
 * engine's zod schemas, calls one engine method as that user, and answers the resource itself
 * (201 for creations) or `{ error: { code, message, details? } }`. Writes spend the same rate-limit
 * budgets as the Socket.io binding and reach sockets through the engine's events. `GET /openapi.json`
 * serves the OpenAPI 3.1 document generated from the same route table.
 *
 * ```ts
 * import express from 'express';
 * import { ChatEngine, MemoryStorage, jwtAuthenticator } from 'parley-chat';
 * import { createChatRouter } from 'parley-chat/express';
 *
 * const engine = new ChatEngine({ storage: new MemoryStorage() });
 * await engine.init();
 * const app = express();
 * app.use('/api/chat', createChatRouter(engine, { authenticate: jwtAuthenticator({ secret: process.env.JWT_SECRET! }) }));
 * // or with cookie sessions: createChatRouter(engine, { authenticateRequest: (req) => req.session.user ?? null })
 * app.listen(3000);
 * ```
 *
 * Mount it under its own prefix: it answers every unknown path below it with a JSON 404, and a
 * method a known path does not take with a JSON 405 and `Allow`. It reads
 * its own JSON bodies; if the host runs `express.json()` before it, add {@link chatErrorHandler}
 * after it so that the host parser's failures are JSON errors too.
 */
export function createChatRouter(engine: ChatEngine, options: ChatRouterOptions): Router {
  if (!engine || typeof engine.createMessage !== 'function') {
    throw new ChatError('VALIDATION', 'createChatRouter needs a ChatEngine');
  }
  const { authenticate, authenticateRequest } = options ?? {};
  if ((authenticate === undefined) === (authenticateRequest === undefined)) {
    throw new ChatError('VALIDATION', 'createChatRouter needs exactly one of `authenticate` or `authenticateRequest`');
  }
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes <= 0) {
    throw new ChatError('VALIDATION', 'createChatRouter: `maxBodyBytes` must be a positive integer');
  }
  const host = options.express ?? (express as unknown as ExpressModule);
  const logger = options.logger ?? engine.logger;
  const identify = requestAuthenticator(authenticate, authenticateRequest);
  const routes = buildRoutes(engine.schemas);
  routes.forEach(assertParamsMatchPath);
  const document = buildOpenApiDocument(routes, engine.schemas, { ...options.openapi, bearer: authenticate !== undefined });

  const users = new WeakMap<Request, AuthenticatedUser>();
  const fail = (req: Request, res: Response, error: unknown) => sendError(req, res, error, logger);

  // Authentication runs before the body is read: an anonymous client cannot make us parse 64 KiB.
  const authenticated: RequestHandler = (req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    identify(req)
      .then(
        async (user) => {
          users.set(req, user);
          // Writes only when the name or avatar changed; a profile that cannot be kept (a name the
          // engine refuses, storage trouble) must not cost the caller the request.
          await engine.rememberUser(user).catch((error: unknown) => log(logger, 'warn', { err: error, userId: user.userId }, '[parley-chat/express] user profile not saved'));
          next();
        },
        (error: unknown) => {
          if (authenticate && isChatError(error) && error.code === 'UNAUTHORIZED') res.setHeader('WWW-Authenticate', 'Bearer');
          fail(req, res, error);
        },
      )
      .catch((error: unknown) => fail(req, res, error));
  };
  const parseBody = jsonBody(host.json.bind(host), maxBodyBytes);

  // Express 4 does not catch a rejected promise: every handler settles its own.
  const handlerOf = (route: ChatRoute): RequestHandler => (req, res) => {
    const run = async () => {
      const user = users.get(req);
      if (!user) throw new ChatError('UNAUTHORIZED', 'Not authenticated');
      const params = parseInput(route.params, { ...req.params }, 'params');
      const query = parseInput(route.query, coerceQuery(route.query, req.query), 'query');
      const body = route.body ? parseInput(route.body, bodyOf(req), 'body') : undefined;
      const result = await route.handle({ engine, user, params, query, body });
      res.status(route.status).json(result);
    };
    run().catch((error: unknown) => fail(req, res, error));
  };

  const router = host.Router();
  router.get('/openapi.json', (req, res) => {
    res.json({ ...document, servers: [{ url: req.baseUrl || '/' }] } satisfies OpenApiDocument);
  });
  for (const route of routes) {
    const chain = route.body ? [authenticated, parseBody, handlerOf(route)] : [authenticated, handlerOf(route)];
    router[route.method](route.path, ...chain);
  }
  // After the routes: only the methods none of them takes get here.
  for (const [path, allowed] of methodsByPath(routes)) router.all(path, methodNotAllowed(allowed));
  router.use((req: Request, res: Response) => fail(req, res, new ChatError('NOT_FOUND', `No route ${req.method} ${req.path}`)));
  // Errors of the router's own body parser end here.
  router.use(chatErrorHandler({ logger }));
  return router;
}
