import type { Authenticate, AuthenticatedUser } from '../../src/auth/jwt.js';
import { ChatError, isChatError, toChatError, type ChatErrorBody } from '../../src/errors.js';
import { externalIdSchema } from '../../src/schemas.js';
import type { BindingContext } from './context.js';
import type { ChatSocket } from './sockets.js';

/** The error a refused handshake gives the client: `connect_error` with `err.data.code`. */
export type ConnectError = Error & { data: ChatErrorBody };

export function connectError(error: unknown): ConnectError {
  const body = toChatError(error).toJSON();
  const err = new Error(body.message) as ConnectError;
  err.data = body;
  return err;
}

/** A verified identity as the binding keeps it: the expiry in ms since the epoch (Infinity: never). */
export interface VerifiedUser {
  userId: string;
  name?: string;
  avatarUrl?: string;
  expiresAt: number;
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
export async function verifyHandshake(ctx: BindingContext, authenticate: Authenticate, socket: ChatSocket): Promise<VerifiedUser> {
  if (ctx.closed) throw new ChatError('UNAVAILABLE', 'Chat is shutting down');
  const auth: unknown = socket.handshake.auth;
  const claimed = typeof auth === 'object' && auth !== null ? (auth as { token?: unknown; userId?: unknown }) : {};
  if (typeof claimed.token !== 'string' || claimed.token.length === 0) {
    throw new ChatError('UNAUTHORIZED', 'Missing token: connect with `auth: { token }`');
  }
  const user = await verifyToken(authenticate, claimed.token);
  if (claimed.userId !== undefined && claimed.userId !== user.userId) {
    throw new ChatError('UNAUTHORIZED', 'auth.userId does not match the token');
  }
  // A recovered connection (connection state recovery) keeps its old data: it must be the same user.
  const previous = (socket.data as { userId?: unknown } | undefined)?.userId;
  if (previous !== undefined && previous !== user.userId) throw new ChatError('UNAUTHORIZED', 'The token belongs to another user');
  await ctx.engine.consumeRateLimit('handshake', user.userId);
  return user;
}

/**
 * One token through the host's `authenticate`, as the handshake and `auth:refresh` both need it:
 * a valid user id, a display name of at most 100 characters, and an expiry that has not passed.
 * Anything the verifier throws other than UNAUTHORIZED or UNAVAILABLE (a verifier that cannot
 * reach its key server is not the client's fault) becomes a plain "Invalid token".
 */
export async function verifyToken(authenticate: Authenticate, token: string): Promise<VerifiedUser> {
  let user: AuthenticatedUser;
  try {
    user = await authenticate(token);
  } catch (error) {
    if (isChatError(error) && (error.code === 'UNAUTHORIZED' || error.code === 'UNAVAILABLE')) throw error;
    throw new ChatError('UNAUTHORIZED', 'Invalid token');
  }
  const userId = externalIdSchema.safeParse(user?.userId);
  if (!userId.success) throw new ChatError('UNAUTHORIZED', 'The token does not name a valid user');
  const expiresAt = expiryOf(user.expiresAt);
  if (expiresAt <= Date.now()) throw new ChatError('UNAUTHORIZED', 'Token expired');
  const name = typeof user.name === 'string' && user.name.length > 0 ? user.name.slice(0, 100) : undefined;
  const avatarUrl = typeof user.avatarUrl === 'string' ? user.avatarUrl : undefined;
  return {
    userId: userId.data,
    ...(name !== undefined && { name }),
    ...(avatarUrl !== undefined && { avatarUrl }),
    expiresAt,
  };
}

/** Beyond this a `Date` cannot be written (8.64e15 ms): taken for "never". */
const LAST_DATE_MS = 8.64e15;

/** `expiresAt` as ms since the epoch; a value that is not a time is refused rather than taken for "never". */
function expiryOf(value: unknown): number {
  if (value === undefined || value === null) return Number.POSITIVE_INFINITY;
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || Number.isNaN(ms)) throw new ChatError('UNAUTHORIZED', 'Invalid token expiry');
  return ms > LAST_DATE_MS ? Number.POSITIVE_INFINITY : ms;
}

/** Fills `socket.data` for a verified user (keeping the sessions of a recovered connection). */
export function adopt(socket: ChatSocket, user: VerifiedUser): void {
  const previous = socket.data as Partial<ChatSocket['data']> | undefined;
  socket.data = {
    userId: user.userId,
    ...(user.name !== undefined && { name: user.name }),
    connectedAt: Date.now(),
    joined: Array.isArray(previous?.joined) ? previous.joined : [],
  };
}
