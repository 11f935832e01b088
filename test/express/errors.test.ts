import { ChatEngine, ChatError, MemoryStorage, type StorageAdapter } from 'parley-chat';
import { createChatRouter } from 'parley-chat/express';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { NO_RATE_LIMITS, storedState } from '../support/engine.js';
import { authenticate, call, clientFor, expectError, listen, memoryEngine, startChatApp, tokenFor, type ChatApp, type Client } from './harness.js';

const UNKNOWN_UUID = '01900000-0000-7000-8000-000000000000';

describe('REST errors', () => {
  let app: ChatApp;
  let alice: Client;
  let bob: Client;
  let mallory: Client;
  let sessionId: string;
  let messageId: string;

  beforeAll(async () => {
    app = await startChatApp();
    alice = await app.as('alice');
    bob = await app.as('bob');
    mallory = await app.as('mallory');
    sessionId = (await alice.post('/sessions', { id: 'room', memberIds: ['bob'] })).body.id;
    messageId = (await alice.post('/messages', { sessionId, content: 'hello' })).body.id;
  });
  afterAll(() => app.close());

  describe('401 UNAUTHORIZED', () => {
    it('without a token, with a malformed header, or with a bad, forged or expired token', async () => {
      const forged = await tokenFor('alice', {}, new TextEncoder().encode('another-secret-that-is-long-enough-for-hs256'));
      const expired = await tokenFor('alice', { exp: Math.floor(Date.now() / 1000) - 60 });
      const cases: Record<string, string>[] = [
        {},
        { authorization: 'Basic YWxpY2U6cHc=' },
        { authorization: 'Bearer' },
        { authorization: 'Bearer not.a.jwt' },
        { authorization: `Bearer ${forged}` },
        { authorization: `Bearer ${expired}` },
      ];
      for (const headers of cases) {
        for (const [method, path] of [['GET', '/sessions'], ['GET', `/messages/${messageId}`], ['POST', '/messages']] as const) {
          const reply = await call(app.base, method, path, method === 'POST' ? { sessionId, content: 'x' } : undefined, { headers });
          expectError(reply, 401, 'UNAUTHORIZED');
          expect(reply.headers.get('www-authenticate')).toBe('Bearer');
        }
      }
      const reply = await call(app.base, 'GET', '/sessions', undefined, { headers: { authorization: `Bearer ${expired}` } });
      expect(reply.body.error).toEqual({ code: 'UNAUTHORIZED', message: 'Token expired', details: { reason: 'ERR_JWT_EXPIRED' } });
    });

    it('refuses before reading the body', async () => {
      const reply = await call(app.base, 'POST', '/messages', undefined, { raw: '{not json' });
      expectError(reply, 401, 'UNAUTHORIZED');
    });
  });

  describe('403 FORBIDDEN for a non-member or a non-author', () => {
    it('a non-member can neither read nor write the session', async () => {
      const before = await storedState(app.engine, sessionId);
      expectError(await mallory.get(`/sessions/${sessionId}`), 403, 'FORBIDDEN');
      expectError(await mallory.get(`/sessions/${sessionId}/messages`), 403, 'FORBIDDEN');
      expectError(await mallory.get(`/sessions/${sessionId}/search?query=hello`), 403, 'FORBIDDEN');
      expectError(await mallory.get(`/sessions/${sessionId}/presence`), 403, 'FORBIDDEN');
      expectError(await mallory.get(`/sessions/${sessionId}/members`), 403, 'FORBIDDEN');
      expectError(await mallory.get(`/messages/${messageId}`), 403, 'FORBIDDEN');
      expectError(await mallory.get(`/messages/${messageId}/thread`), 403, 'FORBIDDEN');
      expectError(await mallory.get(`/messages/${messageId}/reactions`), 403, 'FORBIDDEN');
      expectError(await mallory.get(`/messages/${messageId}/attachments`), 403, 'FORBIDDEN');
      expectError(await mallory.post('/messages', { sessionId, content: 'let me in' }), 403, 'FORBIDDEN');
      expectError(await mallory.post(`/messages/${messageId}/reactions`, { emoji: '👍' }), 403, 'FORBIDDEN');
      expectError(await mallory.post(`/sessions/${sessionId}/members`, { userId: 'mallory' }), 403, 'FORBIDDEN');
      expectError(await mallory.post(`/sessions/${sessionId}/seen`, { messageId }), 403, 'FORBIDDEN');
      expectError(await mallory.delete(`/messages/${messageId}`), 403, 'FORBIDDEN');
      expect(await storedState(app.engine, sessionId)).toEqual(before);
    });

    it('a member cannot edit, or attach to, someone else\'s message, nor manage members', async () => {
      expectError(await bob.put(`/messages/${messageId}`, { content: 'mine now' }), 403, 'FORBIDDEN');
      expectError(
        await bob.post(`/messages/${messageId}/attachments`, { fileName: 'a.png', fileUrl: 'https://x.example/a.png', mimeType: 'image/png', fileSize: 1 }),
        403,
        'FORBIDDEN',
      );
      expectError(await bob.post(`/sessions/${sessionId}/members`, { userId: 'carol' }), 403, 'FORBIDDEN');
      expectError(await bob.delete(`/sessions/${sessionId}/members/alice`), 403, 'FORBIDDEN');
      expect((await alice.get(`/messages/${messageId}`)).body.content).toBe('hello');
    });
  });

  describe('404 NOT_FOUND', () => {
    it('for unknown sessions, messages and attachments', async () => {
      expectError(await alice.get('/sessions/no-such-room'), 404, 'NOT_FOUND');
      expectError(await alice.get('/sessions/no-such-room/messages'), 404, 'NOT_FOUND');
      expectError(await alice.post('/messages', { sessionId: 'no-such-room', content: 'hi' }), 404, 'NOT_FOUND');
      expectError(await alice.get(`/messages/${UNKNOWN_UUID}`), 404, 'NOT_FOUND');
      expectError(await alice.put(`/messages/${UNKNOWN_UUID}`, { content: 'x' }), 404, 'NOT_FOUND');
      expectError(await alice.delete(`/messages/${UNKNOWN_UUID}`), 404, 'NOT_FOUND');
      expectError(await alice.get(`/messages/${UNKNOWN_UUID}/thread`), 404, 'NOT_FOUND');
      expectError(await alice.delete(`/attachments/${UNKNOWN_UUID}`), 404, 'NOT_FOUND');
      expectError(await alice.post('/messages', { sessionId, content: 'reply', parentMessageId: UNKNOWN_UUID }), 404, 'NOT_FOUND');
      expectError(await alice.post(`/sessions/${sessionId}/seen`, { messageId: UNKNOWN_UUID }), 404, 'NOT_FOUND');
    });

    it('as JSON for unknown routes and methods under the router, with or without a token', async () => {
      expectError(await alice.get('/nothing/here'), 404, 'NOT_FOUND');
      expectError(await call(app.base, 'GET', '/nothing/here'), 404, 'NOT_FOUND');
      // a known path with a method it does not take: 405 (see method-not-allowed.test.ts)
      expectError(await call(app.base, 'PATCH', `/messages/${messageId}`, { content: 'x' }, { token: await tokenFor('alice') }), 405, 'VALIDATION');
      expectError(await alice.get(`/streams/${UNKNOWN_UUID}/status`), 404, 'NOT_FOUND');
      expectError(await alice.get(`/streams/${UNKNOWN_UUID}/metrics`), 404, 'NOT_FOUND');
      expectError(await alice.get('/streams/abc/status'), 400, 'VALIDATION');
    });
  });

  describe('400 VALIDATION', () => {
    const bad: [string, unknown][] = [
      ['no body', undefined],
      ['an array', [{ sessionId: 'room', content: 'x' }]],
      ['a string', 'hello'],
      ['null', null],
      ['no content', { sessionId: 'room' }],
      ['blank content', { sessionId: 'room', content: '   ' }],
      ['content too long', { sessionId: 'room', content: 'x'.repeat(10_001) }],
      ['content of the wrong type', { sessionId: 'room', content: 42 }],
      ['a control character', { sessionId: 'room', content: 'a\u0000b' }],
      ['a userId', { sessionId: 'room', content: 'x', userId: 'bob' }],
      ['a senderId', { sessionId: 'room', content: 'x', senderId: 'bob' }],
      ['an unknown key', { sessionId: 'room', content: 'x', isAdmin: true }],
      ['a __proto__ key', JSON.parse('{"sessionId":"room","content":"x","__proto__":{"polluted":1}}')],
      ['a bad session id', { sessionId: 'a b', content: 'x' }],
      ['a bad parent id', { sessionId: 'room', content: 'x', parentMessageId: 'nope' }],
      ['a javascript: attachment', { sessionId: 'room', content: 'x', attachments: [{ fileName: 'a', fileUrl: 'javascript:alert(1)', mimeType: 'text/html', fileSize: 1 }] }],
      ['11 attachments', { sessionId: 'room', content: 'x', attachments: Array.from({ length: 11 }, () => ({ fileName: 'a', fileUrl: 'https://x.example/a', mimeType: 'image/png', fileSize: 1 })) }],
      ['metadata that is not an object', { sessionId: 'room', content: 'x', metadata: [1, 2] }],
    ];
    it.each(bad)('POST /messages with %s, writing nothing', async (_name, body) => {
      const before = await storedState(app.engine, sessionId);
      expectError(await alice.post('/messages', body), 400, 'VALIDATION');
      expect(await storedState(app.engine, sessionId)).toEqual(before);
    });

    it('names the offending field in details', async () => {
      const reply = await alice.post('/messages', { sessionId: 'room', content: 42 });
      expect(reply.body.error.details).toEqual({ issues: [{ path: 'content', message: expect.any(String) }] });
      expect(reply.body.error.message).toMatch(/^Invalid body\.content/);
    });

    it('for bad bodies on the other write routes', async () => {
      expectError(await alice.put(`/messages/${messageId}`, {}), 400, 'VALIDATION');
      expectError(await alice.put(`/messages/${messageId}`, { content: 'x', userId: 'bob' }), 400, 'VALIDATION');
      expectError(await alice.post(`/messages/${messageId}/reactions`, { emoji: 'not an emoji' }), 400, 'VALIDATION');
      expectError(await alice.post(`/messages/${messageId}/reactions`, { emoji: '👍', action: 'explode' }), 400, 'VALIDATION');
      expectError(await alice.post(`/messages/${messageId}/attachments`, { fileName: 'a', fileUrl: 'file:///etc/passwd', mimeType: 'text/plain', fileSize: 1 }), 400, 'VALIDATION');
      expectError(await alice.post('/sessions', { createdBy: 'bob' }), 400, 'VALIDATION');
      expectError(await alice.post('/sessions', { title: '' }), 400, 'VALIDATION');
      expectError(await alice.post(`/sessions/${sessionId}/members`, {}), 400, 'VALIDATION');
      expectError(await alice.post(`/sessions/${sessionId}/seen`, { messageId: 'x' }), 400, 'VALIDATION');
    });

    it('for bad ids in the path', async () => {
      expectError(await alice.get('/messages/not-a-uuid'), 400, 'VALIDATION');
      expectError(await alice.get(`/sessions/${encodeURIComponent('a b')}/messages`), 400, 'VALIDATION');
      expectError(await alice.delete('/attachments/42'), 400, 'VALIDATION');
    });

    it.each([
      'limit=abc',
      'limit=0',
      'limit=101',
      'limit=1.5',
      'limit=1e1',
      'limit=0x10',
      'limit=',
      'limit=%2010',
      'limit=-1',
      'offset=-1',
      'limit=1&limit=2',
      'limit[a]=1',
      'after=-1',
      'before=x',
      'parentMessageId=nope',
      'unknown=1',
    ])('GET history with ?%s', async (query) => {
      expectError(await alice.get(`/sessions/${sessionId}/messages?${query}`), 400, 'VALIDATION');
    });

    it('for a search without a query, an empty one, or a bad page', async () => {
      expectError(await alice.get(`/sessions/${sessionId}/search`), 400, 'VALIDATION');
      expectError(await alice.get(`/sessions/${sessionId}/search?query=`), 400, 'VALIDATION');
      expectError(await alice.get(`/sessions/${sessionId}/search?query=${encodeURIComponent('!!!')}`), 400, 'VALIDATION');
      expectError(await alice.get(`/sessions/${sessionId}/search?query=hello&limit=many`), 400, 'VALIDATION');
    });

    it('for a query string on a route that takes none', async () => {
      expectError(await alice.get(`/messages/${messageId}?fields=all`), 400, 'VALIDATION');
    });

    it('for malformed JSON, never an HTML page', async () => {
      for (const raw of ['{', '{"sessionId":', 'nul', '{"a":1}}', "{'single':'quotes'}"]) {
        const reply = await alice.post('/messages', undefined, { raw });
        expectError(reply, 400, 'VALIDATION');
        expect(reply.body.error.message).toBe('Malformed JSON body');
      }
    });

    it('415 (code VALIDATION) for a body that is not JSON', async () => {
      const reply = await alice.post('/messages', undefined, { raw: 'sessionId=room&content=hi', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expectError(reply, 415, 'VALIDATION');
      expectError(await alice.post('/messages', undefined, { raw: 'hi', headers: { 'content-type': 'text/plain' } }), 415, 'VALIDATION');
    });
  });

  it('409 CONFLICT when editing a deleted message', async () => {
    const id = (await alice.post('/messages', { sessionId, content: 'soon gone' })).body.id;
    expect((await alice.delete(`/messages/${id}`)).status).toBe(200);
    expectError(await alice.put(`/messages/${id}`, { content: 'back' }), 409, 'CONFLICT');
    expectError(await bob.post(`/messages/${id}/reactions`, { emoji: '👍' }), 409, 'CONFLICT');
  });

  describe('413 for an oversize body (code VALIDATION), nothing written', () => {
    it('announced by Content-Length', async () => {
      const before = await storedState(app.engine, sessionId);
      const reply = await alice.post('/messages', { sessionId, content: 'x', metadata: { pad: 'y'.repeat(70_000) } });
      expectError(reply, 413, 'VALIDATION');
      expect(reply.body.error.details).toEqual({ limit: 64 * 1024 });
      expect(await storedState(app.engine, sessionId)).toEqual(before);
    });

    it('streamed without Content-Length (chunked)', async () => {
      const chunk = new TextEncoder().encode(`{"sessionId":"room","content":"${'z'.repeat(8192)}`);
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 20) controller.enqueue(chunk);
          else controller.close();
        },
      });
      const reply = await alice.post('/messages', undefined, { raw: stream });
      expectError(reply, 413, 'VALIDATION');
    });

    it('with a smaller configured cap', async () => {
      const small = await startChatApp({ router: { maxBodyBytes: 100 } });
      try {
        const carol = await small.as('carol');
        const room = (await carol.post('/sessions', {})).body.id;
        expect((await carol.post('/messages', { sessionId: room, content: 'short' })).status).toBe(201);
        expectError(await carol.post('/messages', { sessionId: room, content: 'x'.repeat(200) }), 413, 'VALIDATION');
      } finally {
        await small.close();
      }
    });
  });

  it('429 RATE_LIMITED after the limit, with Retry-After in seconds, nothing written', async () => {
    const limited = await startChatApp({
      engine: await memoryEngine({ rateLimits: { ...NO_RATE_LIMITS, 'message:send': { points: 3, durationMs: 60_000 } } }),
    });
    try {
      const dave = await limited.as('dave');
      const room = (await dave.post('/sessions', {})).body.id;
      for (let i = 0; i < 3; i++) expect((await dave.post('/messages', { sessionId: room, content: `m${i}` })).status).toBe(201);
      const before = await storedState(limited.engine, room);
      const reply = await dave.post('/messages', { sessionId: room, content: 'one too many' });
      expectError(reply, 429, 'RATE_LIMITED');
      const retryAfter = Number(reply.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter)).toBe(true);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(Object.keys(reply.body.error)).not.toContain('retryAfterMs');
      expect(await storedState(limited.engine, room)).toEqual(before);
      // the same budget as any other binding: the engine's
      await expect(limited.engine.createMessage({ sessionId: room, userId: 'dave', content: 'direct' })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
      // reads are not limited
      expect((await dave.get(`/sessions/${room}/messages`)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('REST faults', () => {
  /** A storage whose getMessage fails the way `fault` says. */
  function faultyStorage(fault: () => unknown): StorageAdapter {
    const storage = new MemoryStorage();
    return new Proxy(storage, {
      get(target, prop, receiver) {
        if (prop === 'getMessage') return () => Promise.reject(fault());
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  it('500 INTERNAL for an unexpected error: no stack to the client, logged without the Authorization header', async () => {
    const logger = { error: vi.fn() };
    const engine = new ChatEngine({ storage: faultyStorage(() => new Error('disk on fire at /var/lib/secret.db')), rateLimits: NO_RATE_LIMITS });
    const app = await startChatApp({ engine, router: { logger } });
    try {
      const token = await tokenFor('alice');
      const reply = await call(app.base, 'GET', `/messages/01900000-0000-7000-8000-000000000000`, undefined, { token });
      expectError(reply, 500, 'INTERNAL');
      expect(reply.body).toEqual({ error: { code: 'INTERNAL', message: 'Internal error' } });
      expect(logger.error).toHaveBeenCalledTimes(1);
      const [meta, message] = logger.error.mock.calls[0]!;
      expect(message).toContain('GET');
      expect(String((meta as { err: Error }).err.message)).toContain('disk on fire');
      const logged = JSON.stringify(logger.error.mock.calls, (_k, v: unknown) => (v instanceof Error ? { message: v.message, stack: v.stack } : v));
      expect(logged).not.toContain(token);
      expect(logged.toLowerCase()).not.toContain('authorization');
    } finally {
      await app.close();
    }
  });

  it('503 UNAVAILABLE when storage is down', async () => {
    const logger = { error: vi.fn() };
    const engine = new ChatEngine({ storage: faultyStorage(() => new ChatError('UNAVAILABLE', 'Storage unavailable')), rateLimits: NO_RATE_LIMITS });
    const app = await startChatApp({ engine, router: { logger } });
    try {
      expectError(await (await app.as('alice')).get('/messages/01900000-0000-7000-8000-000000000000'), 503, 'UNAVAILABLE');
      expect(logger.error).toHaveBeenCalledTimes(1);
    } finally {
      await app.close();
    }
  });

  it('503 when the engine is closed', async () => {
    const app = await startChatApp({ router: { logger: { error: () => {} } } });
    try {
      const alice = await app.as('alice');
      await app.engine.close();
      expectError(await alice.get('/sessions'), 503, 'UNAVAILABLE');
    } finally {
      await app.close();
    }
  });
});

describe('createChatRouter options', () => {
  it('needs exactly one of authenticate and authenticateRequest, and a sane maxBodyBytes', async () => {
    const engine = await memoryEngine();
    expect(() => createChatRouter(engine, {})).toThrow(/exactly one/);
    expect(() => createChatRouter(engine, { authenticate, authenticateRequest: () => null })).toThrow(/exactly one/);
    expect(() => createChatRouter(engine, { authenticate, maxBodyBytes: 0 })).toThrow(/maxBodyBytes/);
    expect(() => createChatRouter(engine, { authenticate, maxBodyBytes: 1.5 })).toThrow(/maxBodyBytes/);
    expect(() => createChatRouter(undefined as never, { authenticate })).toThrow(ChatError);
  });

  it('authenticateRequest: the host\'s own auth (a cookie session) is the only source of identity', async () => {
    const sessions = new Map([['sid-alice', 'alice'], ['sid-broken', 'not a valid id!']]);
    const engine = await memoryEngine();
    const app = express();
    app.use(
      '/chat',
      createChatRouter(engine, {
        logger: { error: () => {} },
        authenticateRequest: (req) => {
          const sid = /(?:^|;\s*)sid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
          if (sid === 'sid-throws') throw new Error('session store says no');
          if (sid === 'sid-down') throw new ChatError('UNAVAILABLE', 'session store down');
          const userId = sid === undefined ? undefined : sessions.get(sid);
          return userId === undefined ? null : { userId };
        },
      }),
    );
    const { origin, close } = await listen(app);
    try {
      const base = `${origin}/chat`;
      const cookie = (sid: string) => ({ headers: { cookie: `theme=dark; sid=${sid}` } });
      const created = await call(base, 'POST', '/sessions', { title: 'cookies' }, cookie('sid-alice'));
      expect(created.status).toBe(201);
      expect(created.body.createdBy).toBe('alice');
      const posted = await call(base, 'POST', '/messages', { sessionId: created.body.id, content: 'hi' }, cookie('sid-alice'));
      expect(posted.body.userId).toBe('alice');
      for (const sid of ['sid-nobody', 'sid-broken', 'sid-throws']) {
        const reply = await call(base, 'GET', '/sessions', undefined, cookie(sid));
        expectError(reply, 401, 'UNAUTHORIZED');
        expect(reply.headers.get('www-authenticate')).toBeNull(); // not a Bearer API in this mode
      }
      expectError(await call(base, 'GET', '/sessions'), 401, 'UNAUTHORIZED');
      expectError(await call(base, 'GET', '/sessions', undefined, cookie('sid-down')), 503, 'UNAVAILABLE');
      // a Bearer token means nothing when the host authenticates requests itself
      expectError(await call(base, 'GET', '/sessions', undefined, { token: await tokenFor('alice') }), 401, 'UNAUTHORIZED');
    } finally {
      await close();
    }
  });

  it('a custom authenticate: its ChatError keeps its code, anything else it throws is a 401', async () => {
    const engine = await memoryEngine();
    const app = express();
    app.use(
      '/chat',
      createChatRouter(engine, {
        logger: { error: () => {} },
        authenticate: async (token) => {
          if (token === 'good') return { userId: 'alice', name: 'Alice' };
          if (token === 'down') throw new ChatError('UNAVAILABLE', 'identity provider unreachable');
          throw new TypeError('jwt malformed');
        },
      }),
    );
    const { origin, close } = await listen(app);
    try {
      const base = `${origin}/chat`;
      expect((await clientFor(base, 'good').get('/sessions')).status).toBe(200);
      expectError(await clientFor(base, 'bad').get('/sessions'), 401, 'UNAUTHORIZED');
      expectError(await clientFor(base, 'down').get('/sessions'), 503, 'UNAVAILABLE');
    } finally {
      await close();
    }
  });
});
