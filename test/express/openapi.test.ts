import { Validator } from '@seriousme/openapi-schema-validator';
import { ScriptedProvider } from 'parley-chat';
import { chatOpenApiDocument } from 'parley-chat/express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, memoryEngine, startChatApp, tokenFor, type ChatApp } from './harness.js';

type Operation = {
  operationId: string;
  parameters?: { name: string; in: string; required: boolean; schema: Record<string, unknown> }[];
  requestBody?: { required: boolean; content: Record<string, { schema: { $ref: string } }> };
  responses: Record<string, { $ref?: string; content?: Record<string, { schema: { $ref?: string } }> }>;
  security?: unknown[];
};

describe('GET /openapi.json', () => {
  let app: ChatApp;
  let doc: any;

  beforeAll(async () => {
    app = await startChatApp({ engine: await memoryEngine({ limits: { maxContentLength: 2000 }, llm: new ScriptedProvider({ tokensPerSecond: 0 }) }) });
    const reply = await call(app.base, 'GET', '/openapi.json'); // no token: the document is public
    expect(reply.status).toBe(200);
    doc = reply.body;
  });
  afterAll(() => app.close());

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    // and the validator does refuse a broken one
    const broken = structuredClone(doc);
    broken.paths['/messages'].post.responses['201'] = { content: 'nope' };
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it('has the mount path as its server, the bearer scheme, and every route', () => {
    expect(doc.servers).toEqual([{ url: '/api/chat' }]);
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/openapi.json'].get.security).toEqual([]);
    const operations = Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(operations.sort()).toEqual(
      [
        'POST /sessions',
        'GET /sessions',
        'GET /sessions/{sessionId}',
        'GET /sessions/{sessionId}/members',
        'POST /sessions/{sessionId}/members',
        'DELETE /sessions/{sessionId}/members/{userId}',
        'POST /sessions/{sessionId}/seen',
        'GET /sessions/{sessionId}/presence',
        'POST /messages',
        'GET /sessions/{sessionId}/messages',
        'GET /messages/{messageId}',
        'PUT /messages/{messageId}',
        'DELETE /messages/{messageId}',
        'GET /messages/{messageId}/thread',
        'GET /sessions/{sessionId}/search',
        'POST /messages/{messageId}/reactions',
        'GET /messages/{messageId}/reactions',
        'POST /messages/{messageId}/attachments',
        'GET /messages/{messageId}/attachments',
        'DELETE /attachments/{attachmentId}',
        'POST /sessions/{sessionId}/streams',
        'POST /streams/{streamId}/stop',
        'GET /streams/{streamId}/status',
        'GET /streams/{streamId}/metrics',
        'GET /users',
        'GET /openapi.json',
      ].sort(),
    );
  });

  it('is generated from the zod schemas: bodies, queries, limits, strictness, responses', () => {
    const post = doc.paths['/messages'].post as Operation;
    expect(post.requestBody).toEqual({ required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateMessageBody' } } } });
    const body = doc.components.schemas.CreateMessageBody;
    expect(body.additionalProperties).toBe(false);
    expect(body.required).toEqual(['sessionId', 'content']);
    expect(Object.keys(body.properties)).not.toContain('userId');
    expect(body.properties.content.maxLength).toBe(2000); // the engine's configured limit
    // The z.custom JSON-object schema brings its own JSON Schema: one definition per depth, bytes as an x- keyword.
    expect(body.properties.metadata).toMatchObject({
      type: 'object',
      propertyNames: { not: { enum: ['__proto__', 'constructor', 'prototype'] } },
      additionalProperties: { $ref: '#/components/schemas/MetadataValue1' },
      'x-maxJsonBytes': 8192,
    });
    expect(doc.components.schemas.MetadataValue10).toMatchObject({ items: false, additionalProperties: false });
    expect(body.properties.attachments.items).toEqual({ $ref: '#/components/schemas/AttachmentInput' });
    expect(post.responses['201']!.content!['application/json']!.schema).toEqual({ $ref: '#/components/schemas/Message' });
    expect(post.responses['400']).toEqual({ $ref: '#/components/responses/BadRequest' });
    expect(post.responses['413']).toEqual({ $ref: '#/components/responses/PayloadTooLarge' });
    expect(post.responses['429']).toEqual({ $ref: '#/components/responses/TooManyRequests' });
    expect(doc.components.responses.TooManyRequests.headers['Retry-After']).toBeDefined();
    // a known path answers the methods it does not take with 405 and Allow
    expect(post.responses['405']).toEqual({ $ref: '#/components/responses/MethodNotAllowed' });
    expect(doc.paths['/openapi.json'].get.responses['405']).toEqual({ $ref: '#/components/responses/MethodNotAllowed' });
    expect(doc.components.responses.MethodNotAllowed.headers.Allow).toBeDefined();

    const history = doc.paths['/sessions/{sessionId}/messages'].get as Operation;
    expect(history.parameters).toEqual([
      { name: 'sessionId', in: 'path', required: true, schema: { type: 'string', pattern: expect.any(String) } },
      { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 50 } },
      { name: 'offset', in: 'query', required: false, schema: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 0 } },
      { name: 'parentMessageId', in: 'query', required: false, schema: { type: 'string', pattern: expect.any(String) } },
      { name: 'before', in: 'query', description: expect.stringContaining('seq < before'), required: false, schema: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } },
      { name: 'after', in: 'query', description: expect.stringContaining('after < seq < before'), required: false, schema: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } },
    ]);
    const search = doc.paths['/sessions/{sessionId}/search'].get as Operation;
    expect(search.parameters!.find((p) => p.name === 'query')).toMatchObject({ in: 'query', required: true });

    const message = doc.components.schemas.Message;
    expect(message.additionalProperties).toBe(false);
    expect(message.properties.createdAt).toEqual({ type: 'string', format: 'date-time' });
    expect(message.properties.attachments.items).toEqual({ $ref: '#/components/schemas/Attachment' });
    expect(doc.components.schemas.ErrorResponse.properties.error.properties.code.enum).toContain('RATE_LIMITED');
    // POST /sessions: every field optional, so the body is too
    expect(doc.paths['/sessions'].post.requestBody.required).toBe(false);
  });

  it('every route in it answers (never 404) when called with real ids', async () => {
    const alice = await app.as('alice');
    const sessionId = (await alice.post('/sessions', { memberIds: ['bob'] })).body.id;
    const messageId = (await alice.post('/messages', { sessionId, content: 'hello world' })).body.id;
    const attachmentId = (
      await alice.post(`/messages/${messageId}/attachments`, { fileName: 'a.png', fileUrl: 'https://x.example/a.png', mimeType: 'image/png', fileSize: 1 })
    ).body.id;
    const streamId = (await alice.post(`/sessions/${sessionId}/streams`, { prompt: 'hello' })).body.streamId;
    const ids: Record<string, string> = { sessionId, messageId, attachmentId, streamId, userId: 'bob' };
    const token = await tokenFor('alice');

    // GETs must succeed; writes get a body that fails validation before touching anything, and
    // DELETEs go last (they really delete).
    const operations = Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ path, method: method.toUpperCase(), op })),
    );
    const order = (m: string) => (m === 'DELETE' ? 1 : 0);
    operations.sort((a, b) => order(a.method) - order(b.method));
    const seen: string[] = [];
    for (const { path, method, op } of operations) {
      let url = path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(ids[name]!));
      const required = (op.parameters ?? []).filter((p) => p.in === 'query' && p.required);
      if (required.length > 0) url += '?' + required.map((p) => `${p.name}=hello`).join('&');
      const reply = await call(app.base, method, url, op.requestBody ? { probe: true } : undefined, { token });
      const label = `${method} ${url} -> ${reply.status} ${JSON.stringify(reply.body).slice(0, 120)}`;
      expect(reply.status, label).not.toBe(404);
      if (method === 'GET') expect(reply.status, label).toBe(200);
      else if (op.requestBody) expect(reply.status, label).toBe(400);
      else expect(reply.status, label).toBeLessThan(300);
      seen.push(op.operationId);
    }
    expect(seen).toHaveLength(26);
  });

  it('can be generated without a server, and follows the engine\'s limits', async () => {
    const engine = await memoryEngine({ limits: { maxAttachments: 3 } });
    const doc = chatOpenApiDocument(engine, { serverUrl: '/chat', title: 'My chat', version: '2.0.0' });
    expect(doc.servers).toEqual([{ url: '/chat' }]);
    expect(doc.info).toMatchObject({ title: 'My chat', version: '2.0.0' });
    expect((doc.components.schemas as any).CreateMessageBody.properties.attachments.maxItems).toBe(3);
    expect((await new Validator().validate(structuredClone(doc) as unknown as Record<string, unknown>)).valid).toBe(true);
  });

  it('under authenticateRequest, documents no bearer scheme', async () => {
    const cookieApp = await startChatApp({ router: { authenticateRequest: () => null } });
    try {
      const reply = await call(cookieApp.base, 'GET', '/openapi.json');
      expect(reply.body.components.securitySchemes).toBeUndefined();
      expect(reply.body.security).toBeUndefined();
      expect((await new Validator().validate(reply.body)).valid).toBe(true);
    } finally {
      await cookieApp.close();
    }
  });
});
