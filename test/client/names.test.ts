import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clientFor, closeClients, TestServer, tokenFor, until } from './harness.js';

let server: TestServer;
/** The `ids` of every `GET /users` the clients made, to prove they ask once per batch. */
let userLookups: string[];
const realFetch = globalThis.fetch;
beforeEach(async () => {
  server = await new TestServer().start();
  userLookups = [];
  globalThis.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname.endsWith('/users')) userLookups.push(url.searchParams.get('ids') ?? '');
    return realFetch(input, init);
  };
});
afterEach(async () => {
  globalThis.fetch = realFetch;
  closeClients();
  await server.dispose();
});

/** A client whose token carries a display name (the standard `name` claim). */
const named = (userId: string, name: string) => clientFor(server, userId, { token: () => tokenFor(userId, 3600, { name }) });

describe('display names in the client', () => {
  it('members, typing, presence and messages carry the names from the tokens, no bare ids', async () => {
    await server.engine.rememberUser({ userId: 'bob', name: 'Bob Builder' }); // bob signed in before
    const { id: sessionId } = await server.engine.createSession({ createdBy: 'alice', memberIds: ['bob'] });
    const alice = named('alice', 'Alice Martin');
    const room = alice.session(sessionId);
    await until(() => room.getSnapshot().state === 'joined', 'alice joined');
    await until(() => room.getSnapshot().members.every((m) => m.name !== m.userId), 'names of the members');
    expect(room.getSnapshot().members.map((m) => [m.userId, m.name])).toEqual([
      ['alice', 'Alice Martin'],
      ['bob', 'Bob Builder'],
    ]);

    const bob = named('bob', 'Bob Builder');
    const bobRoom = bob.session(sessionId);
    await until(() => bobRoom.getSnapshot().state === 'joined', 'bob joined');
    await until(() => room.getSnapshot().presence.find((p) => p.userId === 'bob')?.status === 'online', 'bob online at alice');
    expect(room.getSnapshot().presence.find((p) => p.userId === 'bob')?.name).toBe('Bob Builder');

    bobRoom.typing(true);
    await until(() => room.getSnapshot().typing.length === 1, 'bob typing at alice');
    expect(room.getSnapshot().typing).toEqual([{ userId: 'bob', name: 'Bob Builder' }]);

    const sent = await bobRoom.send('Hi Alice');
    expect(sent.authorName).toBe('Bob Builder');
    await until(() => room.getSnapshot().messages.some((m) => m.id === sent.id), 'the message at alice');
    expect(room.getSnapshot().messages.find((m) => m.id === sent.id)?.authorName).toBe('Bob Builder');
    expect(userLookups).toEqual([]); // everything came along with the events
  });

  it('names not sent along are fetched with GET /users, once per batch of unknown ids', async () => {
    // carol and dave were named by another app instance; alice's token has no name.
    await server.engine.rememberUser({ userId: 'carol', name: 'Carol' });
    await server.engine.rememberUser({ userId: 'dave', name: 'Dave' });
    const { id: sessionId } = await server.engine.createSession({ createdBy: 'alice', memberIds: ['carol'] });
    const alice = clientFor(server, 'alice');
    const room = alice.session(sessionId);
    await until(() => room.getSnapshot().state === 'joined', 'alice joined');
    expect(room.getSnapshot().members.map((m) => [m.userId, m.name])).toEqual([
      ['alice', 'alice'], // no profile: the id is the fallback
      ['carol', 'Carol'],
    ]);

    // dave is added: the member event has no name, so the client looks him up — once.
    await server.engine.addMember(sessionId, 'dave', 'alice');
    await until(() => room.getSnapshot().members.find((m) => m.userId === 'dave')?.name === 'Dave', "dave's name fetched");
    expect(userLookups).toEqual(['dave']); // the member list said alice has no name: nothing to ask
    await server.engine.addMember(sessionId, 'erin', 'alice');
    await until(() => room.getSnapshot().members.some((m) => m.userId === 'erin'), 'erin added');
    await until(() => userLookups.length === 2, 'erin looked up');
    await new Promise((r) => setTimeout(r, 100));
    expect(userLookups).toEqual(['dave', 'erin']); // each id asked for once
    expect(room.getSnapshot().members.find((m) => m.userId === 'erin')?.name).toBe('erin');
  });
});
