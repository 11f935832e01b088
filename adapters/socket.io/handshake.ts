import type { Authenticate, AuthenticatedUser } from '../../src/auth/jwt.js';
import { ChatError, isChatError, toChatError, type ChatErrorBody } from '../../src/errors.js';
import { externalIdSchema } from '../../src/schemas.js';
import type { BindingContext, ChatSocket } from './context.js';

/** The error a refused handshake gives the client: `connect_error` with `err.data.code`. */
export type ConnectError = Error & { data: ChatErrorBody };

export function connectError(error: unknown): ConnectError {
  const body = toChatError(error).toJSON();
  const err = new Error(body.message) as ConnectError;
  err.data = body;
  return err;
}

/**
 * Verifies a socket's handshake: `auth.token` through `authenticate`, an `auth.userId` that
 * disagrees with the token refused, then one point of the user's `handshake` budget.
 *
 * Throttling is keyed by the verified user id, after verification: only someone holding a user's
 * token can spend that user's budget (an attacker cannot lock a victim out), and no IP key is
 * wrong behind NAT or a proxy. Floods of bad tokens are cheap to refuse (a failed HMAC check) and
 * are best stopped in front of Node (proxy, `allowRequest`).
 *
 * The token is never logged nor echoed: errors carry only jose's reason code.
 */
export async function verifyHandshake(ctx: BindingContext, authenticate: Authenticate, socket: ChatSocket): Promise<AuthenticatedUser> {
  if (ctx.closed) throw new ChatError('UNAVAILABLE', 'Chat is shutting down');
  const auth: unknown = socket.handshake.auth;
  const claimed = typeof auth === 'object' && auth !== null ? (auth as { token?: unknown; userId?: unknown }) : {};
  if (typeof claimed.token !== 'string' || claimed.token.length === 0) {
    throw new ChatError('UNAUTHORIZED', 'Missing token: connect with `auth: { token }`');
  }
  let user: AuthenticatedUser;
  try {
    user = await authenticate(claimed.token);
  } catch (error) {
    // A verifier that cannot reach its key server is not the client's fault.
    if (isChatError(error) && (error.code === 'UNAUTHORIZED' || error.code === 'UNAVAILABLE')) throw error;
    throw new ChatError('UNAUTHORIZED', 'Invalid token');
  }
  const userId = externalIdSchema.safeParse(user?.userId);
  if (!userId.success) throw new ChatError('UNAUTHORIZED', 'The token does not name a valid user');
  if (claimed.userId !== undefined && claimed.userId !== userId.data) {
    throw new ChatError('UNAUTHORIZED', 'auth.userId does not match the token');
  }
  // A recovered connection (connection state recovery) keeps its old data: it must be the same user.
  const previous = (socket.data as { userId?: unknown } | undefined)?.userId;
  if (previous !== undefined && previous !== userId.data) throw new ChatError('UNAUTHORIZED', 'The token belongs to another user');
  await ctx.engine.consumeRateLimit('handshake', userId.data);
  const name = typeof user.name === 'string' && user.name.length > 0 ? user.name.slice(0, 100) : undefined;
  return name === undefined ? { userId: userId.data } : { userId: userId.data, name };
}

/** Fills `socket.data` for a verified user (keeping the sessions of a recovered connection). */
export function adopt(socket: ChatSocket, user: AuthenticatedUser): void {
  const previous = socket.data as Partial<ChatSocket['data']> | undefined;
  socket.data = {
    userId: user.userId,
    ...(user.name !== undefined && { name: user.name }),
    connectedAt: Date.now(),
    joined: Array.isArray(previous?.joined) ? previous.joined : [],
  };
}
