/**
 * parley-chat/express — the REST binding: `createChatRouter(engine, { authenticate })`, an Express 4/5
 * Router with its OpenAPI 3.1 document at `GET /openapi.json`.
 */
export { createChatRouter, DEFAULT_MAX_BODY_BYTES, type ChatRouterOptions, type ExpressModule } from './router.js';
export type { AuthenticateRequest } from './auth.js';
export { chatErrorHandler, type RouterLogger } from './errors.js';
export { chatOpenApiDocument, type OpenApiDocument, type OpenApiOptions } from './openapi.js';
export { responseSchemas } from './response-schemas.js';
