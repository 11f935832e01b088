import type { EventSourceMessage } from 'eventsource-parser';
import { LlmProviderError, type LlmDelta, type LlmProvider, type LlmRequest, type LlmUsage } from '../../../src/ports/llm.js';
import { isCount, isRecord, MAX_ERROR_BODY_BYTES, positive, quote, redactValue, retryAfterHint, sseRequest, tryJson } from '../shared/sse-request.js';
import { toAnthropicMessages, toAnthropicTools } from './messages.js';

const DEFAULT_BASE_URL = 'https://api.anthropic.com';
const DEFAULT_VERSION = '2023-06-01';
const DEFAULT_MAX_TOKENS = 4096;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
/** Error types worth a retry before the first token (HTTP 429, 500, 529 and their in-stream twins). */
const TRANSIENT_ERRORS = new Set(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error']);

/** Options of {@link AnthropicProvider}. */
export interface AnthropicProviderOptions {
  /** Sent as `x-api-key`. Never logged; redacted from error messages. Optional for a proxy that adds it. */
  apiKey?: string;
  /** The model used when a request names none, e.g. `claude-sonnet-4-5`. */
  model: string;
  /** The API root, without `/v1/messages`. Default `https://api.anthropic.com`. */
  baseURL?: string;
  /** `max_tokens`, which the API requires, when a request names none. Default 4096. */
  maxTokens?: number;
  /** The `anthropic-version` header. Default `2023-06-01`. */
  anthropicVersion?: string;
  /** Extra HTTP headers (e.g. `anthropic-beta`), sent on every request; they win over the provider's own. */
  headers?: Record<string, string>;
  /** Fields merged into every request body last (`top_k`, `metadata`, …); never `stream` or `messages`. */
  extraBody?: Record<string, unknown>;
  /** A `fetch` implementation (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** Longest wait from sending the request to the first byte of the answer's body, in ms. Default 30 000. */
  timeoutMs?: number;
  /** Longest gap between two reads of the answer's body once it has started, in ms. Default 60 000. */
  idleTimeoutMs?: number;
  /** The provider's `LlmProvider.name`. Default `anthropic`. */
  name?: string;
}

/**
 * An `LlmProvider` for Anthropic's Messages API: `POST {baseURL}/v1/messages` with
 * `stream: true`, answered with named server-sent events.
 *
 * What it guarantees:
 * - `text_delta`s are the answer's text; `tool_use` blocks and their `input_json_delta`s are yielded as
 *   `toolCall` pieces (index 0, 1, … in the order the calls start); `thinking` blocks and `ping`s yield nothing.
 * - Usage: prompt tokens from `message_start` (cache reads and writes included), completion tokens from
 *   `message_delta`, which also carries the finish reason (`end_turn`, `tool_use`, `max_tokens`, …).
 * - System messages go as `system`; tool calls as `tool_use` blocks; tool results as `tool_result` blocks of a
 *   user turn (results of parallel calls in one turn).
 * - The answer is complete only once `message_delta` names a stop reason or `message_stop` arrives; a body that
 *   ends before throws a retryable `LlmProviderError`. An `error` event throws: `overloaded_error`,
 *   `api_error`, `rate_limit_error` are retryable, like HTTP 429, 5xx and 529.
 * - Timeouts, aborts and key redaction as in the OpenAI-compatible provider; upstream bodies stay in the error
 *   (for the log), never in what members see.
 *
 * @example
 * ```ts
 * import { AnthropicProvider } from 'parley-chat/anthropic';
 *
 * const provider = new AnthropicProvider({ apiKey: process.env.ANTHROPIC_API_KEY, model: 'claude-sonnet-4-5' });
 * ```
 */
export class AnthropicProvider implements LlmProvider {
  readonly name: string;
  readonly defaultModel: string;
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof globalThis.fetch;
  readonly #maxTokens: number;
  readonly #timeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #extraBody: Record<string, unknown>;
  readonly #secret: string | undefined;

  constructor(options: AnthropicProviderOptions) {
    if (typeof options.model !== 'string' || options.model === '') throw new TypeError('AnthropicProvider: `model` must be a non-empty string');
    this.name = options.name ?? 'anthropic';
    this.defaultModel = options.model;
    this.#url = messagesUrl(options.baseURL ?? DEFAULT_BASE_URL);
    this.#maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
    if (!Number.isSafeInteger(this.#maxTokens) || this.#maxTokens < 1) throw new TypeError('AnthropicProvider: `maxTokens` must be a positive integer');
    this.#timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs', 'AnthropicProvider');
    this.#idleTimeoutMs = positive(options.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS, 'idleTimeoutMs', 'AnthropicProvider');
    this.#extraBody = { ...options.extraBody };
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') throw new TypeError('AnthropicProvider: no `fetch` available; pass one in the options');
    this.#fetch = fetchImpl;
    this.#secret = options.apiKey === undefined || options.apiKey === '' ? undefined : options.apiKey;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'anthropic-version': options.anthropicVersion ?? DEFAULT_VERSION,
    };
    if (this.#secret !== undefined) headers['x-api-key'] = this.#secret;
    for (const [key, value] of Object.entries(options.headers ?? {})) headers[key.toLowerCase()] = value;
    this.#headers = headers;
  }

  stream(request: LlmRequest, signal: AbortSignal): AsyncIterable<LlmDelta> {
    return this.#run(request, signal);
  }

  #body(request: LlmRequest): Record<string, unknown> {
    const { system, messages } = toAnthropicMessages(request.messages);
    const body: Record<string, unknown> = { model: request.model ?? this.defaultModel, max_tokens: request.maxTokens ?? this.#maxTokens };
    if (system !== undefined) body.system = system;
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.tools !== undefined && request.tools.length > 0) body.tools = toAnthropicTools(request.tools);
    Object.assign(body, this.#extraBody);
    body.messages = messages;
    body.stream = true;
    return body;
  }

  async *#run(request: LlmRequest, signal: AbortSignal): AsyncGenerator<LlmDelta, void, undefined> {
    let finished = false;
    const answer = new AnswerState();
    const items = sseRequest({
      fetch: this.#fetch,
      url: this.#url,
      headers: this.#headers,
      body: JSON.stringify(this.#body(request)),
      signal,
      timeoutMs: this.#timeoutMs,
      idleTimeoutMs: this.#idleTimeoutMs,
      redact: (text) => this.#redact(text),
      httpError: (response, text) => this.#httpError(response, text),
      isFinished: () => finished,
      unfinished: 'the upstream closed the stream before the answer finished (no stop reason, no message_stop)',
    });
    for await (const item of items) {
      if (item.json !== undefined) throw this.#unreadable(item.json, 'sent JSON instead of a stream');
      const result = this.#interpret(item.event, answer);
      if (result === 'stop') {
        finished = true;
        return;
      }
      if (result === undefined) continue;
      if (result.finishReason !== undefined) finished = true;
      yield result;
      signal.throwIfAborted();
    }
  }

  /** One event → a delta, nothing, the end, or a thrown error. */
  #interpret(event: EventSourceMessage, answer: AnswerState): LlmDelta | 'stop' | undefined {
    const data = tryJson(event.data);
    if (!isRecord(data)) {
      if (event.data.trim() === '') return undefined;
      throw this.#unreadable(event.data, 'sent an event that is not JSON');
    }
    const type = typeof data.type === 'string' ? data.type : event.event;
    switch (type) {
      case 'message_start': {
        const message = isRecord(data.message) ? data.message : {};
        answer.usage = readUsage(message.usage, answer.usage);
        return undefined;
      }
      case 'content_block_start': {
        const block = isRecord(data.content_block) ? data.content_block : {};
        if (block.type === 'text' && typeof block.text === 'string' && block.text !== '') return { text: block.text };
        if (block.type !== 'tool_use') return undefined;
        const index = answer.toolIndex(data.index);
        const toolCall = { index, ...(typeof block.id === 'string' && { id: block.id }), ...(typeof block.name === 'string' && { name: block.name }) };
        // Input given whole at the start (not streamed) rides on the first piece.
        const input = isRecord(block.input) && Object.keys(block.input).length > 0 ? JSON.stringify(block.input) : undefined;
        return { text: '', toolCall: input === undefined ? toolCall : { ...toolCall, argumentsDelta: input } };
      }
      case 'content_block_delta': {
        const delta = isRecord(data.delta) ? data.delta : {};
        if (delta.type === 'text_delta' && typeof delta.text === 'string' && delta.text !== '') return { text: delta.text };
        if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string' && delta.partial_json !== '') {
          return { text: '', toolCall: { index: answer.toolIndex(data.index), argumentsDelta: delta.partial_json } };
        }
        return undefined; // thinking, signatures, empty pieces
      }
      case 'message_delta': {
        answer.usage = readUsage(data.usage, answer.usage);
        const delta = isRecord(data.delta) ? data.delta : {};
        const out: LlmDelta = { text: '' };
        if (answer.usage !== undefined) out.usage = answer.usage;
        if (typeof delta.stop_reason === 'string' && delta.stop_reason !== '') out.finishReason = delta.stop_reason;
        return out.usage || out.finishReason ? out : undefined;
      }
      case 'message_stop':
        return 'stop';
      case 'error':
        throw this.#streamError(data.error ?? data);
      default:
        return undefined; // ping, content_block_stop, and event types added later
    }
  }

  #httpError(response: Response, text: string): LlmProviderError {
    const status = response.status;
    const redacted = this.#redact(text);
    const parsed = tryJson(redacted);
    const error = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : undefined;
    const upstream = typeof error?.message === 'string' ? quote(error.message) : redacted.trim() === '' ? response.statusText : quote(redacted.trim());
    return new LlmProviderError(`the upstream answered HTTP ${status}: ${upstream || 'no message'}${retryAfterHint(response.headers)}`, {
      status,
      retryable: status === 408 || status === 409 || status === 429 || status >= 500,
      body: parsed === undefined ? redacted : parsed,
    });
  }

  /** An `error` event inside a 200 stream. */
  #streamError(error: unknown): LlmProviderError {
    const value = redactValue(error, this.#secret);
    const type = isRecord(value) && typeof value.type === 'string' ? value.type : undefined;
    const message = isRecord(value) && typeof value.message === 'string' ? quote(value.message) : (type ?? quote(JSON.stringify(value) ?? ''));
    return new LlmProviderError(`the upstream reported an error mid-stream: ${type && type !== message ? `${type}: ` : ''}${message}`, {
      retryable: type !== undefined && TRANSIENT_ERRORS.has(type),
      body: value,
    });
  }

  #unreadable(text: string, what: string): LlmProviderError {
    return new LlmProviderError(this.#redact(`the upstream ${what}: ${quote(text)}`), {
      retryable: false,
      body: this.#redact(text.slice(0, MAX_ERROR_BODY_BYTES)),
    });
  }

  #redact(text: string): string {
    return this.#secret === undefined ? text : text.split(this.#secret).join('[redacted]');
  }
}

/** What one answer's events build up: usage so far, and which content block is which tool call. */
class AnswerState {
  usage: LlmUsage | undefined;
  readonly #tools = new Map<unknown, number>();

  /** Tool calls are numbered 0, 1, … in the order their blocks start (text blocks take no number). */
  toolIndex(blockIndex: unknown): number {
    let index = this.#tools.get(blockIndex);
    if (index === undefined) {
      index = this.#tools.size;
      this.#tools.set(blockIndex, index);
    }
    return index;
  }
}

/** Prompt tokens count cache reads and writes: all of them are the prompt the model read. */
function readUsage(value: unknown, previous: LlmUsage | undefined): LlmUsage | undefined {
  if (!isRecord(value)) return previous;
  const usage: LlmUsage = { ...previous };
  const input = [value.input_tokens, value.cache_creation_input_tokens, value.cache_read_input_tokens].filter(isCount);
  if (input.length > 0) usage.promptTokens = input.reduce((a, b) => a + b, 0);
  if (isCount(value.output_tokens)) usage.completionTokens = value.output_tokens;
  if (usage.promptTokens !== undefined && usage.completionTokens !== undefined) usage.totalTokens = usage.promptTokens + usage.completionTokens;
  return Object.keys(usage).length === 0 ? undefined : usage;
}

function messagesUrl(baseURL: string): string {
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    throw new TypeError(`AnthropicProvider: \`baseURL\` is not a URL: ${JSON.stringify(baseURL)}`);
  }
  url.pathname = `${url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '')}/v1/messages`;
  return url.toString();
}
