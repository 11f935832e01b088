import express from 'express';
import express4 from 'express4';
import { createChatRouter, type ExpressModule } from 'parley-chat/express';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { authenticate, call, expectError, listen, memoryEngine, tokenFor } from './harness.js';

/**
 * Express decodes path parameters while it matches routes — before authentication or any handler —
 * and a malformed percent-encoding fails right there. That is the client's bad input: a 400
 * VALIDATION like any other, not a 500 logged as a server fault.
 */
const MALFORMED = [
  ['GET', '/sessions/%E0%A4%A'],
  ['DELETE', '/attachments/%ZZ'],
  ['GET', '/messages/%'],
  ['POST', '/streams/%C0%80/stop'],
] as const;

for (const [version, host] of [
  ['Express 5', express],
  ['Express 4', express4],
] as const) {
  describe(`malformed percent-encoding in a path (${version})`, () => {
    let origin: string;
    let close: () => Promise<void>;
    const logger = { error: vi.fn() };

    beforeAll(async () => {
      const engine = await memoryEngine();
      const app = host();
      app.use('/api/chat', createChatRouter(engine, { authenticate, express: host as unknown as ExpressModule, logger }));
      ({ origin, close } = await listen(app));
    });
    afterAll(() => close());

    for (const [method, path] of MALFORMED) {
      it(`${method} ${path} is a 400 VALIDATION, with or without a token`, async () => {
        for (const token of [await tokenFor('alice'), null]) {
          const reply = await call(`${origin}/api/chat`, method, path, undefined, { token });
          expectError(reply, 400, 'VALIDATION');
          expect(reply.body.error.message).toMatch(/percent-encoding/);
        }
        expect(logger.error).not.toHaveBeenCalled();
      });
    }

    it('a well-formed encoding still reaches the route', async () => {
      const reply = await call(`${origin}/api/chat`, 'GET', '/sessions/no%2Dsuch', undefined, { token: await tokenFor('alice') });
      expectError(reply, 404, 'NOT_FOUND');
    });
  });
}
