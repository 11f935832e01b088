import fc from 'fast-check';
import { CHAT_ERROR_CODES, type Message } from 'parley-chat';
import type { ClientToServerEvents } from 'parley-chat/socket.io';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedState } from '../support/engine.js';
import { closeAll, startChat, tokenFor, type ChatFixture, type Tab } from './harness.js';

/**
 * Random and malformed payloads at every client event: each one that carries an ack
 * gets an error ack, nothing is written, and the socket and the server stay up.
 */

type EventName = keyof ClientToServerEvents;

let f: ChatFixture;
let alice: Tab;
let sessionId: string;
let message: Message;
let before: Awaited<ReturnType<typeof storedState>>;
let token: string;

beforeAll(async () => {
  f = await startChat();
  ({ id: sessionId } = await f.engine.createSession({ id: 'fuzz-room', createdBy: 'alice', memberIds: ['bob'] }));
  alice = await f.connect('alice');
  expect((await alice.call('session:join', { sessionId })).ok).toBe(true);
  message = (await alice.call('message:send', { sessionId, content: 'the only message' })).data;
  before = await storedState(f.engine, sessionId);
  token = await tokenFor('alice');
});
afterAll(closeAll);

/** A valid payload of each event (real ids), and its required keys: malformed ones are derived from it. */
const valid = (): Record<EventName, { payload: Record<string, unknown>; required: string[] }> => ({
  'session:join': { payload: { sessionId, lastSeq: 0 }, required: ['sessionId'] },
  'session:leave': { payload: { sessionId }, required: ['sessionId'] },
  'message:send': {
    payload: {
      sessionId,
      content: 'hello',
      clientMessageId: 'c-1',
      parentMessageId: message.id,
      attachments: [{ fileName: 'a.png', fileUrl: 'https://cdn.example.com/a.png', mimeType: 'image/png', fileSize: 1 }],
    },
    required: ['sessionId', 'content'],
  },
  'message:edit': { payload: { messageId: message.id, content: 'changed' }, required: ['messageId', 'content'] },
  'message:delete': { payload: { messageId: message.id }, required: ['messageId'] },
  'message:seen': { payload: { sessionId, messageId: message.id }, required: ['sessionId', 'messageId'] },
  'message:reaction': { payload: { messageId: message.id, emoji: '👍', action: 'add' }, required: ['messageId', 'emoji'] },
  'typing:start': { payload: { sessionId, userName: 'Al' }, required: ['sessionId'] },
  'typing:stop': { payload: { sessionId }, required: ['sessionId'] },
  'stream:request': {
    payload: { sessionId, prompt: 'tell me', agentId: 'assistant', config: { temperature: 0.5, maxTokens: 10, model: 'm-1' } },
    required: ['sessionId', 'prompt'],
  },
  'stream:stop': { payload: { streamId: message.id }, required: ['streamId'] },
  'auth:refresh': { payload: { token }, required: ['token'] },
  'users:get': { payload: { ids: ['alice', 'bob'] }, required: ['ids'] },
});
const EVENTS: EventName[] = [
  'session:join',
  'session:leave',
  'message:send',
  'message:edit',
  'message:delete',
  'message:seen',
  'message:reaction',
  'typing:start',
  'typing:stop',
  'stream:request',
  'stream:stop',
  'auth:refresh',
  'users:get',
];

/** A value of the wrong type for `key` (never one the schema could accept). */
function wrongValue(key: string): fc.Arbitrary<unknown> {
  const notAString = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.object({ maxDepth: 1 }));
  if (key === 'config') return fc.oneof(fc.string(), fc.integer(), fc.constant({ temperature: 9 }), fc.constant({ maxTokens: -1 }), fc.constant({ model: 'a b' }), fc.constant({ seed: 1 }));
  if (key === 'lastSeq') return fc.oneof(fc.string(), fc.integer({ max: -1 }), fc.constant(0.5), fc.boolean(), fc.constant(null), fc.object({ maxDepth: 1 }));
  if (key === 'attachments') {
    return fc.oneof(
      fc.string(),
      fc.integer(),
      fc.constant(Array.from({ length: 11 }, () => ({ fileName: 'a', fileUrl: 'https://x.example/a', mimeType: 'a/b', fileSize: 1 }))),
      fc.constant([{ fileName: 'a', fileUrl: 'javascript:alert(1)', mimeType: 'text/html', fileSize: 1 }]),
      fc.array(fc.object({ maxDepth: 1 }), { minLength: 1, maxLength: 2 }),
    );
  }
  return notAString;
}

/** Strings a field must refuse: too long for its limit, or past the payload cap. */
function oversize(key: string): fc.Arbitrary<string> {
  if (key === 'content' || key === 'prompt') return fc.constantFrom('x'.repeat(10_001), ' \n\t ', 'a\u0000b', '\uD800');
  if (key === 'emoji') return fc.constantFrom('not an emoji', '👍👍', '');
  if (key === 'action') return fc.constantFrom('delete', 'TOGGLE');
  if (key === 'userName') return fc.constantFrom('x'.repeat(101), '', '   ', 'a\u0000b', 'x'.repeat(70_000));
  return fc.constantFrom('x'.repeat(129), 'a b', '', 'x'.repeat(70_000), '../../etc/passwd');
}

const POLLUTERS = ['{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}', '{"prototype":{"polluted":true}}'];

/** One malformed payload for `event`. */
function malformed(event: EventName): fc.Arbitrary<unknown> {
  const { payload, required } = valid()[event];
  const keys = Object.keys(payload);
  const stringKeys = keys.filter((k) => typeof payload[k] === 'string');
  return fc.oneof(
    // not an object at all, or anything at all
    fc.oneof(fc.constant(undefined), fc.constant(null), fc.string(), fc.integer(), fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 3 })),
    fc.anything({ maxDepth: 3, withNullPrototype: true, withBigInt: false }).filter((v) => typeof v !== 'bigint'),
    fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
    // a required key missing
    fc.constantFrom(...required).map((key) => Object.fromEntries(Object.entries(payload).filter(([k]) => k !== key))),
    // a key of the wrong type
    fc.constantFrom(...keys).chain((key) => wrongValue(key).map((v) => ({ ...payload, [key]: v }))),
    // a string out of bounds (for an event that has string fields)
    ...(stringKeys.length === 0 ? [] : [fc.constantFrom(...stringKeys).chain((key) => oversize(key).map((v) => ({ ...payload, [key]: v })))]),
    // an unknown key, an identity claim, a prototype-polluting key
    fc.oneof(
      fc.constantFrom('userId', 'senderId', 'role', 'isDeleted', 'seq').map((k) => ({ ...payload, [k]: 'mallory' })),
      fc.constantFrom(...POLLUTERS).map((json) => ({ ...payload, ...JSON.parse(json) })),
      fc.string({ minLength: 1, maxLength: 10 }).filter((k) => !keys.includes(k)).map((k) => ({ ...payload, [k]: 1 })),
    ),
  );
}

function emitWithAck(tab: Tab, event: string, args: unknown[]): Promise<any> {
  return (tab.socket.timeout(5000) as any).emitWithAck(event, ...args);
}

describe('socket.io binding: malformed payloads (fast-check)', () => {
  it('every malformed payload with an ack gets an error ack; nothing is written; the socket stays up', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...EVENTS).chain((event) => fc.tuple(fc.constant(event), malformed(event), fc.boolean(), fc.boolean())),
        async ([event, payload, withAck, extraArg]) => {
          const args = extraArg ? [payload, 'extra'] : [payload];
          if (!withAck) {
            (alice.socket as any).emit(event, ...args);
            return;
          }
          const response = await emitWithAck(alice, event, args);
          expect(response.ok, `${event} ${JSON.stringify(payload)?.slice(0, 200)}`).toBe(false);
          expect(CHAT_ERROR_CODES).toContain(response.error.code);
          expect(response.error.code).not.toBe('INTERNAL');
          expect(typeof response.error.message).toBe('string');
        },
      ),
      { numRuns: 600 },
    );
    expect(alice.socket.connected).toBe(true);
    expect(await storedState(f.engine, sessionId)).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // still fully working
    expect(await alice.call('message:reaction', { messageId: message.id, emoji: '🎉' })).toMatchObject({ ok: true });
    expect(f.reported).toEqual([]);
  });

  it('unknown and reserved-looking event names are ignored, with or without an ack', async () => {
    const snapshot = await storedState(f.engine, sessionId);
    const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'session:join:x', 'stream:requests', 'message', 'error', 'connection:success'];
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 20 })), fc.anything({ maxDepth: 2 }), async (event, payload) => {
        if (event === '' || ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener'].includes(event)) return;
        (alice.socket as any).emit(event, payload, () => {
          throw new Error(`an unknown event ${event} was acked`);
        });
      }),
      { numRuns: 200 },
    );
    expect(await alice.call('typing:stop', { sessionId })).toEqual({ ok: true, data: null });
    expect(alice.socket.connected).toBe(true);
    expect(await storedState(f.engine, sessionId)).toEqual(snapshot);
    expect(f.reported.every((e) => e instanceof Error && /socket error/.test(e.message))).toBe(true);
  });
});
