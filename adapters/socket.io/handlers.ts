import type { z } from 'zod';
import { ChatError, isServerFault, toChatError } from '../../src/errors.js';
import { log } from '../../src/logger.js';
import { parseInput } from '../../src/schemas.js';
import type { BindingContext } from './context.js';
import type { ChatSocket, SocketState } from './sockets.js';
import { stateOf } from './sockets.js';
import type { AckDataOf, AckResponse, ClientEventName } from './events.js';
import { verifyToken } from './handshake.js';
import { assertPayloadSize, type PayloadSchemas } from './payloads.js';
import { joinSession, leaveSession } from './sessions.js';

type Handler<E extends ClientEventName> = (
  ctx: BindingContext,
  state: SocketState,
  input: z.output<PayloadSchemas[E]>,
  reply: (response: AckResponse<AckDataOf<E>>) => void,
) => Promise<AckDataOf<E>>;

/**
 * One handler per client event: the payload is already size-checked and parsed; each makes one
 * engine call as the authenticated user (which checks access and spends the rate-limit budget) and
 * returns the ack data. Delivery to others happens through the engine's domain events.
 */
export const handlers: { [E in ClientEventName]: Handler<E> } = {
  'session:join': (ctx, state, input, reply) => joinSession(ctx, state, input, reply),

  'session:leave': async (ctx, state, { sessionId }) => {
    // No engine method spends a budget here, so the binding does.
    await ctx.engine.consumeRateLimit('session:leave', state.userId);
    return leaveSession(ctx, state, sessionId);
  },

  'message:send': async (ctx, state, input) => {
    const message = await ctx.engine.createMessage({ ...input, userId: state.userId });
    // Also for a retry answered with the stored message: the client learns it is safe.
    state.socket.emit('message:delivered', {
      sessionId: message.sessionId,
      clientMessageId: message.clientMessageId,
      messageId: message.id,
      seq: message.seq,
    });
    return message;
  },

  'message:edit': (ctx, state, { messageId, content }) => ctx.engine.editMessage(messageId, content, state.userId),

  'message:delete': async (ctx, state, { messageId }) => {
    const m = await ctx.engine.deleteMessage(messageId, state.userId);
    return { sessionId: m.sessionId, messageId: m.id, seq: m.changeSeq, deletedAt: m.deletedAt ?? m.updatedAt };
  },

  'message:seen': (ctx, state, { sessionId, messageId }) => ctx.engine.markSeen(sessionId, messageId, state.userId),

  'message:reaction': (ctx, state, { messageId, emoji, action }) =>
    ctx.engine.toggleReaction(messageId, state.userId, emoji, action ?? 'toggle'),

  'typing:start': async (ctx, state, { sessionId, userName }) => {
    // The display name comes from the token when it has one; the payload's is only a fallback.
    await ctx.typing.start(sessionId, state.userId, state.socket.id, state.socket.data.name ?? userName);
    return { expiresInMs: ctx.typingTimeoutMs };
  },

  'users:get': async (ctx, _state, { ids }) => ({ users: await ctx.engine.getUsers(ids) }),

  'typing:stop': async (ctx, state, { sessionId }) => {
    await ctx.engine.consumeRateLimit('typing:stop', state.userId);
    // Stop through this node's timer if it has one, else straight through the engine (the start
    // may have come through another node): either way one `typing.updated`.
    if (!(await ctx.typing.stop(sessionId, state.userId))) await ctx.engine.setTyping(sessionId, state.userId, false);
    return null;
  },

  // The answer reaches the whole session through the engine's stream events (see delivery.ts).
  'stream:request': (ctx, state, input) => ctx.engine.requestStream({ ...input, userId: state.userId }),

  'stream:stop': (ctx, state, { streamId }) => ctx.engine.stopStream(streamId, state.userId),

  // The one event an expired socket may send (see dispatch). Changes nothing unless the token is
  // valid and names the same user: a socket never changes identity.
  'auth:refresh': async (ctx, state, { token }) => {
    await ctx.engine.consumeRateLimit('auth:refresh', state.userId);
    const user = await verifyToken(ctx.authenticate, token);
    if (user.userId !== state.userId) throw new ChatError('UNAUTHORIZED', 'The token belongs to another user');
    if (!state.socket.connected) throw new ChatError('UNAVAILABLE', 'The socket disconnected');
    if (user.name !== undefined) state.socket.data.name = user.name;
    ctx.expiry.set(state, user.expiresAt);
    // A new token may carry a new name; keeping it is not worth refusing the refresh.
    await ctx.engine.rememberUser(user).catch((error: unknown) => log(ctx.engine.logger, 'warn', { err: error, userId: user.userId }, '[parley-chat/socket.io] user profile not saved'));
    return { userId: user.userId, expiresAt: Number.isFinite(user.expiresAt) ? new Date(user.expiresAt).toISOString() : null };
  },
};

export const CLIENT_EVENTS = Object.keys(handlers) as ClientEventName[];

/**
 * Runs one client event: size cap, strict parse, handler; answers the ack exactly once (if the
 * client gave one) and never throws — a failure becomes an error ack, an unexpected one is reported.
 */
export function dispatch(ctx: BindingContext, socket: ChatSocket, event: ClientEventName, args: unknown[]): void {
  const last = args[args.length - 1];
  const ack = typeof last === 'function' ? (last as (response: unknown) => void) : undefined;
  const payload = ack !== undefined && args.length === 1 ? undefined : args[0];
  let answered = false;
  const reply = (response: AckResponse<unknown>) => {
    if (answered) return;
    answered = true;
    if (!ack) return;
    try {
      ack(response);
    } catch (error) {
      ctx.report(error, { what: `ack ${event}`, socketId: socket.id });
    }
  };
  const run = async (): Promise<unknown> => {
    const state = stateOf(socket);
    if (!state || ctx.closed) throw new ChatError('UNAVAILABLE', 'Chat is not available on this connection');
    // Checked here, not only by the expiry timer: an event never acts on an expired identity.
    if (event !== 'auth:refresh') {
      const refusal = ctx.expiry.refusal(state);
      if (refusal) throw refusal;
    }
    assertPayloadSize(payload, ctx.maxPayloadBytes);
    const input = parseInput(ctx.schemas[event], payload, 'payload');
    return (handlers[event] as Handler<ClientEventName>)(ctx, state, input as never, reply as never);
  };
  run().then(
    (data) => reply({ ok: true, data }),
    (error: unknown) => {
      const chatError = toChatError(error);
      // The client gets the code and a generic message; the cause (driver, upstream) goes to the log.
      if (isServerFault(chatError)) ctx.report(error, { what: event, socketId: socket.id, userId: socket.data.userId });
      reply({ ok: false, error: chatError.toJSON() });
    },
  );
}
