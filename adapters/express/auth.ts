import type { Request } from 'express';
import type { Authenticate, AuthenticatedUser } from '../../src/auth/jwt.js';
import { ChatError, isChatError } from '../../src/errors.js';
import { externalIdSchema } from '../../src/schemas.js';

/** The host's own request authentication (cookie sessions…): the user, or null when there is none. */
export type AuthenticateRequest = (
  req: Request,
) => AuthenticatedUser | null | undefined | Promise<AuthenticatedUser | null | undefined>;

const BEARER = /^Bearer +([^\s]+) *$/i;

/** Who is calling: from the Bearer token through `authenticate`, or from `authenticateRequest(req)`. */
export function requestAuthenticator(
  authenticate: Authenticate | undefined,
  authenticateRequest: AuthenticateRequest | undefined,
): (req: Request) => Promise<AuthenticatedUser> {
  const resolve = async (req: Request): Promise<unknown> => {
    if (authenticateRequest) return authenticateRequest(req);
    const match = BEARER.exec(req.headers.authorization ?? '');
    if (!match) throw new ChatError('UNAUTHORIZED', 'Missing bearer token');
    return authenticate!(match[1]!);
  };
  return async (req) => {
    let user: unknown;
    try {
      user = await resolve(req);
    } catch (error) {
      // A ChatError keeps its code (UNAVAILABLE when the identity provider is down); anything else a
      // host's function throws (a JWT library's error…) means the credentials were not accepted.
      if (isChatError(error)) throw error;
      throw new ChatError('UNAUTHORIZED', 'Invalid credentials', { cause: error });
    }
    const userId = (user as { userId?: unknown } | null | undefined)?.userId;
    if (!externalIdSchema.safeParse(userId).success) throw new ChatError('UNAUTHORIZED', 'Not authenticated');
    const { name, avatarUrl } = user as { name?: unknown; avatarUrl?: unknown };
    return {
      userId: userId as string,
      ...(typeof name === 'string' && { name }),
      ...(typeof avatarUrl === 'string' && { avatarUrl }),
    };
  };
}
