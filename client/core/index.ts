/**
 * parley-chat/client — a browser and Node client for a Parley server: replay from a persisted
 * cursor, an outbox that sends each message once and in order, streamed answers, and stores any UI
 * can subscribe to. `socket.io-client` is an optional peer dependency. See docs/client.md.
 */
export { createChatClient, type ChatClient, type ChatClientOptions, type ChatSocket } from './chat-client.js';
export { PAGE_SIZE, type AskOptions, type ChatSession, type SendOptions } from './session-store.js';
export { memoryPersistence, localStoragePersistence, type ChatPersistence, type PersistenceOption } from './persistence.js';
export type { OutboxEntry } from './outbox.js';
export type { Subscribable } from './external-store.js';
export type { TokenSource } from './token.js';
export type * from './types.js';
export { ChatError, type ChatErrorOptions } from '../../src/errors.js';
export type {
  Attachment,
  JsonObject,
  MemberRole,
  Message,
  MessageRole,
  PresenceEntry,
  PresenceStatus,
  Reaction,
  Session,
  SessionMember,
  SessionSummary,
} from '../../src/model.js';
export type * from '../../adapters/socket.io/events.js';
