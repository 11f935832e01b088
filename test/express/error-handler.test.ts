import express, { type RequestHandler } from 'express';
import { ChatError } from 'parley-chat';
import { chatErrorHandler } from 'parley-chat/express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { call, expectError, listen } from './harness.js';

/** What body-parser (or another host parser) passes to `next`: an error with `type` and `status`. */
const parserError = (type: string, status: number, extra: object = {}) => Object.assign(new Error(`${type} (internal detail)`), { type, status, ...extra });

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  vi.restoreAllMocks();
});

/** A host app: `before` runs on POST /api/chat/x, then chatErrorHandler answers whatever it failed with. */
async function hostApp(before: RequestHandler[], options: Parameters<typeof chatErrorHandler>[0] = undefined) {
  const app = express();
  app.post('/api/chat/x', ...before, (_req, res) => {
    res.json({ ok: true });
  });
  app.use('/api/chat', chatErrorHandler(options));
  const { origin, close } = await listen(app);
  closers.push(close);
  return `${origin}/api/chat`;
}

const failWith = (error: unknown): RequestHandler => (_req, _res, next) => next(error);

describe('chatErrorHandler: failures of the host’s body parser as the router’s JSON errors', () => {
  it('a charset or content encoding express.json() cannot read is 415', async () => {
    const base = await hostApp([express.json()]);
    const charset = await call(base, 'POST', '/x', undefined, { raw: '{}', headers: { 'content-type': 'application/json; charset=latin1' } });
    expectError(charset, 415, 'VALIDATION');
    expect(charset.body.error.message).toBe('Unsupported body encoding');
    const encoding = await call(base, 'POST', '/x', undefined, { raw: '{}', headers: { 'content-type': 'application/json', 'content-encoding': 'x-unknown' } });
    expectError(encoding, 415, 'VALIDATION');
    expect(encoding.body.error.message).toBe('Unsupported body encoding');
  });

  it('malformed JSON is 400, an oversize body 413 with the limit, a media type the host refuses 415', async () => {
    const base = await hostApp([express.json({ limit: 10 })]);
    const malformed = await call(base, 'POST', '/x', undefined, { raw: '{"a":' });
    expectError(malformed, 400, 'VALIDATION');
    expect(malformed.body.error).toEqual({ code: 'VALIDATION', message: 'Malformed JSON body' });
    const large = await call(base, 'POST', '/x', { pad: 'x'.repeat(100) });
    expectError(large, 413, 'VALIDATION');
    expect(large.body.error).toEqual({ code: 'VALIDATION', message: 'Request body too large', details: { limit: 10 } });
    const media = await call(await hostApp([failWith(parserError('media.unsupported', 415))]), 'POST', '/x');
    expectError(media, 415, 'VALIDATION');
    expect(media.body.error.message).toBe('Content-Type must be application/json');
  });

  it('a body cut short or of the wrong announced size is 400', async () => {
    for (const type of ['request.aborted', 'request.size.invalid']) {
      const reply = await call(await hostApp([failWith(parserError(type, 400))]), 'POST', '/x');
      expectError(reply, 400, 'VALIDATION');
      expect(reply.body.error).toEqual({ code: 'VALIDATION', message: 'Incomplete request body' });
    }
  });

  it('another client-side parser failure keeps its status, without its internal message; a server-side one is 500', async () => {
    const verify = await call(await hostApp([express.json({ verify: () => { throw new Error('signature mismatch'); } })]), 'POST', '/x', {});
    expectError(verify, 403, 'VALIDATION');
    expect(verify.body.error).toEqual({ code: 'VALIDATION', message: 'Invalid request body' });
    const logger = { error: vi.fn() };
    const broken = await call(await hostApp([failWith(parserError('stream.not.readable', 500))], { logger }), 'POST', '/x');
    expectError(broken, 500, 'INTERNAL');
    expect(JSON.stringify(broken.body)).not.toContain('internal detail');
    for (const notParser of [{ type: 'x', status: '400' }, { type: 4, status: 400 }, 'a string']) {
      expectError(await call(await hostApp([failWith(notParser)], { logger }), 'POST', '/x'), 500, 'INTERNAL');
    }
  });
});

describe('chatErrorHandler: logging and responses already under way', () => {
  it('logs server faults (5xx) to the given logger, with the cause, the method and the URL; never client errors', async () => {
    const logger = { error: vi.fn() };
    const cause = new Error('disk on fire');
    const base = await hostApp([(req, _res, next) => next(req.query.bad === undefined ? cause : new ChatError('FORBIDDEN', 'no'))], { logger });
    expectError(await call(base, 'POST', '/x'), 500, 'INTERNAL');
    expect(logger.error).toHaveBeenCalledTimes(1);
    const [obj, message] = logger.error.mock.calls[0]!;
    expect(obj).toMatchObject({ err: cause, status: 500, code: 'INTERNAL', method: 'POST', url: '/api/chat/x' });
    expect(message).toBe('[parley-chat/express] POST /api/chat/x failed with INTERNAL');
    expectError(await call(base, 'POST', '/x?bad'), 403, 'FORBIDDEN');
    expect(logger.error).toHaveBeenCalledTimes(1);
  });

  it('without a logger, server faults go to the console', async () => {
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {});
    const base = await hostApp([failWith(new Error('boom'))]);
    expectError(await call(base, 'POST', '/x'), 500, 'INTERNAL');
    expect(consoleError).toHaveBeenCalledTimes(1);
  });

  it('a failure after the response started ends that response instead of writing a second one', async () => {
    const logger = { error: vi.fn() };
    const base = await hostApp(
      [
        (_req, res, next) => {
          res.status(200).type('text/plain');
          res.write('partial ');
          next(new Error('failed half way'));
        },
      ],
      { logger },
    );
    const response = await fetch(`${base}/x`, { method: 'POST' });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('partial ');
    expect(logger.error).toHaveBeenCalledTimes(1);
  });
});
