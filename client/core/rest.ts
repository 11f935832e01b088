import { ChatError, type ChatErrorCode } from '../../src/errors.js';

/** A REST call under the client's base URL, with the Bearer token; failures are ChatErrors. */
export async function restGet<T>(base: string, path: string, token: string): Promise<T> {
  let response: Response;
  try {
    response = await fetch(base + path, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  } catch {
    throw new ChatError('UNAVAILABLE', 'The chat server cannot be reached');
  }
  if (response.ok) return (await response.json()) as T;
  const body = (await response.json().catch(() => null)) as { error?: { code?: ChatErrorCode; message?: string; retryAfterMs?: number } } | null;
  const code = body?.error?.code ?? (response.status === 401 ? 'UNAUTHORIZED' : response.status >= 500 ? 'UNAVAILABLE' : 'INTERNAL');
  throw new ChatError(code, body?.error?.message ?? `HTTP ${response.status}`, body?.error?.retryAfterMs === undefined ? {} : { retryAfterMs: body.error.retryAfterMs });
}
