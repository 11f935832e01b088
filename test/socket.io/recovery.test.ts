import { ChatError, jwtAuthenticator } from 'parley-chat';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, SECRET, startChat, tokenFor, until } from './harness.js';

/**
 * Socket.io's connection state recovery, if the host turns it on: a recovered socket keeps its
 * sessions, and its token is checked again — also when the host skips middlewares.
 */

afterEach(closeAll);

for (const skipMiddlewares of [false, true]) {
  describe(`connection state recovery (skipMiddlewares: ${skipMiddlewares})`, () => {
    it('a recovered socket keeps receiving its sessions, with what it missed', async () => {
      const f = await startChat({ server: { connectionStateRecovery: { maxDisconnectionDuration: 5000, skipMiddlewares } } });
      const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
      const alice = await f.connect('alice');
      await alice.call('session:join', { sessionId });
      const bob = await f.connect('bob', { client: { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50 } });
      await bob.call('session:join', { sessionId });
      (bob.socket as any).io.engine.close(); // the network drops
      await until(() => !bob.socket.connected, 2000, 'bob disconnected');
      await alice.call('message:send', { sessionId, content: 'while bob was away' });
      await until(() => bob.socket.connected, 5000, 'bob back');
      expect(bob.socket.recovered).toBe(true);
      await bob.received.waitFor('message:new', 1, (m) => m.content === 'while bob was away');
      await alice.call('message:send', { sessionId, content: 'after bob came back' });
      await bob.received.waitFor('message:new', 1, (m) => m.content === 'after bob came back');
    });

    it('a token that no longer passes is refused on recovery', async () => {
      const revoked = new Set<string>();
      const verify = jwtAuthenticator({ secret: SECRET });
      const authenticate = async (token: string) => {
        if (revoked.has(token)) throw new ChatError('UNAUTHORIZED', 'Token revoked');
        return verify(token);
      };
      const f = await startChat({ attach: { authenticate }, server: { connectionStateRecovery: { maxDisconnectionDuration: 10_000, skipMiddlewares } } });
      const { id: sessionId } = await f.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
      const token = await tokenFor('bob');
      const bob = await f.connect('bob', { auth: { token }, client: { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50 } });
      await bob.call('session:join', { sessionId });
      revoked.add(token);
      const refused = new Promise<string>((resolve) => {
        bob.socket.once('connect_error', (error: any) => resolve(error.data.code));
        bob.socket.on('disconnect', (reason) => reason === 'io server disconnect' && resolve('io server disconnect'));
      });
      (bob.socket as any).io.engine.close(); // the network drops; the client recovers with the same token
      expect(await refused).toBe(skipMiddlewares ? 'io server disconnect' : 'UNAUTHORIZED');
      bob.socket.disconnect();
      // the refused socket is not in the session any more
      await until(async () => (await f.io.of('/chat').in(`session:${sessionId}`).fetchSockets()).length === 0, 3000, 'room empty');
    });
  });
}
