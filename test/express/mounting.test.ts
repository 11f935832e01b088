import express from 'express';
import express4 from 'express4';
import { chatErrorHandler, createChatRouter } from 'parley-chat/express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, call, clientFor, expectError, listen, memoryEngine, tokenFor } from './harness.js';

/** Exercises a mounted router end to end: create, post, read back, a 404, the OpenAPI server URL. */
async function exercise(base: string, prefix: string): Promise<void> {
  const alice = clientFor(base, await tokenFor('alice'));
  const session = await alice.post('/sessions', { title: `via ${prefix}` });
  expect(session.status).toBe(201);
  const message = await alice.post('/messages', { sessionId: session.body.id, content: `hello from ${prefix}` });
  expect(message.status).toBe(201);
  expect(message.body.userId).toBe('alice');
  const history = await alice.get(`/sessions/${session.body.id}/messages?limit=10`);
  expect(history.body).toMatchObject({ total: 1, messages: [{ content: `hello from ${prefix}` }] });
  expect((await alice.put(`/messages/${message.body.id}`, { content: 'edited' })).body.isEdited).toBe(true);
  expectError(await alice.post('/messages', '{oops', { raw: '{oops' }), 400, 'VALIDATION');
  expectError(await alice.post('/messages', undefined, { raw: JSON.stringify({ sessionId: session.body.id, content: 'x'.repeat(70_000) }) }), 413, 'VALIDATION');
  expectError(await alice.get('/no/such/route'), 404, 'NOT_FOUND');
  expectError(await alice.get(`/messages/${message.body.id}?limit=x`), 400, 'VALIDATION');
  expect((await call(base, 'GET', '/openapi.json')).body.servers).toEqual([{ url: prefix }]);
}

describe('mounting', () => {
  describe('one engine under two prefixes of one Express 5 app', () => {
    let close: () => Promise<void>;
    let origin: string;
    beforeAll(async () => {
      const engine = await memoryEngine();
      const app = express();
      app.get('/health', (_req, res) => res.send('ok'));
      app.use('/api/chat', createChatRouter(engine, { authenticate }));
      app.use('/v2/x', createChatRouter(engine, { authenticate }));
      app.get('/after', (_req, res) => res.send('host route'));
      ({ origin, close } = await listen(app));
    });
    afterAll(() => close());

    it('answers under both prefixes', async () => {
      await exercise(`${origin}/api/chat`, '/api/chat');
      await exercise(`${origin}/v2/x`, '/v2/x');
    });

    it('both see the same data', async () => {
      const viaA = clientFor(`${origin}/api/chat`, await tokenFor('bob'));
      const viaB = clientFor(`${origin}/v2/x`, await tokenFor('bob'));
      const session = (await viaA.post('/sessions', {})).body;
      const message = (await viaB.post('/messages', { sessionId: session.id, content: 'crossing over' })).body;
      expect((await viaA.get(`/messages/${message.id}`)).body.content).toBe('crossing over');
    });

    it('leaves the host\'s routes outside its prefix alone', async () => {
      expect(await (await fetch(`${origin}/health`)).text()).toBe('ok');
      expect(await (await fetch(`${origin}/after`)).text()).toBe('host route');
      expect((await fetch(`${origin}/elsewhere`)).status).toBe(404); // the host's own 404, not ours
    });
  });

  // The host's parser fails before the router is reached: chatErrorHandler, mounted after the
  // router on the same prefix, turns those failures into the router's JSON errors.
  describe('when the host already ran express.json()', () => {
    it('Express 5: uses the parsed body, still refuses a body over the cap and a userId in it', async () => {
      const engine = await memoryEngine();
      const app = express();
      app.use(express.json({ limit: '1mb' }));
      app.use('/api/chat', createChatRouter(engine, { authenticate }), chatErrorHandler());
      const { origin, close } = await listen(app);
      try {
        await exercise(`${origin}/api/chat`, '/api/chat');
        const alice = clientFor(`${origin}/api/chat`, await tokenFor('alice'));
        const room = (await alice.post('/sessions', {})).body.id;
        expectError(await alice.post('/messages', { sessionId: room, content: 'x', userId: 'bob' }), 400, 'VALIDATION');
        // the host's own limit (1mb) is passed, the router's (64 KiB) is not
        expectError(await alice.post('/messages', { sessionId: room, content: 'x', metadata: { pad: 'y'.repeat(100_000) } }), 413, 'VALIDATION');
        // over the host's limit: the host's parser refuses, chatErrorHandler answers in JSON
        expectError(await alice.post('/messages', { sessionId: room, content: 'x', metadata: { pad: 'y'.repeat(1_100_000) } }), 413, 'VALIDATION');
      } finally {
        await close();
      }
    });

    it('Express 4: the same', async () => {
      const engine = await memoryEngine();
      const app = express4();
      app.use(express4.json({ limit: '1mb' }));
      app.use('/api/chat', createChatRouter(engine, { authenticate, express: express4 }), chatErrorHandler());
      const { origin, close } = await listen(app);
      try {
        await exercise(`${origin}/api/chat`, '/api/chat');
      } finally {
        await close();
      }
    });
  });

  describe('Express 4', () => {
    it('with the router built from the host\'s express 4 module, under two prefixes', async () => {
      const engine = await memoryEngine();
      const app = express4();
      app.use('/api/chat', createChatRouter(engine, { authenticate, express: express4, logger: { error: () => {} } }));
      app.use('/v2/x', createChatRouter(engine, { authenticate, express: express4 }));
      const { origin, close } = await listen(app);
      try {
        await exercise(`${origin}/api/chat`, '/api/chat');
        await exercise(`${origin}/v2/x`, '/v2/x');
        // Express 4's default query parser (qs) makes nested objects: refused, not a 500
        const alice = clientFor(`${origin}/api/chat`, await tokenFor('alice'));
        const room = (await alice.post('/sessions', {})).body.id;
        expectError(await alice.get(`/sessions/${room}/messages?limit[$gt]=1`), 400, 'VALIDATION');
        expectError(await alice.get(`/sessions/${room}/messages?limit=1&limit=2`), 400, 'VALIDATION');
        // Express 4 does not catch rejected promises: an engine failure must still be answered
        await engine.close();
        expectError(await alice.get('/sessions'), 503, 'UNAVAILABLE');
      } finally {
        await close();
      }
    });

    it('with the default router (the express this package resolves) mounted in an Express 4 app', async () => {
      const engine = await memoryEngine();
      const app = express4();
      app.use('/api/chat', createChatRouter(engine, { authenticate }));
      const { origin, close } = await listen(app);
      try {
        await exercise(`${origin}/api/chat`, '/api/chat');
      } finally {
        await close();
      }
    });
  });
});
