import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ChatError } from './errors.js';

/**
 * The engine's rate limiter: one budget per user per action, whichever binding the call
 * came through. Counters live in a pluggable rate-limiter-flexible store — memory by default, Redis
 * (or anything rate-limiter-flexible supports) when several nodes must share one budget.
 */

/** Points allowed per window. */
export interface RateLimitRule {
  points: number;
  durationMs: number;
}

/**
 * Actions with their own budget. Names follow the socket events; REST calls the same engine methods
 * and so spends the same budgets. Any other string may be passed to `consume` and gets `default`.
 */
export type RateLimitAction =
  | 'session:join'
  | 'message:send'
  | 'message:edit'
  | 'message:delete'
  | 'message:reaction'
  | 'message:seen'
  | 'typing:start'
  | 'stream:request'
  | 'stream:stop'
  | 'attachment:add'
  | 'attachment:delete'
  | 'session:create'
  | 'member:add'
  | 'member:remove'
  | 'typing:stop'
  | 'session:leave'
  | 'handshake'
  | 'auth:refresh';

export type RateLimitConfig = Partial<Record<RateLimitAction | (string & {}), RateLimitRule>> & {
  /** Budget of every action without its own entry (WS_THROTTLE_LIMIT per WS_THROTTLE_TTL). */
  default?: RateLimitRule;
};

const MINUTE = 60_000;

/**
 * The chat gateway's classic per-minute budgets (`session:join` 5 per session, `message:send` 30,
 * `message:edit` 20, `typing:start` 100, `stream:request` 10), plus budgets for events whose natural
 * rate is above the default 10/min: `message:seen` (a client marks each new message seen),
 * `typing:stop` (pairs with `typing:start`), `session:leave` (pairs with joins across sessions),
 * `handshake` (reconnects of several tabs) and `auth:refresh` (like a handshake, one per socket per
 * token lifetime: every tab refreshes its own socket, and tabs sharing a token refresh in the same
 * minute).
 */
// Stryker disable ObjectLiteral: evaluated once at load, so the mutation runner never activates a mutant here; test/engine/rate-limit-defaults.test.ts holds every budget
export const DEFAULT_RATE_LIMITS: Required<Pick<RateLimitConfig, 'default'>> & RateLimitConfig = {
  default: { points: 10, durationMs: MINUTE },
  'session:join': { points: 5, durationMs: MINUTE },
  'message:send': { points: 30, durationMs: MINUTE },
  'message:edit': { points: 20, durationMs: MINUTE },
  'typing:start': { points: 100, durationMs: MINUTE },
  'stream:request': { points: 10, durationMs: MINUTE },
  'message:seen': { points: 120, durationMs: MINUTE },
  'typing:stop': { points: 100, durationMs: MINUTE },
  'session:leave': { points: 30, durationMs: MINUTE },
  handshake: { points: 30, durationMs: MINUTE },
  'auth:refresh': { points: 30, durationMs: MINUTE },
};
// Stryker restore ObjectLiteral

/** Options passed to a rate-limiter-flexible constructor (duration in seconds, as it expects). */
export interface RateLimiterStoreOptions {
  keyPrefix: string;
  points: number;
  duration: number;
}

/**
 * Builds one limiter per action. Default: `RateLimiterMemory`. For a cluster:
 * ```ts
 * import { RateLimiterRedis } from 'rate-limiter-flexible';
 * rateLimitStore: (opts) => new RateLimiterRedis({ storeClient: redis, ...opts })
 * ```
 */
export type RateLimitStoreFactory = (options: RateLimiterStoreOptions) => RateLimiterAbstract;

export class RateLimiter {
  private readonly limiters = new Map<string, RateLimiterAbstract>();
  private readonly rules: RateLimitConfig;

  constructor(
    rules: RateLimitConfig = {},
    private readonly store: RateLimitStoreFactory = (options) => new RateLimiterMemory(options),
    /** Prefix of every counter key (`<prefix>:<action>`), to keep apps sharing one Redis apart. */
    private readonly keyPrefix = 'parley',
  ) {
    this.rules = { ...DEFAULT_RATE_LIMITS, ...rules };
  }

  ruleFor(action: string): RateLimitRule {
    return this.rules[action] ?? this.rules.default ?? DEFAULT_RATE_LIMITS.default;
  }

  /**
   * Spends one point of `userId`'s budget for `action` (per `scope` too, e.g. a session for
   * `session:join`). Throws `RATE_LIMITED` with `retryAfterMs` when the budget is spent, and
   * `UNAVAILABLE` when the store cannot be reached.
   */
  async consume(action: string, userId: string, scope?: string): Promise<void> {
    const rule = this.ruleFor(action);
    if (rule.points <= 0) return; // 0 disables the limit for this action
    // Stryker disable next-line ConditionalExpression: an unscoped key only has to differ from the scoped ones, and `alice|undefined` does too
    const key = scope === undefined ? userId : `${userId}|${scope}`;
    try {
      await this.limiterFor(action, rule).consume(key, 1);
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        throw new ChatError('RATE_LIMITED', `Too many ${action} requests; try again later`, {
          retryAfterMs: Math.max(1, Math.ceil(error.msBeforeNext)),
          details: { action, limit: rule.points, windowMs: rule.durationMs },
        });
      }
      throw new ChatError('UNAVAILABLE', 'Rate limit store unavailable', { cause: error });
    }
  }

  private limiterFor(action: string, rule: RateLimitRule): RateLimiterAbstract {
    let limiter = this.limiters.get(action);
    if (!limiter) {
      limiter = this.store({ keyPrefix: `${this.keyPrefix}:${action}`, points: rule.points, duration: rule.durationMs / 1000 });
      this.limiters.set(action, limiter);
    }
    return limiter;
  }
}
