import type { Message } from 'parley-chat';
import type { AckResponse, MessageDeletedEvent, SessionJoinAck } from 'parley-chat/socket.io';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { closeAll, startChat } from './harness.js';

/**
 * The exported event maps type a host's socket.io-client (checked by `tsc`, exercised here). Note:
 * socket.io-client 4.8 loses the ack type of `socket.timeout(ms).emitWithAck(…)` (it comes out `never`);
 * plain `emitWithAck` is typed right.
 */

afterEach(closeAll);

describe('typed socket.io-client', () => {
  it('acks, payloads and server events are typed end to end', async () => {
    const f = await startChat();
    const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice' });
    const { socket } = await f.connect('alice');

    const join = await socket.emitWithAck('session:join', { sessionId, lastSeq: 0 });
    expectTypeOf(join).toEqualTypeOf<AckResponse<SessionJoinAck>>();
    if (!join.ok) throw new Error(join.error.message);
    expectTypeOf(join.data.presence[0]!.status).toEqualTypeOf<'online' | 'offline'>();

    const received = new Promise<Message>((resolve) => socket.once('message:new', resolve));
    const sent = await socket.emitWithAck('message:send', { sessionId, content: 'typed', clientMessageId: 'c-1' });
    expectTypeOf(sent).toEqualTypeOf<AckResponse<Message>>();
    expect(sent.ok && sent.data.content).toBe('typed');
    expectTypeOf(await received).toEqualTypeOf<Message>();

    const deleted = await socket.emitWithAck('message:delete', { messageId: (await received).id });
    expectTypeOf(deleted).toEqualTypeOf<AckResponse<MessageDeletedEvent>>();
    expect(deleted.ok).toBe(true);

    // @ts-expect-error: payloads cannot carry an identity
    socket.emit('message:send', { sessionId, content: 'x', userId: 'mallory' }, () => {});
    // @ts-expect-error: unknown events are not in the map
    socket.emit('message:sned', { sessionId }, () => {});
    socket.on('session:synced', (e) => expectTypeOf(e.gap).toEqualTypeOf<boolean>());
  });
});
