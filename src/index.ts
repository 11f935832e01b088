/**
 * parley-chat — embeddable real-time chat with LLM streaming. The core: the engine, its model and
 * errors, the ports adapters implement, and the in-memory storage.
 *
 * This is what applications and adapter authors call; everything else in the package is internal
 * and may change in any release.
 */
export { ChatEngine, REPLAY_LIMIT, THREAD_PAGE_LIMIT } from './engine.js';
export type { CallOptions, ChatEngineOptions, JoinResult, ReplayItem, SeenReceipt } from './engine.js';
export type { WriteBatcherOptions } from './write-batcher.js';

// LLM streaming: options, agents, the provider port, the results of the stream methods.
export type { AgentConfig, StreamingOptions } from './streams/stream-options.js';
export type { AgentContext } from './streams/model-context.js';
export type { StreamCallbacks, StreamSnapshot, StreamStart } from './streams/stream-coordinator.js';
export type { AgentPricing, StreamChunk, StreamMetrics, StreamPart, StreamStatusView, ToolCallMetric } from './streams/active-stream.js';
// Tools an agent may call.
export { defineTool, type Tool, type ToolContext } from './tools/define-tool.js';
export { LlmProviderError, type LlmDelta, type LlmMessage, type LlmProvider, type LlmRequest, type LlmTool, type LlmToolCall, type LlmToolCallDelta, type LlmUsage } from './ports/llm.js';
export { ScriptedProvider, type ScriptedProviderOptions } from './providers/scripted-provider.js';

export type * from './model.js';
export type { ChatEvents, ChatEventName } from './events.js';
export {
  ChatError,
  isChatError,
  toChatError,
  CHAT_ERROR_CODES,
  HTTP_STATUS,
  type ChatErrorBody,
  type ChatErrorCode,
  type ChatErrorOptions,
} from './errors.js';
export { consoleLogger, type Logger } from './logger.js';

// Inputs and their validation (`schemas` for the default limits; `engine.schemas` for yours).
export {
  schemas,
  DEFAULT_LIMITS,
  MAX_USER_LOOKUP,
  type AttachmentInput,
  type CreateMessageInput,
  type CreateSessionInput,
  type EngineSchemas,
  type HistoryOptions,
  type Limits,
  type ReactionAction,
  type SearchOptions,
  type StreamConfig,
  type StreamRequestInput,
} from './schemas.js';

// Policies: authorization, rate limits, moderation, authentication, configuration.
export {
  membersPolicy,
  openPolicy,
  type AuthorizeContext,
  type AuthorizeFn,
  type AuthorizePolicy,
  type SessionAction,
  type StorageCheck,
} from './authorization.js';
export {
  DEFAULT_RATE_LIMITS,
  type RateLimitAction,
  type RateLimitConfig,
  type RateLimitRule,
  type RateLimitStoreFactory,
  type RateLimiterStoreOptions,
} from './rate-limits.js';
export type { BeforeMessageHook, ModerationContext, ModerationOptions } from './moderation/pipeline.js';
export { ProfanityFilter, type ProfanityFilterOptions } from './moderation/profanity-filter.js';
export { jwtAuthenticator, type Authenticate, type AuthenticatedUser, type JwtAuthenticatorOptions } from './auth/jwt.js';
export { configFromEnv, type EnvConfig } from './config.js';

// Ports, for adapters of your own, and the storage that needs nothing installed.
export type * from './ports/storage.js';
export { assertSessionAccess } from './ports/storage.js';
export type * from './ports/transport.js';
export { MemoryStorage } from './storage/memory/index.js';
