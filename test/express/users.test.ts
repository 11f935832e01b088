import { userListSchema, memberListSchema, messageSchema } from '../../adapters/express/response-schemas.js';
import { afterEach, describe, expect, it } from 'vitest';
import { call, clientFor, expectError, memoryEngine, startChatApp, tokenFor, type ChatApp } from './harness.js';

let app: ChatApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const named = async (userId: string, claims: Record<string, unknown>) => clientFor(app!.base, await tokenFor(userId, claims));

describe('display names over REST', () => {
  it("a request stores the token's name and picture; members, messages and GET /users carry them", async () => {
    app = await startChatApp();
    const alice = await named('alice', { name: 'Alice Martin', picture: 'https://cdn.example.com/alice.png' });
    const bob = await named('bob', { name: 'Bob' });
    const session = (await alice.post('/sessions', { memberIds: ['bob', 'carol'] })).body;
    const sent = await bob.post('/messages', { sessionId: session.id, content: 'hi' }); // bob's first request
    expect(sent.status).toBe(201);
    expect(messageSchema.parse(sent.body).authorName).toBe('Bob');

    const members = await alice.get(`/sessions/${session.id}/members`);
    expect(memberListSchema.parse(members.body).members.map((m) => [m.userId, m.name, m.avatarUrl])).toEqual([
      ['alice', 'Alice Martin', 'https://cdn.example.com/alice.png'],
      ['bob', 'Bob', null],
      ['carol', null, null],
    ]);
    const users = await bob.get('/users?ids=carol,alice,bob');
    expect(users.status).toBe(200);
    expect(userListSchema.parse(users.body)).toEqual({
      users: [
        { id: 'alice', name: 'Alice Martin', avatarUrl: 'https://cdn.example.com/alice.png' },
        { id: 'bob', name: 'Bob', avatarUrl: null },
      ],
    });
    const presence = await bob.get(`/sessions/${session.id}/presence`);
    expect(presence.body.presence.map((p: { name: string | null }) => p.name)).toEqual(['Alice Martin', 'Bob', null]);
  });

  it('GET /users refuses a bad list with VALIDATION, an anonymous caller with UNAUTHORIZED', async () => {
    app = await startChatApp();
    const alice = await app.as('alice');
    for (const query of ['', '?ids=', '?ids=a,,b', '?ids=bad%20id', `?ids=${Array.from({ length: 101 }, (_, i) => `u${i}`).join(',')}`, '?ids=a&ids=b', '?ids=a&other=1']) {
      expectError(await alice.get(`/users${query}`), 400, 'VALIDATION');
    }
    expect((await alice.get(`/users?ids=${Array.from({ length: 100 }, (_, i) => `u${i}`).join(',')}`)).body).toEqual({ users: [] });
    expectError(await call(app.base, 'GET', '/users?ids=alice'), 401, 'UNAUTHORIZED');
  });

  it("a name the engine refuses is logged, and the caller's request still succeeds", async () => {
    const warnings: unknown[] = [];
    const engine = await memoryEngine({ logger: { error: () => {}, warn: (obj) => warnings.push(obj) } });
    app = await startChatApp({ engine, router: { authenticateRequest: () => ({ userId: 'alice', name: 'bad\u0000name' }), logger: engine.logger } });
    const reply = await call(app.base, 'GET', '/sessions');
    expect(reply.status).toBe(200);
    expect(warnings).toHaveLength(1);
    expect(await engine.getUsers(['alice'])).toEqual([]);
  });
});
