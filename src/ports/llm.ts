/**
 * The LLM port: anything that streams text (and tool calls) for a list of messages. Parley ships an
 * OpenAI-compatible provider (`parley-chat/openai`), an Anthropic provider (`parley-chat/anthropic`)
 * and a `ScriptedProvider` for demos and tests.
 */

/** A tool call the model made: `arguments` is the JSON text as the model wrote it. */
export interface LlmToolCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * One message sent upstream. An assistant message may carry the tool calls it made; each call's
 * result follows as a `tool` message (providers translate both into their own shapes: OpenAI's
 * `tool_calls` and `role: "tool"`, Anthropic's `tool_use` and `tool_result` blocks). A user message
 * carries its author's `name` when several people wrote in the session (OpenAI's `name` field;
 * Anthropic has none: the text is prefixed `[name]: `).
 */
export type LlmMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string; name?: string }
  | { role: 'assistant'; content: string; toolCalls?: LlmToolCall[] }
  | { role: 'tool'; toolCallId: string; toolName: string; content: string; isError?: boolean };

/** A tool the model may call: `inputSchema` is a JSON Schema of its input (an object). */
export interface LlmTool {
  name: string;
  description?: string;
  inputSchema: Record<string, unknown>;
}

export interface LlmRequest {
  messages: LlmMessage[];
  /** Tools the model may call; absent or empty: none. */
  tools?: LlmTool[];
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

/**
 * A piece of a tool call as it streams. `index` tells calls of one answer apart (0, 1, … in the
 * order they start); the first piece of a call carries `id` and `name`, and the `argumentsDelta`
 * of all its pieces concatenate to the arguments' JSON text.
 */
export interface LlmToolCallDelta {
  index: number;
  id?: string;
  name?: string;
  argumentsDelta?: string;
}

/** One piece of the answer. `text` may be empty (a usage-only, finish-only or tool-call delta). */
export interface LlmDelta {
  text: string;
  /** A piece of a tool call (see {@link LlmToolCallDelta}). */
  toolCall?: LlmToolCallDelta;
  /** Token usage, when the upstream reports it (often only on the last delta). */
  usage?: LlmUsage;
  /** Why the upstream stopped (`stop`, `length`, `tool_calls`, `tool_use`, …), on the last delta. */
  finishReason?: string;
}

/**
 * A provider streams deltas until the answer is complete. Contract:
 * - Aborting `signal` MUST stop the upstream request (close the HTTP connection) and end the iterator.
 * - An answer that ends without the upstream saying it finished (connection dropped) MUST throw,
 *   never end quietly as if complete.
 * - Failures throw an {@link LlmProviderError}; `retryable` tells the engine whether retrying before
 *   the first token may help (network errors, 429, 5xx).
 * - A provider that supports tools sends `request.tools` upstream and yields tool calls as
 *   `toolCall` pieces; one that does not ignores them and answers in text.
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
