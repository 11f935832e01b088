import fc from 'fast-check';
import { schemas, ScriptedProvider } from 'parley-chat';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, memoryEngine, startChatApp, tokenFor, type ChatApp, type Reply } from './harness.js';
import { OpenApiData, type Schema } from './openapi-data.js';

/**
 * Every route against its own OpenAPI document, over real HTTP, as a schema-driven tester would
 * check it: a request the document calls valid is never refused as VALIDATION and never a 5xx
 * (404, 403 and 409 are fine: most ids are random); a request breaking exactly one constraint of the
 * document is a 400 VALIDATION; and every answer matches the schema the document declares for its
 * status.
 */

const NUM_RUNS = 40;
const DECIMAL_INTEGER = /^(?:0|[1-9][0-9]{0,15})$/;

interface Operation {
  method: string;
  path: string;
  op: Schema;
  params: Schema[];
  body: Schema | null;
}

interface Request {
  path: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
}

describe('every route against its OpenAPI document', () => {
  let app: ChatApp;
  let doc: Schema;
  let data: OpenApiData;
  let token: string;
  let operations: Operation[];

  beforeAll(async () => {
    const engine = await memoryEngine({ llm: new ScriptedProvider({ tokensPerSecond: 0 }), maxConcurrentStreams: 1000, maxStreamsPerUser: 1000, streamLeaseMs: 0 });
    app = await startChatApp({ engine });
    token = await tokenFor('alice');
    const alice = await app.as('alice');
    const session = (await alice.post('/sessions', { id: 'conformance', memberIds: ['bob', 'carol'] })).body;
    const messages: { id: string }[] = [];
    for (const content of ['first words', 'second words', 'third words']) messages.push((await alice.post('/messages', { sessionId: session.id, content })).body);
    const attachment = (await alice.post(`/messages/${messages[0]!.id}/attachments`, { fileName: 'a.png', fileUrl: 'https://cdn.example.com/a.png', mimeType: 'image/png', fileSize: 1 })).body;
    const stream = (await alice.post(`/sessions/${session.id}/streams`, { prompt: 'hello' })).body;
    doc = (await call(app.base, 'GET', '/openapi.json')).body;
    const messageIds = messages.map((m) => m.id);
    data = new OpenApiData(doc, {
      sessionId: [session.id],
      messageId: messageIds,
      parentMessageId: messageIds,
      attachmentId: [attachment.id],
      streamId: [stream.streamId],
      // never alice: her leaving her own session would turn every later call into a 403
      userId: ['bob', 'carol'],
      query: ['words', 'first'],
    });
    operations = Object.entries(doc.paths as Record<string, Record<string, Schema>>).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method: method.toUpperCase(),
        path,
        op,
        params: op.parameters ?? [],
        body: op.requestBody?.content['application/json'].schema ?? null,
      })),
    );
  });
  afterAll(() => app.close());

  /** Values of a path or query parameter: strings in the URL, as the router reads them back. */
  const asParameter = (value: unknown): string | null =>
    typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : null;
  const effective = (schema: Schema, text: string): unknown =>
    (schema.type === 'integer' || schema.type === 'number') && DECIMAL_INTEGER.test(text) ? Number(text) : text;
  /**
   * What a URL can carry: text without unpaired surrogates (no percent-encoding for them), and in
   * the path no dot segments (a URL parser removes them before the request is sent).
   */
  const addressable = (location: string, text: string) =>
    text.isWellFormed() && (location !== 'path' || (text !== '' && text !== '.' && text !== '..'));

  function validParameter(p: Schema): fc.Arbitrary<string> {
    return data
      .valid$(p.schema, p.name)
      .map(asParameter)
      .filter((text): text is string => text !== null && addressable(p.in, text) && data.valid(p.schema, effective(p.schema, text)));
  }

  function validRequest(o: Operation): fc.Arbitrary<Request> {
    const path = fc.record(Object.fromEntries(o.params.filter((p) => p.in === 'path').map((p) => [p.name, validParameter(p)])));
    const queryParams = o.params.filter((p) => p.in === 'query');
    const model: Record<string, fc.Arbitrary<string>> = Object.fromEntries(queryParams.map((p) => [p.name, validParameter(p)]));
    const query = fc.record(model, { requiredKeys: queryParams.filter((p) => p.required).map((p): keyof typeof model => p.name) });
    const body = o.body
      ? data.valid$(o.body).filter((b) => Buffer.byteLength(JSON.stringify(b)) < 60_000)
      : fc.constant(undefined);
    return fc.record({ path, query, body }) as fc.Arbitrary<Request>;
  }

  /** A valid request with exactly one thing broken: one parameter, a missing required one, or the body. */
  function invalidRequest(o: Operation): fc.Arbitrary<Request> | null {
    const valid = validRequest(o);
    const broken: fc.Arbitrary<Request>[] = [];
    for (const p of o.params) {
      const bad = data
        .invalid$(p.schema, p.name)
        .map(asParameter)
        .filter((text): text is string => text !== null && addressable(p.in, text) && !data.valid(p.schema, effective(p.schema, text)));
      const where = p.in === 'path' ? 'path' : 'query';
      broken.push(fc.tuple(valid, bad).map(([request, text]) => ({ ...request, [where]: { ...request[where], [p.name]: text } })));
      if (p.in === 'query' && p.required) {
        broken.push(valid.map(({ query: { [p.name]: _gone, ...rest }, ...request }) => ({ ...request, query: rest })));
      }
    }
    if (o.body) broken.push(fc.tuple(valid, data.invalid$(o.body)).map(([request, body]) => ({ ...request, body })));
    return broken.length > 0 ? fc.oneof(...broken) : null;
  }

  async function send(o: Operation, request: Request): Promise<Reply> {
    const path = o.path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(request.path[name]!));
    const query = new URLSearchParams(request.query).toString();
    return call(app.base, o.method, query ? `${path}?${query}` : path, o.body ? request.body : undefined, { token });
  }

  function expectDocumentedAnswer(o: Operation, reply: Reply, label: string): void {
    const schema = data.responseSchema(o.op, reply.status);
    expect(schema, `${label}: status ${reply.status} is not documented`).toBeDefined();
    expect(data.valid(schema!, reply.body), `${label}: the body does not match the documented schema`).toBe(true);
  }

  it('covers every operation of the document', () => {
    expect(operations).toHaveLength(26);
  });

  it('valid requests are never refused as invalid, never fail, and answer as documented', async () => {
    // Every generator is built before the first request: building one can take a moment, and a
    // keep-alive connection left idle that long may be closed under the next request.
    const cases = operations.map((o) => ({ o, requests: validRequest(o) }));
    for (const { o, requests } of cases) {
      await fc.assert(
        fc.asyncProperty(requests, async (request) => {
          const reply = await send(o, request);
          const label = `${o.method} ${o.path} ${JSON.stringify(request).slice(0, 300)} -> ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`;
          expect(reply.status, label).toBeLessThan(500);
          expect(reply.status === 400 || reply.body?.error?.code === 'VALIDATION', label).toBe(false);
          expectDocumentedAnswer(o, reply, label);
        }),
        { seed: 20_251_207, numRuns: NUM_RUNS, endOnFailure: true },
      );
    }
  });

  it('a request breaking exactly one constraint of the document is a 400 VALIDATION', async () => {
    const cases = operations.flatMap((o) => {
      const invalid = invalidRequest(o);
      return invalid ? [{ o, invalid }] : [];
    });
    expect(cases).toHaveLength(operations.length - 2); // GET /sessions and GET /openapi.json take no input
    for (const { o, invalid } of cases) {
      await fc.assert(
        fc.asyncProperty(invalid, async (request) => {
          const reply = await send(o, request);
          const label = `${o.method} ${o.path} ${JSON.stringify(request).slice(0, 300)} -> ${reply.status} ${JSON.stringify(reply.body).slice(0, 300)}`;
          expect(reply.status, label).toBe(400);
          expect(reply.body.error.code, label).toBe('VALIDATION');
          expectDocumentedAnswer(o, reply, label);
        }),
        { seed: 20_251_207, numRuns: NUM_RUNS, endOnFailure: true },
      );
    }
  });

  it("metadata's JSON Schema says exactly what the engine checks, at every depth", () => {
    const body = data.resolve({ $ref: '#/components/schemas/CreateSessionBody' });
    const metadataSchema = body.properties.metadata;
    const key = fc.oneof(fc.constantFrom('a', 'b', '__proto__', 'constructor', 'prototype', 'k\u0000', '\uD800', '\u{1F44D}'), fc.string({ maxLength: 3 }));
    const leaf = fc.oneof(fc.constantFrom<unknown>(null, true, 1.5, -0, 'x', '', 'a\u0000', '\uDC00b', '\u{1F600}'), fc.string({ maxLength: 4 }));
    const { value } = fc.letrec<{ value: unknown }>((tie) => ({
      value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('value'), { maxLength: 2 }), fc.dictionary(key, tie('value'), { maxKeys: 2 })),
    }));
    const nested = (inner: unknown, levels: number): unknown => (levels === 0 ? inner : { n: nested(inner, levels - 1) });
    const deep = fc.tuple(fc.integer({ min: 8, max: 12 }), leaf, fc.boolean()).map(([levels, inner, asArray]) =>
      asArray ? { a: [nested(inner, levels - 2)] } : nested(inner, levels),
    );
    fc.assert(
      fc.property(fc.oneof(fc.dictionary(key, value, { maxKeys: 3 }), deep), (metadata) => {
        const engine = schemas.createSession.safeParse({ createdBy: 'alice', metadata }).success;
        expect(data.valid(metadataSchema, JSON.parse(JSON.stringify(metadata))), JSON.stringify(metadata)).toBe(engine);
      }),
      { seed: 5, numRuns: 2000 },
    );
  });
});
