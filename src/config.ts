import { z } from 'zod';
import { ChatError } from './errors.js';
import { DEFAULT_RATE_LIMITS, type RateLimitConfig } from './rate-limits.js';

/** What `configFromEnv()` returns: spread it into `new ChatEngine({...})` and `attachChat(...)` as is. */
export interface EnvConfig {
  /**
   * The port the host's server listens on: PORT, else WEBSOCKET_PORT, else 3000. PORT wins because it
   * is what hosting platforms (Heroku, Render, Fly.io, Cloud Run…) set and route traffic to: a
   * WEBSOCKET_PORT left in an .env file must not make the app listen where nothing reaches it.
   */
  port: number;
  /** CORS_ORIGIN: allowed origin(s) for the host's Socket.io server and router (default `*`). */
  corsOrigin: string | string[];
  /** WS_THROTTLE_LIMIT per WS_THROTTLE_TTL ms becomes the default budget; the per-event table stays. */
  rateLimits: RateLimitConfig;
  /** STREAM_DELAY: ms between coalesced stream chunks (default 50). */
  streamDelayMs: number;
  /** MAX_CONCURRENT_STREAMS: streams running at once on this node (default 10). */
  maxConcurrentStreams: number;
  /** JWT_SECRET, when set (at least 32 characters; `openssl rand -hex 32` makes one). */
  jwtSecret?: string;
}

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const envSchema = z.object({
  PORT: int(0, 65_535).optional(),
  WEBSOCKET_PORT: int(0, 65_535).optional(),
  CORS_ORIGIN: z.string().trim().min(1).default('*'),
  WS_THROTTLE_TTL: int(1, 86_400_000).default(60_000),
  WS_THROTTLE_LIMIT: int(0, 1_000_000).default(10),
  STREAM_DELAY: int(0, 10_000).default(50),
  MAX_CONCURRENT_STREAMS: int(1, 100_000).default(10),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters (e.g. `openssl rand -hex 32`)').optional(),
});

/**
 * Reads Parley's environment variables (see {@link EnvConfig}), validated. A bad value throws a
 * `ChatError('VALIDATION')` naming the variable, so start-up stops with a clear message.
 *
 * ```ts
 * const config = configFromEnv();
 * const engine = new ChatEngine({ storage, ...config });
 * server.listen(config.port);
 * ```
 */
export function configFromEnv(env: Record<string, string | undefined> = process.env): EnvConfig {
  // Empty strings count as unset, as in most .env loaders.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]);
    throw new ChatError('VALIDATION', `Invalid environment variable ${name}: ${issue.message}`, {
      details: { variable: name, issues: parsed.error.issues.map((i) => ({ variable: String(i.path[0]), message: i.message })) },
    });
  }
  const e = parsed.data;
  const origins = e.CORS_ORIGIN.split(',').map((s) => s.trim()).filter(Boolean);
  return {
    port: e.PORT ?? e.WEBSOCKET_PORT ?? 3000,
    corsOrigin: origins.length === 1 ? origins[0]! : origins,
    rateLimits: { ...DEFAULT_RATE_LIMITS, default: { points: e.WS_THROTTLE_LIMIT, durationMs: e.WS_THROTTLE_TTL } },
    streamDelayMs: e.STREAM_DELAY,
    maxConcurrentStreams: e.MAX_CONCURRENT_STREAMS,
    ...(e.JWT_SECRET !== undefined && { jwtSecret: e.JWT_SECRET }),
  };
}
