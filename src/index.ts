/**
 * parley-chat — embeddable real-time chat with LLM streaming. The core: the engine, its model and
 * errors, the ports adapters implement, and the in-memory storage.
 */
export { ChatEngine, searchTerms, REPLAY_LIMIT, THREAD_PAGE_LIMIT } from './engine.js';
export type {
  AgentConfig,
  CallOptions,
  ChatEngineOptions,
  JoinResult,
  ReplayItem,
  SeenReceipt,
  StreamCallbacks,
  StreamSnapshot,
  StreamStart,
} from './engine.js';
export type { StreamChunk, StreamMetrics, StreamStatusView } from './streams/active-stream.js';
export { LlmProviderError, type LlmDelta, type LlmMessage, type LlmProvider, type LlmRequest, type LlmUsage } from './ports/llm.js';
export { ScriptedProvider, type ScriptedProviderOptions } from './providers/scripted-provider.js';
export * from './model.js';
export * from './errors.js';
export { consoleLogger, type Logger } from './logger.js';
export type { ChatEvents, ChatEventName } from './events.js';
export type * from './ports/storage.js';
export { assertSessionAccess } from './ports/storage.js';
export type * from './ports/transport.js';
export {
  membersPolicy,
  openPolicy,
  type AuthorizeContext,
  type AuthorizeFn,
  type AuthorizePolicy,
  type SessionAction,
} from './authorization.js';
export {
  RateLimiter,
  DEFAULT_RATE_LIMITS,
  type RateLimitAction,
  type RateLimitConfig,
  type RateLimitRule,
  type RateLimitStoreFactory,
  type RateLimiterStoreOptions,
} from './rate-limits.js';
export * from './schemas.js';
export { jwtAuthenticator, type Authenticate, type AuthenticatedUser, type JwtAuthenticatorOptions } from './auth/jwt.js';
export { configFromEnv, type EnvConfig } from './config.js';
export { ModerationPipeline, type BeforeMessageHook, type ModerationContext, type ModerationOptions } from './moderation/pipeline.js';
export { ProfanityFilter, type ProfanityFilterOptions } from './moderation/profanity-filter.js';
export { normalizeText } from './moderation/normalize.js';
export { WriteBatcher, type WriteBatcherOptions, type WriteBatcherInternals } from './write-batcher.js';
export { newId } from './ids.js';
export { MemoryStorage } from './storage/memory/index.js';
