import type { EventSourceMessage } from 'eventsource-parser';
import {
  LlmProviderError,
  type LlmDelta,
  type LlmMessage,
  type LlmProvider,
  type LlmRequest,
  type LlmToolCallDelta,
  type LlmUsage,
} from '../../../src/ports/llm.js';
import {
  isCount,
  isRecord,
  MAX_ERROR_BODY_BYTES,
  positive,
  quote,
  redactValue,
  retryAfterHint,
  sseRequest,
  tryJson,
} from '../shared/sse-request.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/** Options of {@link OpenAICompatibleProvider}. */
export interface OpenAICompatibleProviderOptions {
  /**
   * The API root, up to and without `/chat/completions`: `https://api.openai.com/v1`,
   * `http://localhost:11434/v1`, or for Azure `https://<resource>.openai.azure.com/openai/deployments/<deployment>`.
   */
  baseURL: string;
  /**
   * Sent as `Authorization: Bearer <apiKey>` (as `api-key: <apiKey>` with {@link OpenAICompatibleProviderOptions.azure}). Optional: local servers
   * (Ollama, llama.cpp, LM Studio, vLLM without `--api-key`) need none. Never logged; redacted from error messages.
   */
  apiKey?: string;
  /** The model used when a request names none. */
  model: string;
  /** Extra HTTP headers, sent on every request (they win over the provider's own). */
  headers?: Record<string, string>;
  /** A `fetch` implementation (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** Longest wait from sending the request to the first byte of the answer's body, in ms. Default 30 000. */
  timeoutMs?: number;
  /** Longest gap between two reads of the answer's body once it has started, in ms. Default 60 000. */
  idleTimeoutMs?: number;
  /** Sent as `OpenAI-Organization`. */
  organization?: string;
  /** Azure OpenAI: authenticate with the `api-key` header and add `?api-version=` to the URL. */
  azure?: { apiVersion: string };
  /**
   * Ask for a final usage chunk (`stream_options: { include_usage: true }`). Default true; turn it off for servers
   * that reject unknown fields.
   */
  includeUsage?: boolean;
  /**
   * The body field that carries `maxTokens`. Default `max_tokens`; OpenAI's reasoning models want
   * `max_completion_tokens`.
   */
  maxTokensField?: 'max_tokens' | 'max_completion_tokens';
  /**
   * Fields merged into every request body last (`top_p`, `seed`, Ollama's `keep_alive`, vLLM's
   * `chat_template_kwargs`, …); they may override anything but `stream` and `messages`.
   */
  extraBody?: Record<string, unknown>;
  /** The provider's `name` (`LlmProvider.name`, from `parley-chat`). Default `openai-compatible`. */
  name?: string;
}

interface ParsedEvent {
  readonly done?: true;
  readonly deltas?: LlmDelta[];
}

const SKIP: ParsedEvent = {};
const DONE: ParsedEvent = { done: true };

/**
 * An `LlmProvider` (from `parley-chat`) for any server that speaks OpenAI's streaming Chat Completions protocol:
 * `POST {baseURL}/chat/completions` with `stream: true`, answered with server-sent events
 * (`data: {chat.completion.chunk}` … `data: [DONE]`).
 *
 * What it guarantees:
 * - Deltas carry the text exactly as sent (UTF-8 decoded across reads, SSE events split across reads); a role-only
 *   first chunk, Azure's prompt-filter chunk and keep-alive comments yield nothing; the usage chunk (empty
 *   `choices`) yields a delta with `usage` and empty text; `finishReason` is reported on the delta that carries it.
 *   Only `choices[0].delta.content` is answer text: reasoning deltas (`reasoning_content`, `reasoning`) are skipped.
 * - Tools: `request.tools` are sent as `tools` (`type: "function"`), tool calls and results as `tool_calls` and
 *   `role: "tool"` messages. `choices[0].delta.tool_calls` pieces are yielded as `toolCall` deltas by index — split
 *   across chunks (OpenAI, vLLM, llama.cpp), whole in one chunk (Ollama), several in parallel; a server that omits
 *   `index` has its calls told apart by `id`.
 * - The answer is complete only when the upstream says so (`finish_reason` or `data: [DONE]`). A body that ends, or
 *   a connection that drops, before that throws a retryable `LlmProviderError` — never a quiet end.
 * - HTTP errors throw `LlmProviderError` with `status`, the parsed body (read up to 64 KiB) and the upstream
 *   message; `retryable` for 408, 409, 429 and 5xx. Network errors and timeouts are retryable. An `{"error": …}`
 *   object inside the stream throws, retryable only when it looks transient (5xx, overloaded, unavailable).
 * - `timeoutMs` bounds the wait for the first byte, `idleTimeoutMs` every later gap between bytes (time spent by the
 *   consumer between deltas does not count). Either aborts the request and throws a retryable error.
 * - Aborting `signal` aborts the HTTP request (the socket closes) and the iterator throws `signal.reason` (an
 *   `AbortError` by default) promptly. Leaving the loop early (`break`) closes the connection too.
 * - The API key is never logged, and is redacted from error messages and bodies.
 *
 * @example OpenAI
 * ```ts
 * import { OpenAICompatibleProvider } from 'parley-chat/openai';
 *
 * const provider = new OpenAICompatibleProvider({
 *   baseURL: 'https://api.openai.com/v1',
 *   apiKey: process.env.OPENAI_API_KEY,
 *   model: 'gpt-4o-mini',
 * });
 * ```
 *
 * @example Ollama
 * Its OpenAI-compatible `/v1` endpoint; no key needed.
 * ```ts
 * const provider = new OpenAICompatibleProvider({
 *   baseURL: 'http://localhost:11434/v1',
 *   model: 'llama3.2',
 *   extraBody: { keep_alive: '10m' },
 * });
 * ```
 *
 * @example vLLM
 * Served with `vllm serve meta-llama/Llama-3.1-8B-Instruct --api-key token-abc`.
 * ```ts
 * const provider = new OpenAICompatibleProvider({
 *   baseURL: 'http://localhost:8000/v1',
 *   apiKey: 'token-abc',
 *   model: 'meta-llama/Llama-3.1-8B-Instruct',
 * });
 * ```
 *
 * @example llama.cpp server
 * Started with `llama-server -m model.gguf --port 8080`; it serves the loaded model whatever the name.
 * ```ts
 * const provider = new OpenAICompatibleProvider({
 *   baseURL: 'http://localhost:8080/v1',
 *   model: 'local',
 *   idleTimeoutMs: 120_000, // CPU inference can pause on long prompts
 * });
 * ```
 *
 * @example LM Studio (local server on port 1234)
 * ```ts
 * const provider = new OpenAICompatibleProvider({
 *   baseURL: 'http://localhost:1234/v1',
 *   model: 'qwen2.5-7b-instruct',
 * });
 * ```
 *
 * @example Azure OpenAI
 * The deployment is part of the URL; the key goes in the `api-key` header.
 * ```ts
 * const provider = new OpenAICompatibleProvider({
 *   baseURL: 'https://my-resource.openai.azure.com/openai/deployments/my-gpt-4o',
 *   apiKey: process.env.AZURE_OPENAI_API_KEY,
 *   model: 'gpt-4o',
 *   azure: { apiVersion: '2024-10-21' },
 * });
 * ```
 *
 * @example Consuming it directly
 * ```ts
 * const controller = new AbortController();
 * let text = '';
 * for await (const delta of provider.stream({ messages: [{ role: 'user', content: 'Hi!' }] }, controller.signal)) {
 *   text += delta.text;
 *   if (delta.usage) console.log('tokens', delta.usage.totalTokens);
 * }
 * ```
 */
export class OpenAICompatibleProvider implements LlmProvider {
  readonly name: string;
  readonly defaultModel: string;

  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof globalThis.fetch;
  readonly #timeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #includeUsage: boolean;
  readonly #maxTokensField: 'max_tokens' | 'max_completion_tokens';
  readonly #extraBody: Record<string, unknown>;
  readonly #secret: string | undefined;

  constructor(options: OpenAICompatibleProviderOptions) {
    if (typeof options.model !== 'string' || options.model === '') {
      throw new TypeError('OpenAICompatibleProvider: `model` must be a non-empty string');
    }
    this.name = options.name ?? 'openai-compatible';
    this.defaultModel = options.model;
    this.#url = chatCompletionsUrl(options.baseURL, options.azure?.apiVersion);
    this.#timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs', 'OpenAICompatibleProvider');
    this.#idleTimeoutMs = positive(options.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS, 'idleTimeoutMs', 'OpenAICompatibleProvider');
    this.#includeUsage = options.includeUsage ?? true;
    this.#maxTokensField = options.maxTokensField ?? 'max_tokens';
    this.#extraBody = { ...options.extraBody };
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') {
      throw new TypeError('OpenAICompatibleProvider: no `fetch` available; pass one in the options');
    }
    this.#fetch = fetchImpl;
    this.#secret = options.apiKey === undefined || options.apiKey === '' ? undefined : options.apiKey;

    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (this.#secret !== undefined) {
      if (options.azure) headers['api-key'] = this.#secret;
      else headers.authorization = `Bearer ${this.#secret}`;
    }
    if (options.organization) headers['openai-organization'] = options.organization;
    for (const [key, value] of Object.entries(options.headers ?? {})) headers[key.toLowerCase()] = value;
    this.#headers = headers;
  }

  stream(request: LlmRequest, signal: AbortSignal): AsyncIterable<LlmDelta> {
    return this.#run(request, signal);
  }

  /** The JSON request body; `extraBody` may override anything but `messages` and `stream`. */
  #body(request: LlmRequest): Record<string, unknown> {
    const body: Record<string, unknown> = { model: request.model ?? this.defaultModel };
    if (this.#includeUsage) body.stream_options = { include_usage: true };
    if (request.temperature !== undefined) body.temperature = request.temperature;
    if (request.maxTokens !== undefined) body[this.#maxTokensField] = request.maxTokens;
    if (request.tools !== undefined && request.tools.length > 0) {
      body.tools = request.tools.map((tool) => ({
        type: 'function',
        function: { name: tool.name, ...(tool.description !== undefined && { description: tool.description }), parameters: tool.inputSchema },
      }));
    }
    Object.assign(body, this.#extraBody);
    body.messages = request.messages.map(toOpenAIMessage);
    body.stream = true;
    return body;
  }

  async *#run(request: LlmRequest, signal: AbortSignal): AsyncGenerator<LlmDelta, void, undefined> {
    let finished = false; // a finish_reason, [DONE] or a whole JSON answer was seen
    const toolCalls = new ToolCallIndexes();
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
      unfinished: 'the upstream closed the stream before the answer finished (no finish_reason, no [DONE])',
      // Older llama.cpp servers wrote `error: {json}` lines instead of `data: {"error": …}`.
      onUnknownField: (field, value) => (field === 'error' ? { event: 'error', data: value, id: undefined } : undefined),
    });
    for await (const item of items) {
      if (item.json !== undefined) {
        // The server ignored `stream: true` and answered with one chat.completion object.
        const deltas = this.#fromCompletion(item.json);
        finished = true;
        yield* deltas;
        return;
      }
      const parsed = this.#interpret(item.event, toolCalls);
      if (parsed.done) {
        finished = true;
        return;
      }
      for (const delta of parsed.deltas ?? []) {
        if (delta.finishReason !== undefined) finished = true;
        yield delta;
        signal.throwIfAborted();
      }
    }
  }

  /** One SSE event → nothing, a delta, the end, or a thrown error. */
  #interpret(event: EventSourceMessage, toolCalls: ToolCallIndexes): ParsedEvent {
    const data = event.data;
    if (event.event === 'error') {
      const parsed = tryJson(data);
      const error = isRecord(parsed) && parsed.error !== undefined ? parsed.error : (parsed ?? data);
      throw this.#streamError(error);
    }
    if (event.event !== undefined && event.event !== 'message') return SKIP; // pings and other named events
    const trimmed = data.trim();
    if (trimmed === '[DONE]') return DONE;
    if (trimmed === '') return SKIP;

    const chunk = tryJson(data);
    if (chunk === undefined) {
      throw new LlmProviderError(
        this.#redact(`the upstream sent an event that is not JSON: ${quote(data)}`),
        { retryable: false, body: this.#redact(data.slice(0, MAX_ERROR_BODY_BYTES)) },
      );
    }
    if (!isRecord(chunk)) return SKIP;
    if (chunk.error !== undefined && chunk.error !== null && chunk.error !== false) {
      throw this.#streamError(chunk.error);
    }
    if (chunk.object === 'error') throw this.#streamError(chunk); // early vLLM: the error object itself

    const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
    const choice = (choices.find((c) => isRecord(c) && (c.index === 0 || c.index === undefined)) ??
      choices[0]) as unknown;
    let text = '';
    let finishReason: string | undefined;
    const deltas: LlmDelta[] = [];
    if (isRecord(choice)) {
      const delta = choice.delta;
      if (isRecord(delta) && typeof delta.content === 'string') text = delta.content;
      if (isRecord(delta) && Array.isArray(delta.tool_calls)) {
        delta.tool_calls.forEach((call, position) => {
          const piece = toolCalls.piece(call, position);
          if (piece) deltas.push({ text: '', toolCall: piece });
        });
      }
      if (typeof choice.finish_reason === 'string' && choice.finish_reason !== '') finishReason = choice.finish_reason;
    }
    const usage = mapUsage(chunk.usage);
    if (text === '' && usage === undefined && finishReason === undefined && deltas.length === 0) return SKIP;
    // Text first, then the tool calls, then usage and finish: the order a model writes them.
    const end: LlmDelta = { text: deltas.length === 0 ? text : '' };
    if (usage !== undefined) end.usage = usage;
    if (finishReason !== undefined) end.finishReason = finishReason;
    if (deltas.length === 0) return { deltas: [end] };
    if (text !== '') deltas.unshift({ text });
    if (usage !== undefined || finishReason !== undefined) deltas.push(end);
    return { deltas };
  }

  /** A whole `chat.completion` object (non-streamed answer) → its text and tool calls. */
  #fromCompletion(text: string): LlmDelta[] {
    const body = tryJson(text);
    if (!isRecord(body)) {
      throw new LlmProviderError(this.#redact(`the upstream sent a JSON answer that cannot be read: ${quote(text)}`), {
        retryable: false,
        body: this.#redact(text.slice(0, MAX_ERROR_BODY_BYTES)),
      });
    }
    if (body.error !== undefined && body.error !== null) throw this.#streamError(body.error);
    const choice = Array.isArray(body.choices) ? (body.choices[0] as unknown) : undefined;
    const message = isRecord(choice) ? choice.message : undefined;
    const calls = isRecord(message) && Array.isArray(message.tool_calls) ? message.tool_calls : [];
    if (!isRecord(choice) || !isRecord(message) || (typeof message.content !== 'string' && calls.length === 0)) {
      throw new LlmProviderError('the upstream sent a JSON answer without choices[0].message.content', {
        retryable: false,
        body: this.#redactValue(body),
      });
    }
    const indexes = new ToolCallIndexes();
    const deltas: LlmDelta[] = [];
    calls.forEach((call, position) => {
      const piece = indexes.piece(call, position);
      if (piece) deltas.push({ text: '', toolCall: piece });
    });
    const delta: LlmDelta = {
      text: typeof message.content === 'string' ? message.content : '',
      finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : 'stop',
    };
    const usage = mapUsage(body.usage);
    if (usage !== undefined) delta.usage = usage;
    return [...deltas, delta];
  }

  #httpError(response: Response, text: string): LlmProviderError {
    const status = response.status;
    const redacted = this.#redact(text);
    const parsed = tryJson(redacted);
    const body = parsed === undefined ? redacted : parsed;
    const upstream = errorMessage(parsed) ?? (redacted.trim() === '' ? response.statusText : quote(redacted.trim()));
    const suffix = retryAfterHint(response.headers);
    return new LlmProviderError(`the upstream answered HTTP ${status}: ${upstream || 'no message'}${suffix}`, {
      status,
      retryable: status === 408 || status === 409 || status === 429 || status >= 500,
      body,
    });
  }

  /** An error object sent inside a 200 stream (`data: {"error": {…}}`). */
  #streamError(error: unknown): LlmProviderError {
    const value = this.#redactValue(error);
    const message =
      typeof value === 'string' ? value : (errorMessage({ error: value }) ?? quote(JSON.stringify(value) ?? ''));
    return new LlmProviderError(`the upstream reported an error mid-stream: ${message}`, {
      retryable: looksTransient(value),
      body: value,
    });
  }

  #redact(text: string): string {
    return this.#secret === undefined ? text : text.split(this.#secret).join('[redacted]');
  }

  #redactValue(value: unknown): unknown {
    return redactValue(value, this.#secret);
  }
}

/** A message in OpenAI's shape: assistant tool calls as `tool_calls`, results as `role: "tool"`. */
function toOpenAIMessage(message: LlmMessage): Record<string, unknown> {
  if (message.role === 'tool') return { role: 'tool', tool_call_id: message.toolCallId, content: message.content };
  if (message.role === 'assistant' && message.toolCalls !== undefined && message.toolCalls.length > 0) {
    return {
      role: 'assistant',
      // OpenAI wants null, not "", beside tool calls.
      content: message.content === '' ? null : message.content,
      tool_calls: message.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })),
    };
  }
  if (message.role === 'user' && message.name !== undefined) return { role: 'user', content: message.content, name: openAIName(message.name) };
  return { role: message.role, content: message.content };
}

/** OpenAI takes 1 to 64 letters, digits, `_` and `-` as a name: anything else becomes `_`. */
function openAIName(name: string): string {
  return [...name].slice(0, 64).map((c) => (/^[A-Za-z0-9_-]$/.test(c) ? c : '_')).join('') || '_';
}

/**
 * Gives each tool call of one answer its index. Servers send `index` (OpenAI, vLLM, llama.cpp,
 * recent Ollama); one that does not is told apart by `id`: a new id is a new call, a piece without
 * one continues the last call.
 */
class ToolCallIndexes {
  readonly #byId = new Map<string, number>();
  #count = 0;
  #last = -1;

  piece(call: unknown, position: number): LlmToolCallDelta | undefined {
    if (!isRecord(call)) return undefined;
    const fn = isRecord(call.function) ? call.function : {};
    const id = typeof call.id === 'string' && call.id !== '' ? call.id : undefined;
    let index: number;
    if (typeof call.index === 'number' && Number.isSafeInteger(call.index) && call.index >= 0) index = call.index;
    else if (id !== undefined) index = this.#byId.get(id) ?? this.#count;
    else index = this.#last >= 0 ? this.#last : position;
    if (id !== undefined) this.#byId.set(id, index);
    this.#count = Math.max(this.#count, index + 1);
    this.#last = index;
    const piece: LlmToolCallDelta = { index };
    if (id !== undefined) piece.id = id;
    if (typeof fn.name === 'string' && fn.name !== '') piece.name = fn.name;
    // Some servers send the arguments as an object rather than JSON text.
    const args = typeof fn.arguments === 'string' ? fn.arguments : isRecord(fn.arguments) ? JSON.stringify(fn.arguments) : '';
    if (args !== '') piece.argumentsDelta = args;
    return piece;
  }
}

function chatCompletionsUrl(baseURL: string, azureApiVersion: string | undefined): string {
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    throw new TypeError(`OpenAICompatibleProvider: \`baseURL\` is not a URL: ${JSON.stringify(baseURL)}`);
  }
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/chat/completions`;
  if (azureApiVersion !== undefined) url.searchParams.set('api-version', azureApiVersion);
  return url.toString();
}




function mapUsage(value: unknown): LlmUsage | undefined {
  if (!isRecord(value)) return undefined;
  const usage: LlmUsage = {};
  if (isCount(value.prompt_tokens)) usage.promptTokens = value.prompt_tokens;
  if (isCount(value.completion_tokens)) usage.completionTokens = value.completion_tokens;
  if (isCount(value.total_tokens)) usage.totalTokens = value.total_tokens;
  else if (usage.promptTokens !== undefined && usage.completionTokens !== undefined) {
    usage.totalTokens = usage.promptTokens + usage.completionTokens;
  }
  return Object.keys(usage).length === 0 ? undefined : usage;
}


/** The human message of an OpenAI-style error body (`{error: {message}}`, `{error: "…"}`, `{message}`, `{detail}`). */
function errorMessage(body: unknown): string | undefined {
  if (typeof body === 'string') return body === '' ? undefined : quote(body);
  if (!isRecord(body)) return undefined;
  const error = body.error;
  if (typeof error === 'string' && error !== '') return quote(error);
  if (isRecord(error)) {
    if (typeof error.message === 'string' && error.message !== '') return quote(error.message);
    if (typeof error.code === 'string' && error.code !== '') return error.code;
    if (typeof error.type === 'string' && error.type !== '') return error.type;
  }
  if (typeof body.message === 'string' && body.message !== '') return quote(body.message);
  if (typeof body.detail === 'string' && body.detail !== '') return quote(body.detail);
  return undefined;
}

/** Whether an in-stream error object looks like a transient upstream failure (worth a retry). */
function looksTransient(error: unknown): boolean {
  if (typeof error === 'string') return /overloaded|temporarily unavailable|try again later/i.test(error);
  if (!isRecord(error)) return false;
  const code = error.code ?? error.status;
  if (typeof code === 'number' && (code >= 500 || code === 429 || code === 408)) return true;
  if (typeof code === 'string' && /^(5\d\d|429|408)$/.test(code)) return true;
  const kind = `${typeof error.type === 'string' ? error.type : ''} ${typeof code === 'string' ? code : ''}`;
  if (/server_?error|internal|overloaded|unavailable|timeout|rate_?limit/i.test(kind)) return true;
  return typeof error.message === 'string' && /overloaded|temporarily unavailable|try again later/i.test(error.message);
}




