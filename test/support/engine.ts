import { ChatEngine, ChatError, MemoryStorage, type ChatEngineOptions, type RateLimitConfig, type StorageAdapter } from 'parley-chat';
import { expect } from 'vitest';

/** Every budget switched off (points 0), for tests about something else. */
export const NO_RATE_LIMITS: RateLimitConfig = Object.fromEntries(
  [
    'default',
    'session:join',
    'message:send',
    'message:edit',
    'typing:start',
    'stream:request',
    'message:seen',
    'typing:stop',
    'session:leave',
    'handshake',
  ].map((action) => [action, { points: 0, durationMs: 60_000 }]),
);

export async function memoryEngine(options: Partial<ChatEngineOptions> = {}): Promise<ChatEngine> {
  const engine = new ChatEngine({ storage: new MemoryStorage(), rateLimits: NO_RATE_LIMITS, ...options });
  await engine.init();
  return engine;
}

/** Awaits `promise` and asserts it rejects with a ChatError of `code`; returns the error. */
export async function expectChatError(promise: Promise<unknown>, code: ChatError['code']): Promise<ChatError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected a ChatError ${code}, but the call succeeded`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChatError);
  expect((error as ChatError).code).toBe(code);
  return error as ChatError;
}

/**
 * A snapshot of what is stored for a session, to prove a refused call wrote nothing: read from the
 * storage itself, or through an engine's trusted calls (its storage is its own).
 */
export async function storedState(source: StorageAdapter | ChatEngine, sessionId: string) {
  const storage = source instanceof ChatEngine ? readsThrough(source) : source;
  const session = await storage.getSession(sessionId);
  const page = await storage.getHistory(sessionId, { limit: 100, offset: 0, parentMessageId: null });
  return {
    lastSeq: session?.lastSeq,
    messageCount: session?.messageCount,
    messages: page.messages.map((m) => ({ id: m.id, content: m.content, changeSeq: m.changeSeq, attachments: m.attachments.length, reactions: m.reactions.length })),
    members: (await storage.listMembers(sessionId)).map((m) => `${m.userId}:${m.role}:${m.lastReadSeq}`),
  };
}

/** The reads of `storedState` as trusted engine calls (no user: no access check, no budget). */
function readsThrough(engine: ChatEngine): Pick<StorageAdapter, 'getSession' | 'getHistory' | 'listMembers'> {
  return {
    getSession: (sessionId) => engine.getSession(sessionId),
    getHistory: (sessionId, { limit, offset }) => engine.getMessageHistory(sessionId, undefined, { limit, offset }),
    listMembers: (sessionId) => engine.listMembers(sessionId),
  };
}
