/**
 * The LLM port: anything that streams text for a list of messages. Parley ships an
 * OpenAI-compatible provider (`parley-chat/openai`) and a `ScriptedProvider` for demos and tests.
 */

export interface LlmMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface LlmRequest {
  messages: LlmMessage[];
  /** The provider's default when absent. */
  model?: string;
  temperature?: number;
  maxTokens?: number;
}

export interface LlmUsage {
  promptTokens?: number;
  completionTokens?: number;
  totalTokens?: number;
}

/** One piece of the answer. `text` may be empty (a usage-only or finish-only delta). */
export interface LlmDelta {
  text: string;
  /** Token usage, when the upstream reports it (often only on the last delta). */
  usage?: LlmUsage;
  /** Why the upstream stopped (`stop`, `length`, …), on the last delta. */
  finishReason?: string;
}

/**
 * A provider streams deltas until the answer is complete. Contract:
 * - Aborting `signal` MUST stop the upstream request (close the HTTP connection) and end the iterator.
 * - An answer that ends without the upstream saying it finished (connection dropped) MUST throw,
 *   never end quietly as if complete.
 * - Failures throw an {@link LlmProviderError}; `retryable` tells the engine whether retrying before
 *   the first token may help (network errors, 429, 5xx).
 */
export interface LlmProvider {
  readonly name: string;
  /** The model used when a request names none. */
  readonly defaultModel?: string;
  stream(request: LlmRequest, signal: AbortSignal): AsyncIterable<LlmDelta>;
}

export class LlmProviderError extends Error {
  override readonly name = 'LlmProviderError';
  /** HTTP status of the upstream answer, when there was one. */
  readonly status: number | undefined;
  readonly retryable: boolean;
  /** The upstream's error body or object, for logs (never sent to clients as is). */
  readonly body: unknown;

  constructor(message: string, options: { status?: number; retryable: boolean; body?: unknown; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.retryable = options.retryable;
    this.body = options.body;
  }
}
