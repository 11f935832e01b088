/**
 * parley-chat/socket.io — Parley's chat protocol (docs/protocol.md) on the host's own Socket.io server.
 * `socket.io` is an optional peer dependency: only types are imported from it.
 */
export { attachChat, type AttachChatOptions, type ChatBinding } from './attach-chat.js';
export type { ErrorReporter } from './context.js';
export type { ChatNamespace, ChatSocket } from './sockets.js';
export { sessionRoom, userRoom } from './sockets.js';
export type * from './events.js';
export { buildPayloadSchemas, payloadSchemas, type PayloadSchemas } from './payloads.js';
export { CHANGE_SEQ_FIELD } from './delivery.js';
export type { ConnectError } from './handshake.js';
