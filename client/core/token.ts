/** The `token` option: a string, or a function asked on every connection and before expiry. */
export type TokenSource = string | (() => string | Promise<string>);

/**
 * When a JWT expires (ms since epoch), read without verifying: the client only uses it to renew
 * the token ahead of time. Null for anything that is not a JWT with a numeric `exp`.
 */
export function jwtExpiry(token: string): number | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : null;
  } catch {
    return null;
  }
}

/** Renew at this share of the token's remaining lifetime, as the protocol recommends. */
export const RENEW_AT = 0.8;
/** Never renew more often than this, however short-lived the tokens are. */
export const MIN_RENEW_MS = 1_000;
