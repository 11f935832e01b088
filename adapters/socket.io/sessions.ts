import type { JoinResult } from '../../src/engine.js';
import { ChatError, isChatError } from '../../src/errors.js';
import type { PresenceEntry, NamedMember } from '../../src/model.js';
import type { BindingContext } from './context.js';
import type { SocketState } from './sockets.js';
import { background } from './context.js';
import { markJoined, sessionRoom, unmarkJoined } from './sockets.js';
import type { AckResponse, SessionJoinAck } from './events.js';
import { SessionCursor } from './outbound-gate.js';

/**
 * Disconnects after which everything written is taken as received: the client chose to leave, so
 * what was in flight is its own business. After any other (network loss, ping timeout, server
 * shutdown) only what a pong confirmed counts, so the stored cursor never skips a message.
 */
const CLEAN_DISCONNECTS = new Set(['client namespace disconnect', 'server namespace disconnect']);

/**
 * `session:join` (docs/protocol.md, "Joining a session"), exact with any adapter:
 * 1. hold every write to this connection (`ConnectionGate`), then join the room: from now on every
 *    live event for the session — local or from another node — reaches the socket, held;
 * 2. `engine.joinSession` (authorization, rate limit, and the replay read, which starts after the
 *    room join, so nothing committed after it can be missed);
 * 3. write the replay in seq order, `session:synced` and the ack, ahead of the held packets;
 * 4. release: held events at or below the replayed seq are dropped (the replay already has their
 *    current state), the rest go out in order. The floor stays, so a live event committed before the
 *    replay read but broadcast after the release is dropped too.
 * A failed join leaves the room and drops whatever was held for the session.
 */
export function joinSession(
  ctx: BindingContext,
  state: SocketState,
  input: { sessionId: string; lastSeq?: number | undefined },
  reply: (response: AckResponse<SessionJoinAck>) => void,
): Promise<SessionJoinAck> {
  return state.serial(async () => {
    const { socket } = state;
    const { sessionId } = input;
    if (!socket.connected) throw new ChatError('UNAVAILABLE', 'The socket disconnected');
    // Taken out of the room meanwhile (removed from the session, maybe re-added since): start afresh.
    if (state.sessions.has(sessionId) && !socket.rooms.has(sessionRoom(sessionId))) await forget(state, sessionId);
    const isNew = !state.sessions.has(sessionId);
    const data = await replayInto(ctx, state, input, reply);
    // After the release, so the joining socket gets it after its replay, like any later news.
    if (isNew && socket.connected && state.sessions.has(sessionId) && (await ctx.presence.isFirstInSession(socket, sessionId))) {
      ctx.nsp.to(sessionRoom(sessionId)).emit('user:joined', {
        sessionId,
        userId: state.userId,
        // Stryker disable next-line ConditionalExpression: a name that is undefined is left out of the JSON packet anyway
        ...(socket.data.name !== undefined && { name: socket.data.name }),
      });
    }
    return data;
  });
}

/** Steps 1–4 of {@link joinSession}. */
async function replayInto(
  ctx: BindingContext,
  state: SocketState,
  input: { sessionId: string; lastSeq?: number | undefined },
  reply: (response: AckResponse<SessionJoinAck>) => void,
): Promise<SessionJoinAck> {
  const { socket, gate } = state;
  const { sessionId } = input;
  const previous = state.sessions.get(sessionId);
  const cursor = previous ?? new SessionCursor(Date.now());
  gate.hold();
  try {
    // Stryker disable next-line ConditionalExpression: for a session already joined this sets the same cursor, and marking and joining again change nothing
    if (!previous) {
      state.sessions.set(sessionId, cursor);
      markJoined(socket.data, sessionId, cursor.joinedAt);
      await socket.join(sessionRoom(sessionId));
    }
    let result: JoinResult;
    try {
      // Stryker disable next-line ConditionalExpression: the engine takes lastSeq: undefined as no lastSeq
      result = await ctx.engine.joinSession(sessionId, state.userId, input.lastSeq === undefined ? {} : { lastSeq: input.lastSeq });
    } catch (error) {
      if (!previous) await forget(state, sessionId);
      throw error;
    }
    // Read after the room join, like the replay: a chunk emitted meanwhile is held and also in the
    // snapshot, and its index tells the client to skip it.
    const snapshots = await ctx.engine.getStreamSnapshots(sessionId, state.userId).catch((error: unknown) => {
      background(ctx, 'stream snapshots', Promise.reject(error));
      return [];
    });
    const data: SessionJoinAck = { session: result.session, members: result.members, presence: await presenceOf(ctx, result.members) };
    if (!socket.connected) {
      state.sessions.delete(sessionId);
      return data;
    }
    const from = input.lastSeq ?? result.member?.lastDeliveredSeq ?? 0;
    cursor.floor = previous ? Math.max(previous.floor, result.seq) : result.seq;
    cursor.sent = Math.max(cursor.sent, result.seq);
    cursor.confirmed = Math.max(cursor.confirmed, Math.min(from, result.seq));
    gate.bypass(() => {
      for (const { type, message } of result.replay) {
        if (type === 'created') socket.emit('message:new', message);
        else if (type === 'changed') socket.emit('message:edited', message);
        else {
          socket.emit('message:deleted', {
            sessionId,
            messageId: message.id,
            seq: message.changeSeq,
            deletedAt: message.deletedAt ?? message.updatedAt,
          });
        }
      }
      for (const snapshot of snapshots) socket.emit('stream:snapshot', snapshot);
      socket.emit('session:synced', { sessionId, seq: result.seq, gap: result.gap });
      reply({ ok: true, data });
    });
    return data;
  } finally {
    gate.release();
  }
}

/** `session:leave`: only this socket stops receiving the session. */
export function leaveSession(ctx: BindingContext, state: SocketState, sessionId: string): Promise<null> {
  return state.serial(async () => {
    const cursor = state.sessions.get(sessionId);
    // Stryker disable next-line ConditionalExpression: a socket that did not join is in no session room, so the path below forgets and announces nothing
    if (!cursor) return null; // not joined: leaving is idempotent
    const kicked = !state.socket.rooms.has(sessionRoom(sessionId)); // removed from the session: already announced
    await forget(state, sessionId);
    if (kicked) return null;
    ctx.typing.socketGone(state.socket.id, sessionId);
    // The socket is connected, so whatever was written reaches it: `sent` is safe to store.
    await farewell(ctx, state.userId, sessionId, cursor.sent);
    return null;
  });
}

/**
 * After a disconnect (the socket already left every room): store each session's delivery cursor,
 * `user:left` where it was the user's last socket, `presence:update` offline if it was their last
 * connection. `rooms` are the socket's rooms just before it left them.
 */
export function socketDisconnected(ctx: BindingContext, state: SocketState, reason: string, rooms: ReadonlySet<string>): Promise<void> {
  ctx.typing.socketGone(state.socket.id);
  state.gate.leave(state.sessions);
  return state.serial(async () => {
    const clean = CLEAN_DISCONNECTS.has(reason);
    // A session whose room is gone was taken away (member removed): nothing to say there.
    const joined = [...state.sessions].filter(([id]) => rooms.has(sessionRoom(id)));
    state.sessions.clear();
    const outcomes = await Promise.allSettled(
      joined.map(([sessionId, cursor]) => farewell(ctx, state.userId, sessionId, clean ? cursor.sent : cursor.confirmed)),
    );
    for (const o of outcomes) if (o.status === 'rejected') background(ctx, 'disconnect', Promise.reject(o.reason), { userId: state.userId });
    if (await ctx.presence.isOffline(state.userId)) {
      await ctx.presence.announce(state.userId, 'offline', joined.map(([id]) => id));
    }
  });
}

/** A socket stopped receiving a session: save the delivery cursor; `user:left` if no socket of the user remains there. */
async function farewell(ctx: BindingContext, userId: string, sessionId: string, deliveredSeq: number): Promise<void> {
  // Every socket saves its cursor, not only the user's last: the cursor never moves back, so the
  // result is the same, and two nodes each losing "the other last socket" cannot skip the save.
  const saved = ctx.engine.markDelivered(sessionId, userId, deliveredSeq).catch((error: unknown) => {
    if (!isChatError(error) || error.code === 'INTERNAL') throw error;
  });
  if (await ctx.presence.isAbsentFromSession(userId, sessionId)) {
    ctx.nsp.to(sessionRoom(sessionId)).emit('user:left', { sessionId, userId });
  }
  await saved;
}

async function forget(state: SocketState, sessionId: string): Promise<void> {
  state.sessions.delete(sessionId);
  unmarkJoined(state.socket.data, sessionId);
  await state.socket.leave(sessionRoom(sessionId));
}

/** Members with their online status, for the join ack; presence trouble must not fail the join. */
async function presenceOf(ctx: BindingContext, members: readonly NamedMember[]): Promise<PresenceEntry[]> {
  let online = new Map<string, { lastSeenAt: string | null }>();
  try {
    online = await ctx.presence.getPresence(members.map((m) => m.userId));
  } catch (error) {
    // Stryker disable next-line StringLiteral: presence fails only as UNAVAILABLE, which background() does not report
    background(ctx, 'presence', Promise.reject(error));
  }
  return members.map((m) => {
    const live = online.get(m.userId);
    return { userId: m.userId, name: m.name, status: live ? ('online' as const) : ('offline' as const), lastSeenAt: live?.lastSeenAt ?? m.lastSeenAt };
  });
}
