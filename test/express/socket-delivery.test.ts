import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { ChatEngine, Message } from 'parley-chat';
import { createChatRouter } from 'parley-chat/express';
import { attachChat } from 'parley-chat/socket.io';
import { Server } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, clientFor, memoryEngine, tokenFor } from './harness.js';

/**
 * Writes made over REST reach connected sockets through the engine's domain events and the
 * Socket.io binding: the router has no code path to the sockets. The quick start's wiring: one
 * HTTP server for the Express app and the host's Socket.io server.
 */
describe('REST writes reach sockets', () => {
  let engine: ChatEngine;
  let origin: string;
  let io: Server;
  let socket: Socket | undefined;

  beforeAll(async () => {
    engine = await memoryEngine();
    const app = express();
    app.use('/api/chat', createChatRouter(engine, { authenticate }));
    const httpServer = createServer(app);
    io = new Server(httpServer);
    attachChat(io, engine, { authenticate });
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    socket?.disconnect();
    await io.close();
  });

  it("a message POSTed by alice arrives at bob's socket as message:new, and REST sees bob online", async () => {
    const alice = clientFor(`${origin}/api/chat`, await tokenFor('alice'));
    const sessionId = (await alice.post('/sessions', { memberIds: ['bob'] })).body.id as string;

    const bob = connect(`${origin}/chat`, { auth: { token: await tokenFor('bob') }, transports: ['websocket'] });
    socket = bob;
    await new Promise<void>((resolve, reject) => {
      bob.once('connect', resolve);
      bob.once('connect_error', reject);
    });
    const joined = await bob.emitWithAck('session:join', { sessionId });
    expect(joined).toMatchObject({ ok: true, data: { session: { id: sessionId } } });

    const arrived = new Promise<Message>((resolve) => bob.once('message:new', resolve));
    const posted = await alice.post('/messages', { sessionId, content: 'over REST' });
    expect(posted.status).toBe(201);
    const message = await arrived;
    expect(message).toMatchObject({ id: posted.body.id, sessionId, userId: 'alice', content: 'over REST', seq: posted.body.seq });

    // the engine asks the transport for presence, whichever binding asks the engine
    const presence = (await alice.get(`/sessions/${sessionId}/presence`)).body.presence as { userId: string; status: string }[];
    expect(presence.find((p) => p.userId === 'bob')?.status).toBe('online');
    expect(presence.find((p) => p.userId === 'alice')?.status).toBe('offline');
  });
});
