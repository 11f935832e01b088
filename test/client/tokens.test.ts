import { memoryPersistence } from 'parley-chat/client';
import { afterEach, describe, expect, it } from 'vitest';
import { clientFor, closeClients, sleep, TestServer, tokenFor, until } from './harness.js';

let server: TestServer;
afterEach(async () => {
  closeClients();
  await server.dispose();
});

/** No clock tolerance: a 3-second token is refused three seconds after it was signed. */
async function start(): Promise<string> {
  server = await new TestServer({ clockToleranceSec: 0 }).start();
  const { id } = await server.engine.createSession({ createdBy: 'alice' });
  return id;
}

describe('tokens', () => {
  it('a short-lived token is renewed before it expires (auth:refresh), and the client keeps working past its lifetime', async () => {
    const sessionId = await start();
    let asked = 0;
    const alice = clientFor(server, 'alice', { token: () => (asked++, tokenFor('alice', 3)) });
    const room = alice.session(sessionId);
    await until(() => room.getSnapshot().state === 'joined', 'joined');
    const statuses = new Set<string>();
    alice.subscribe(() => statuses.add(alice.getSnapshot().status));

    await sleep(4_500); // past the first token's expiry
    const message = await room.send('still here');
    expect(message.content).toBe('still here');
    expect(asked).toBeGreaterThanOrEqual(2);
    expect(statuses.has('offline')).toBe(false);
    expect(statuses.has('unauthorized')).toBe(false);
  }, 15_000);

  it('a refused handshake asks token() once more; a good second token connects', async () => {
    const sessionId = await start();
    const tokens = [tokenFor('alice', -60), tokenFor('alice')];
    const alice = clientFor(server, 'alice', { token: () => tokens.shift() ?? tokenFor('alice') });
    const room = alice.session(sessionId);
    await until(() => room.getSnapshot().state === 'joined', 'joined');
    expect(alice.getSnapshot().status).toBe('online');
  });

  it('a token that stays refused makes the status unauthorized, and the outbox is kept', async () => {
    const sessionId = await start();
    const persistence = memoryPersistence();
    const alice = clientFor(server, 'alice', { persistence, token: () => tokenFor('alice', -60) });
    const room = alice.session(sessionId);
    void room.send('kept for later').catch(() => {});
    await until(() => alice.getSnapshot().status === 'unauthorized', 'unauthorized');
    expect(room.getSnapshot().messages.map((m) => `${m.content}:${m.status}`)).toEqual(['kept for later:pending']);
    alice.close();

    // Signed in again: a new client with the same persistence sends it.
    const again = clientFor(server, 'alice', { persistence });
    const reloaded = again.session(sessionId);
    await until(() => reloaded.getSnapshot().messages[0]?.status === 'sent', 'sent after signing in again');
    const page = await server.engine.getMessageHistory(sessionId, undefined, { limit: 10, offset: 0 });
    expect(page.messages.map((m) => m.content)).toEqual(['kept for later']);
  });
});
