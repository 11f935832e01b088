import type { ChatEventListeners, ChatEvents } from '../../src/events.js';
import type { BindingContext } from './context.js';
import { background } from './context.js';
import { sessionRoom, userRoom } from './sockets.js';
import type { ServerEventName } from './events.js';

/**
 * Server events that report a committed change, and where their change seq is: a Message's
 * `changeSeq` (its latest change, also for a replayed creation), else the event's `seq`.
 * `message:seen:update`'s `seq` is a read cursor, not a change, so it is not here.
 */
export const CHANGE_SEQ_FIELD: ReadonlyMap<ServerEventName, 'changeSeq' | 'seq'> = new Map([
  ['message:new', 'changeSeq'],
  ['message:edited', 'changeSeq'],
  ['message:deleted', 'seq'],
  ['message:reaction:update', 'seq'],
  ['attachment:added', 'seq'],
  ['attachment:deleted', 'seq'],
  ['stream:complete', 'seq'],
  ['stream:stopped', 'seq'],
  ['stream:error', 'seq'],
]);

/** The session and change seq of an outgoing packet, or null if it is not a session change. */
export function changeOf(event: string, payload: unknown): { sessionId: string; seq: number } | null {
  const field = CHANGE_SEQ_FIELD.get(event as ServerEventName);
  if (field === undefined || typeof payload !== 'object' || payload === null) return null;
  const { sessionId } = payload as { sessionId?: unknown };
  const seq = (payload as Record<string, unknown>)[field];
  return typeof sessionId === 'string' && typeof seq === 'number' ? { sessionId, seq } : null;
}

/**
 * Delivers the engine's domain events by room broadcast through the host's
 * adapter: a change is broadcast once, cluster-wide, by the node where it was committed, whichever
 * way it came in (socket, REST, a job). Returns the unsubscribe function.
 */
export function deliverDomainEvents(ctx: BindingContext): () => void {
  const { engine, nsp } = ctx;
  const toSession = (sessionId: string) => nsp.to(sessionRoom(sessionId));

  const listeners: { [K in keyof ChatEvents]?: ChatEventListeners[K] } = {
    'message.created': ({ sessionId, message }) => {
      toSession(sessionId).emit('message:new', message);
      if (message.userId !== null) ctx.typing.messageSent(sessionId, message.userId);
    },
    'message.edited': ({ sessionId, message }) => {
      toSession(sessionId).emit('message:edited', message);
    },
    'message.deleted': ({ sessionId, messageId, seq, deletedAt }) => {
      toSession(sessionId).emit('message:deleted', { sessionId, messageId, seq, deletedAt });
    },
    'reaction.updated': ({ sessionId, messageId, seq, reactions }) => {
      toSession(sessionId).emit('message:reaction:update', { sessionId, messageId, seq, reactions });
    },
    'attachment.added': ({ sessionId, messageId, seq, attachments }) => {
      toSession(sessionId).emit('attachment:added', { sessionId, messageId, seq, attachments });
    },
    'attachment.deleted': ({ sessionId, messageId, seq, attachmentId }) => {
      toSession(sessionId).emit('attachment:deleted', { sessionId, messageId, seq, attachmentId });
    },
    'receipt.seen': ({ sessionId, userId, messageId, seq }) => {
      toSession(sessionId).emit('message:seen:update', { sessionId, userId, messageId, seq });
    },
    'typing.updated': ({ sessionId, userId, name, typing }) => {
      // Every socket of the typist is skipped, not only the one typing: no tab shows "you are typing".
      nsp
        .to(sessionRoom(sessionId))
        .except(userRoom(userId))
        .emit(typing ? 'typing:start' : 'typing:stop', { sessionId, userId, ...(name !== null && { name }) });
    },
    // One room broadcast per coalesced chunk, never per token or per viewer.
    'stream.chunk': (chunk) => {
      toSession(chunk.sessionId).emit('stream:chunk', chunk);
    },
    // The end events carry the token count the answer was stored with, so that every member shows
    // the same final number as the stored message and the stream's metrics.
    'stream.completed': ({ streamId, sessionId, messageId, seq, content, parts, finishReason, metrics, answer }) => {
      const tokens = answer?.tokens ?? metrics.totalTokens;
      toSession(sessionId).emit('stream:complete', { streamId, sessionId, messageId, seq, content, parts, tokens, finishReason, metrics });
    },
    'stream.stopped': ({ streamId, sessionId, messageId, seq, content, parts, answer }) => {
      toSession(sessionId).emit('stream:stopped', { streamId, sessionId, messageId, seq, content, parts, tokens: answer?.tokens ?? null });
    },
    'stream.error': ({ streamId, sessionId, messageId, seq, code, message, answer }) => {
      toSession(sessionId).emit('stream:error', { streamId, sessionId, messageId, seq, code, message, parts: answer?.parts ?? [], tokens: answer?.tokens ?? null });
    },
    // The session's sockets and every socket of the user concerned (one packet each, joined or not).
    'member.joined': ({ sessionId, userId, role, byUserId }) => {
      nsp.to([sessionRoom(sessionId), userRoom(userId)]).emit('member:added', { sessionId, userId, role, byUserId });
    },
    'member.left': ({ sessionId, userId, byUserId }) => {
      nsp.to([sessionRoom(sessionId), userRoom(userId)]).emit('member:removed', { sessionId, userId, byUserId });
      // A removed member stops receiving the session at once, on every node.
      toSession(sessionId).emit('user:left', { sessionId, userId });
      background(ctx, 'member.left', Promise.resolve(nsp.in(userRoom(userId)).socketsLeave(sessionRoom(sessionId))), { userId });
    },
  };

  const subscribed: [keyof ChatEvents, (payload: never) => void][] = [];
  for (const [event, listener] of Object.entries(listeners) as [keyof ChatEvents, (payload: never) => void][]) {
    // A delivery failure must never reach the engine's publish (it would be reported as the write's).
    const safe = (payload: never) => {
      try {
        listener(payload);
      } catch (error) {
        ctx.report(error, { what: `deliver ${event}` });
      }
    };
    engine.on(event, safe as never);
    subscribed.push([event, safe]);
  }
  return () => {
    for (const [event, listener] of subscribed) engine.off(event, listener as never);
  };
}
