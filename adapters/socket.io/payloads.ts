import { z } from 'zod';
import { ChatError } from '../../src/errors.js';
import { schemas as defaultSchemas, type EngineSchemas } from '../../src/schemas.js';

/**
 * Strict zod schemas of every client payload, built from the engine's own schemas so the
 * binding and the engine agree on every limit (`ChatEngine({ limits })`). No payload carries an
 * identity: the user is always the one the handshake authenticated.
 */
export function buildPayloadSchemas(s: EngineSchemas = defaultSchemas) {
  const sessionId = s.externalId;
  const messageId = s.uuid;
  return {
    'session:join': z.strictObject({ sessionId, lastSeq: s.seqCursor.optional() }),
    'session:leave': z.strictObject({ sessionId }),
    // The engine's own message schema without the fields a client may not set.
    'message:send': s.createMessage.omit({ userId: true, metadata: true }),
    'message:edit': z.strictObject({ messageId, content: s.content }),
    'message:delete': z.strictObject({ messageId }),
    'message:seen': z.strictObject({ sessionId, messageId }),
    'message:reaction': z.strictObject({ messageId, emoji: s.emoji, action: s.reactionAction.optional() }),
    'typing:start': z.strictObject({ sessionId, userName: s.displayName.optional() }),
    'typing:stop': z.strictObject({ sessionId }),
    'stream:request': s.streamRequest.omit({ userId: true }),
    'stream:stop': z.strictObject({ streamId: s.uuid }),
    // Bounded like the handshake's token (jwtAuthenticator refuses longer ones too); verified by `authenticate`.
    'auth:refresh': z.strictObject({ token: z.string().min(1).max(8192) }),
    'users:get': z.strictObject({ ids: s.userIds }),
  } as const;
}

export type PayloadSchemas = ReturnType<typeof buildPayloadSchemas>;

/** The schemas for the default limits, for documentation and clients that validate before sending. */
export const payloadSchemas = buildPayloadSchemas();

export type SessionJoinPayload = z.input<PayloadSchemas['session:join']>;
export type SessionLeavePayload = z.input<PayloadSchemas['session:leave']>;
export type MessageSendPayload = z.input<PayloadSchemas['message:send']>;
export type MessageEditPayload = z.input<PayloadSchemas['message:edit']>;
export type MessageDeletePayload = z.input<PayloadSchemas['message:delete']>;
export type MessageSeenPayload = z.input<PayloadSchemas['message:seen']>;
export type MessageReactionPayload = z.input<PayloadSchemas['message:reaction']>;
export type TypingStartPayload = z.input<PayloadSchemas['typing:start']>;
export type TypingStopPayload = z.input<PayloadSchemas['typing:stop']>;
export type StreamRequestPayload = z.input<PayloadSchemas['stream:request']>;
export type StreamStopPayload = z.input<PayloadSchemas['stream:stop']>;
export type AuthRefreshPayload = z.input<PayloadSchemas['auth:refresh']>;
export type UsersGetPayload = z.input<PayloadSchemas['users:get']>;

/**
 * Refuses a payload whose strings and buffers add up to more than `maxBytes` (UTF-8). It walks the
 * decoded value and stops as soon as the budget is spent, so a huge payload costs little to refuse.
 */
export function assertPayloadSize(value: unknown, maxBytes: number): void {
  let budget = maxBytes;
  const stack: unknown[] = [value];
  let visited = 0;
  while (stack.length > 0) {
    const item = stack.pop();
    // Keys, numbers and punctuation count too: a few bytes per node keeps wide objects honest.
    budget -= 8;
    if (++visited > 100_000) budget = -1;
    if (typeof item === 'string') budget -= Buffer.byteLength(item);
    else if (item instanceof Uint8Array || item instanceof ArrayBuffer) budget -= item.byteLength;
    else if (Array.isArray(item)) for (const v of item) stack.push(v);
    else if (typeof item === 'object' && item !== null) {
      for (const [k, v] of Object.entries(item)) {
        budget -= k.length;
        stack.push(v);
      }
    }
    if (budget < 0) {
      throw new ChatError('VALIDATION', `Payload too large: at most ${maxBytes} bytes`, { details: { maxBytes } });
    }
  }
}
