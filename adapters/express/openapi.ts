import { z } from 'zod';
import type { ChatEngine } from '../../src/engine.js';
import type { EngineSchemas } from '../../src/schemas.js';
import { responseSchemas } from './response-schemas.js';
import { buildRoutes, type ChatRoute } from './routes.js';

/** An OpenAPI 3.1 document (only the parts Parley writes are typed). */
export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description?: string };
  servers: { url: string }[];
  paths: Record<string, Record<string, unknown>>;
  components: Record<string, Record<string, unknown>>;
  security?: Record<string, string[]>[];
  tags: { name: string }[];
}

export interface OpenApiOptions {
  /** Where the router is mounted, e.g. `/api/chat` (the router fills it from `req.baseUrl`). */
  serverUrl?: string;
  title?: string;
  /** Version of the REST API (not of the package). */
  version?: string;
  /** Document the Bearer scheme (true when the router authenticates with `authenticate`). */
  bearer?: boolean;
}

type JsonSchema = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

const COMMON: Parameters<typeof z.toJSONSchema>[1] = {
  target: 'draft-2020-12',
  // The JSON-metadata schema is a z.custom whose JSON Schema comes with it as metadata.
  unrepresentable: 'any',
  uri: (id) => `#/components/schemas/${id}`,
  override: (ctx) => {
    // zod spells out an ISO-date regex next to `format`; the format says it and reads better.
    if (ctx.jsonSchema.format === 'date-time') delete ctx.jsonSchema.pattern;
  },
};

const LOCAL_DEFINITION = '#/$defs/';

/**
 * Moves the `$defs` a schema brings along (the metadata schema's per-depth definitions) into
 * `components.schemas`, where its references can reach them from anywhere in the document.
 */
function hoistDefinitions(node: unknown, components: Record<string, JsonSchema>): void {
  if (Array.isArray(node)) {
    for (const item of node) hoistDefinitions(item, components);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const schema = node as JsonSchema;
  if (typeof schema.$ref === 'string' && schema.$ref.startsWith(LOCAL_DEFINITION)) {
    schema.$ref = `#/components/schemas/${schema.$ref.slice(LOCAL_DEFINITION.length)}`;
  }
  const definitions = schema.$defs as Record<string, JsonSchema> | undefined;
  delete schema.$defs;
  for (const [name, definition] of Object.entries(definitions ?? {})) {
    hoistDefinitions(definition, components);
    if (Object.hasOwn(components, name) && JSON.stringify(components[name]) !== JSON.stringify(definition)) {
      throw new Error(`OpenAPI component name used twice: ${name}`);
    }
    components[name] = definition;
  }
  for (const value of Object.values(schema)) hoistDefinitions(value, components);
}

function clean(schema: JsonSchema): JsonSchema {
  const { $schema: _s, $id: _i, ...rest } = schema;
  return rest;
}

function componentSchemas(registry: z.core.$ZodRegistry<{ id: string }>, io: 'input' | 'output'): Record<string, JsonSchema> {
  const { schemas } = z.toJSONSchema(registry, { ...COMMON, io }) as { schemas: Record<string, JsonSchema> };
  return Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, clean(schema)]));
}

function inputSchema(schema: z.ZodType): JsonSchema {
  return clean(z.toJSONSchema(schema, { ...COMMON, io: 'input' }) as JsonSchema);
}

function parameters(schema: z.ZodObject, where: 'path' | 'query'): unknown[] {
  const json = inputSchema(schema) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, { description, ...property }]) => ({
    name,
    in: where,
    ...(typeof description === 'string' && { description }),
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: property,
  }));
}

const ERROR_RESPONSES: Record<number, { name: string; description: string }> = {
  400: { name: 'BadRequest', description: 'VALIDATION: the request (body, query or an id) is not valid' },
  401: { name: 'Unauthorized', description: 'UNAUTHORIZED: missing or invalid credentials' },
  403: { name: 'Forbidden', description: 'FORBIDDEN: the caller may not do this in this session' },
  404: { name: 'NotFound', description: 'NOT_FOUND: no such session, message or attachment (or route)' },
  405: { name: 'MethodNotAllowed', description: 'VALIDATION: the path does not take this method; `Allow` lists the ones it takes' },
  409: { name: 'Conflict', description: 'CONFLICT: the resource is in a state that forbids this (e.g. deleted)' },
  413: { name: 'PayloadTooLarge', description: 'VALIDATION: the body is larger than the router accepts' },
  415: { name: 'UnsupportedMediaType', description: 'VALIDATION: the body is not JSON' },
  429: { name: 'TooManyRequests', description: "RATE_LIMITED or LIMIT_EXCEEDED: the caller's budget is spent" },
  500: { name: 'InternalError', description: 'INTERNAL: an unexpected failure (logged on the server)' },
  503: { name: 'Unavailable', description: 'UNAVAILABLE: storage or the rate-limit store cannot be reached' },
};

const errorResponse = (status: number) => ({ $ref: `#/components/responses/${ERROR_RESPONSES[status]!.name}` });

/**
 * The OpenAPI 3.1 document of a route table, generated from the zod schemas the handlers parse with
 * (request side as zod's input type, response side as its output type).
 */
export function buildOpenApiDocument(routes: readonly ChatRoute[], schemas: EngineSchemas, options: OpenApiOptions = {}): OpenApiDocument {
  const requests = z.registry<{ id: string }>();
  // Shared request parts get their own name instead of the first route's.
  requests.add(schemas.attachment, { id: 'AttachmentInput' });
  for (const r of routes) {
    if (r.body && !requests.has(r.body)) requests.add(r.body, { id: `${capitalize(r.operationId)}Body` });
  }
  const responses = z.registry<{ id: string }>();
  for (const [name, schema] of Object.entries(responseSchemas)) responses.add(schema, { id: name });

  const requestComponents = componentSchemas(requests, 'input');
  const responseComponents = componentSchemas(responses, 'output');
  for (const name of Object.keys(requestComponents)) {
    if (Object.hasOwn(responseComponents, name)) throw new Error(`OpenAPI component name used twice: ${name}`);
  }

  const paths: OpenApiDocument['paths'] = {};
  for (const r of routes) {
    const errors = new Set([400, 401, 403, 404, 405, ...r.errors, 500, 503]);
    if (r.body) {
      errors.add(413);
      errors.add(415);
    }
    const bodyName = r.body ? requests.get(r.body)!.id : null;
    const operation: Record<string, unknown> = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(bodyName && {
        requestBody: {
          required: ((requestComponents[bodyName]?.required as string[] | undefined) ?? []).length > 0,
          content: { 'application/json': { schema: ref(bodyName) } },
        },
      }),
      responses: {
        [r.status]: {
          description: r.status === 201 ? 'Created' : 'OK',
          content: { 'application/json': { schema: ref(r.response) } },
        },
        ...Object.fromEntries([...errors].sort().map((status) => [status, errorResponse(status)])),
      },
    };
    (paths[toOpenApiPath(r.path)] ??= {})[r.method] = operation;
  }
  paths['/openapi.json'] = {
    get: {
      operationId: 'getOpenApiDocument',
      summary: 'This document',
      tags: ['Meta'],
      security: [],
      responses: {
        200: { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } },
        405: errorResponse(405),
      },
    },
  };

  // Copies: zod may hand out its metadata objects themselves, and hoisting edits in place.
  const components = structuredClone({ ...responseComponents, ...requestComponents });
  const documentPaths = structuredClone(paths);
  hoistDefinitions(components, components);
  hoistDefinitions(documentPaths, components);

  const tags = [...new Set([...routes.map((r) => r.tag), 'Meta'])].map((name) => ({ name }));
  return {
    openapi: '3.1.0',
    info: {
      title: options.title ?? 'Parley chat API',
      version: options.version ?? '1.0.0',
      description:
        'Errors are `{ error: { code, message, details? } }`; 429 answers carry `Retry-After` (seconds). ' +
        'Identity comes only from the credentials, never from a body.',
    },
    servers: [{ url: options.serverUrl ?? '/' }],
    paths: documentPaths,
    components: {
      schemas: components,
      responses: Object.fromEntries(
        Object.entries(ERROR_RESPONSES).map(([status, { name, description }]) => [
          name,
          {
            description,
            ...(status === '429' && {
              headers: { 'Retry-After': { description: 'Seconds until the budget allows the action again', schema: { type: 'integer', minimum: 1 } } },
            }),
            ...(status === '405' && {
              headers: { Allow: { description: 'The methods the path takes, e.g. `GET, HEAD, POST`', schema: { type: 'string' } } },
            }),
            content: { 'application/json': { schema: ref('ErrorResponse') } },
          },
        ]),
      ),
      ...(options.bearer !== false && {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      }),
    },
    ...(options.bearer !== false && { security: [{ bearerAuth: [] }] }),
    tags,
  };
}

/**
 * The router's OpenAPI document without a running server (to publish it or generate a client at
 * build time); the router serves the same one at `GET /openapi.json`.
 * ```ts
 * writeFileSync('openapi.json', JSON.stringify(chatOpenApiDocument(engine, { serverUrl: '/api/chat' }), null, 2));
 * ```
 */
export function chatOpenApiDocument(engine: Pick<ChatEngine, 'schemas'>, options: OpenApiOptions = {}): OpenApiDocument {
  return buildOpenApiDocument(buildRoutes(engine.schemas), engine.schemas, options);
}
