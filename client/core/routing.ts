import type { ChatSocket } from './types.js';
import type { SessionStore } from './session-store.js';

/** Sends each session event to the store of its session (events of sessions without one are ignored). */
export function routeSessionEvents(socket: ChatSocket, storeOf: (sessionId: string) => SessionStore | undefined, all: () => Iterable<SessionStore>): void {
  socket.on('message:new', (m) => storeOf(m.sessionId)?.onMessage(m));
  socket.on('message:edited', (m) => storeOf(m.sessionId)?.onMessage(m));
  socket.on('message:deleted', (e) => storeOf(e.sessionId)?.onDeleted(e));
  socket.on('message:reaction:update', (e) => storeOf(e.sessionId)?.onReactions(e));
  socket.on('attachment:added', (e) => storeOf(e.sessionId)?.onAttachmentAdded(e));
  socket.on('attachment:deleted', (e) => storeOf(e.sessionId)?.onAttachmentDeleted(e));
  socket.on('message:seen:update', (e) => storeOf(e.sessionId)?.onSeen(e));
  socket.on('typing:start', (e) => storeOf(e.sessionId)?.onTyping(e, true));
  socket.on('typing:stop', (e) => storeOf(e.sessionId)?.onTyping(e, false));
  socket.on('user:joined', (e) => storeOf(e.sessionId)?.onUserJoined(e));
  socket.on('member:added', (e) => storeOf(e.sessionId)?.onMemberAdded(e));
  socket.on('member:removed', (e) => storeOf(e.sessionId)?.onMemberRemoved(e));
  socket.on('session:synced', (e) => storeOf(e.sessionId)?.onSynced(e));
  socket.on('stream:snapshot', (e) => storeOf(e.sessionId)?.onStreamSnapshot(e));
  socket.on('stream:chunk', (c) => storeOf(c.sessionId)?.onStreamChunk(c));
  socket.on('stream:complete', (e) => storeOf(e.sessionId)?.onStreamEnd(e, 'completed'));
  socket.on('stream:stopped', (e) => storeOf(e.sessionId)?.onStreamEnd(e, 'stopped'));
  socket.on('stream:error', (e) => storeOf(e.sessionId)?.onStreamEnd(e, 'error'));
  // Presence is per user, not per session: each store keeps it for its own members.
  socket.on('presence:update', (e) => {
    for (const store of all()) store.onPresence(e);
  });
}
