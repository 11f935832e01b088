import express from 'express';
import express4 from 'express4';
import { createChatRouter } from 'parley-chat/express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, call, expectError, listen, memoryEngine, tokenFor } from './harness.js';

/**
 * A known path called with a method it does not take answers 405 with `Allow` and a JSON error
 * (VALIDATION: the resource is there, the request's form is wrong), before authentication and
 * without touching anything; unknown paths stay 404.
 */
for (const [name, host] of [
  ['Express 5', express],
  ['Express 4', express4],
] as const) {
  describe(`405 Method Not Allowed (${name})`, () => {
    let base: string;
    let close: () => Promise<void>;
    let token: string;
    let sessionId: string;

    beforeAll(async () => {
      const engine = await memoryEngine();
      const app = host();
      app.use('/api/chat', createChatRouter(engine, { authenticate, express: host }));
      const listening = await listen(app);
      close = listening.close;
      base = `${listening.origin}/api/chat`;
      token = await tokenFor('alice');
      sessionId = (await engine.createSession({ createdBy: 'alice' })).id;
    });
    afterAll(() => close());

    it.each([
      ['PATCH', '/sessions', 'GET, HEAD, POST'],
      ['DELETE', '/sessions', 'GET, HEAD, POST'],
      ['PUT', '/sessions/{id}', 'GET, HEAD'],
      ['POST', '/messages/00000000-0000-4000-8000-000000000000', 'GET, HEAD, PUT, DELETE'],
      ['GET', '/sessions/{id}/seen', 'POST'],
      ['GET', '/streams/00000000-0000-4000-8000-000000000000/stop', 'POST'],
      ['POST', '/openapi.json', 'GET, HEAD'],
      ['OPTIONS', '/sessions/{id}/messages', 'GET, HEAD'],
    ])('%s %s → 405, Allow: %s', async (method, path, allow) => {
      const url = path.replace('{id}', sessionId);
      for (const credentials of [token, null]) {
        const reply = await call(base, method, url, method === 'GET' || method === 'OPTIONS' ? undefined : { content: 'x' }, { token: credentials });
        expectError(reply, 405, 'VALIDATION');
        expect(reply.headers.get('allow')).toBe(allow);
        expect(reply.body.error.details).toEqual({ allow: allow.split(', ') });
      }
    });

    it('HEAD of a GET path is answered by the GET route; unknown paths stay 404', async () => {
      const head = await fetch(`${base}/sessions/${sessionId}`, { method: 'HEAD', headers: { authorization: `Bearer ${token}` } });
      expect(head.status).toBe(200);
      expectError(await call(base, 'PATCH', '/no/such/path', {}, { token }), 404, 'NOT_FOUND');
      expectError(await call(base, 'GET', `/sessions/${sessionId}/nope`, undefined, { token }), 404, 'NOT_FOUND');
    });
  });
}
