import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { ChatError, UNAVAILABLE_RETRY_AFTER_MS } from '../errors.js';
import { externalIdSchema, fileUrlSchema } from '../schemas.js';

/** Who a verified token says the caller is. Identity comes only from here, never from a payload. */
export interface AuthenticatedUser {
  userId: string;
  /** Display name (at most 100 characters); stored as the user's profile so nobody sees a bare id. */
  name?: string;
  /** An absolute http(s) URL of the user's picture; stored with the name. */
  avatarUrl?: string;
  /**
   * When this identity stops being valid: a `Date` or ms since the epoch (`Date.getTime()`, not a
   * JWT's seconds). A live socket is refused every event from then on, so a token cannot outlive
   * its expiry by staying connected. Omit it for an identity that does not expire.
   */
  expiresAt?: Date | number;
}

/** Verifies a bearer token; rejects with `ChatError('UNAUTHORIZED')`. Both bindings take one. */
export type Authenticate = (token: string) => Promise<AuthenticatedUser>;

export interface JwtAuthenticatorOptions {
  /** Shared secret for HMAC tokens (HS256 by default). */
  secret?: string | Uint8Array;
  /** A JWKS endpoint for asymmetric tokens (RS256 by default), e.g. your identity provider's. */
  jwksUrl?: string | URL;
  /** Accepted algorithms; pinned so a token cannot choose its own (default HS256 with `secret`, RS256 with `jwksUrl`). */
  algorithms?: string[];
  issuer?: string | string[];
  audience?: string | string[];
  /**
   * Seconds of clock skew tolerated on `exp`/`nbf` (default 5). The returned `expiresAt` includes
   * it, so a live socket expires at the same instant a new handshake with the token is refused.
   */
  clockToleranceSec?: number;
  /** Claim holding the display name (default `name`, the OpenID Connect standard claim). */
  nameClaim?: string;
  /** Claim holding the avatar URL (default `picture`, the OpenID Connect standard claim); ignored unless an http(s) URL. */
  avatarClaim?: string;
}

/**
 * A JWT `authenticate` function built on jose: algorithm pinned, `exp` required, `sub` is the
 * user id, optional issuer and audience checks.
 *
 * ```ts
 * const authenticate = jwtAuthenticator({ secret: process.env.JWT_SECRET! });
 * const { userId } = await authenticate(token);
 * // or, with an identity provider:
 * jwtAuthenticator({ jwksUrl: 'https://id.example.com/.well-known/jwks.json', issuer: 'https://id.example.com/', audience: 'chat' })
 * ```
 */
export function jwtAuthenticator(options: JwtAuthenticatorOptions): Authenticate {
  const { secret, jwksUrl } = options;
  if ((secret === undefined) === (jwksUrl === undefined) || secret === '') {
    // Most often `secret: process.env.JWT_SECRET!` with the variable unset or empty: name it.
    const missing = secret === '' ? 'empty' : secret === undefined && 'secret' in options ? 'undefined' : null;
    throw new ChatError(
      'VALIDATION',
      missing
        ? `jwtAuthenticator: \`secret\` is ${missing} — is JWT_SECRET set? (at least 32 characters; \`openssl rand -hex 32\` makes one)`
        : 'jwtAuthenticator needs exactly one of `secret` or `jwksUrl`',
    );
  }
  let key: Uint8Array | JWTVerifyGetKey;
  if (secret !== undefined) {
    key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
    if (key.length < 32) {
      throw new ChatError('VALIDATION', 'jwtAuthenticator: the secret must be at least 32 bytes (256 bits) for HS256');
    }
  } else {
    key = createRemoteJWKSet(new URL(jwksUrl!));
  }
  const algorithms = options.algorithms ?? (secret !== undefined ? ['HS256'] : ['RS256']);
  const nameClaim = options.nameClaim ?? 'name';
  const avatarClaim = options.avatarClaim ?? 'picture';
  const clockToleranceSec = options.clockToleranceSec ?? 5;

  return async (token: string) => {
    if (typeof token !== 'string' || token.length === 0 || token.length > 8192) {
      throw new ChatError('UNAUTHORIZED', 'Missing or malformed token');
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(token, key as Uint8Array, {
        algorithms,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: clockToleranceSec,
        // Stryker disable next-line ConditionalExpression: jose skips the issuer check when given issuer: undefined
        ...(options.issuer !== undefined && { issuer: options.issuer }),
        // Stryker disable next-line ConditionalExpression: jose skips the audience check when given audience: undefined
        ...(options.audience !== undefined && { audience: options.audience }),
      }));
    } catch (error) {
      // The key set could not be fetched (unreachable, timed out, not a key set): the token may be
      // fine, so this is not the client's fault. No URL or network detail in the message.
      if (jwksUrl !== undefined && isKeySetFailure(error)) {
        throw new ChatError('UNAVAILABLE', 'Sign-in cannot be checked right now; try again shortly', { cause: error, retryAfterMs: UNAVAILABLE_RETRY_AFTER_MS });
      }
      // jose's codes (ERR_JWT_EXPIRED, …) are safe to show; the token itself never is.
      const reason = (error as { code?: string }).code ?? 'ERR_JWT_INVALID';
      throw new ChatError('UNAUTHORIZED', reason === 'ERR_JWT_EXPIRED' ? 'Token expired' : 'Invalid token', {
        details: { reason },
        cause: error,
      });
    }
    const userId = externalIdSchema.safeParse(payload.sub);
    if (!userId.success) throw new ChatError('UNAUTHORIZED', 'Token subject is not a valid user id');
    const name = payload[nameClaim];
    const avatar = fileUrlSchema.safeParse(payload[avatarClaim]);
    // `exp` is required above, so it is a number here; jose accepts the token until exp + tolerance.
    const expiresAt = ((payload.exp as number) + clockToleranceSec) * 1000;
    return {
      userId: userId.data,
      ...(typeof name === 'string' && name.length > 0 && { name: name.slice(0, 100) }),
      ...(avatar.success && { avatarUrl: avatar.data }),
      expiresAt,
    };
  };
}

/** jose's codes for a key set that could not be had; a fetch that failed outright has no code. */
const KEY_SET_FAILURES = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JOSE_GENERIC', 'ERR_JWKS_INVALID']);

function isKeySetFailure(error: unknown): boolean {
  // Stryker disable next-line OptionalChaining: jose and fetch reject with error objects, never null
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code !== 'string' || !code.startsWith('ERR_') || KEY_SET_FAILURES.has(code);
}
