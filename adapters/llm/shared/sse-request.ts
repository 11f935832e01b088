import { createParser, type EventSourceMessage, type ParseError } from 'eventsource-parser';
import { LlmProviderError } from '../../../src/ports/llm.js';

/** How much of an HTTP error body is read (the rest is discarded). */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** How much of a non-streamed JSON answer is read (a server that ignored `stream: true`). */
const MAX_JSON_BODY_BYTES = 16 * 1024 * 1024;
/** Longest SSE event the parser buffers before giving up (characters). */
const MAX_EVENT_CHARS = 8 * 1024 * 1024;
/** Longest upstream text quoted in an error message. */
const MAX_QUOTED_CHARS = 500;

/** One POST whose answer streams as server-sent events: what the providers share. */
export interface SseRequest {
  fetch: typeof globalThis.fetch;
  url: string;
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
  /** Longest wait from sending the request to the first byte of the body. */
  timeoutMs: number;
  /** Longest gap between two reads once the body has started. */
  idleTimeoutMs: number;
  /** Removes the API key from text quoted in errors. */
  redact(text: string): string;
  /** The error for a non-2xx answer, from its body (read up to 64 KiB). */
  httpError(response: Response, text: string): LlmProviderError;
  /** Whether the consumer has seen the end of the answer: a read failure after it is no failure. */
  isFinished(): boolean;
  /** The message when the body ends before the answer finished. */
  unfinished: string;
  /** An event for an SSE line with an unknown field (older llama.cpp wrote `error: {json}` lines). */
  onUnknownField?(field: string, value: string): EventSourceMessage | undefined;
}

/** A server-sent event, or the whole JSON body of a server that ignored `stream: true`. */
export type SseItem = { event: EventSourceMessage; json?: undefined } | { json: string; event?: undefined };

type TimeoutKind = 'connect' | 'idle';

/**
 * Sends the request and yields its events as they arrive (UTF-8 decoded across reads, events
 * split across reads). `timeoutMs` bounds the wait for the first byte, `idleTimeoutMs` every later
 * gap between reads (time the consumer spends between items does not count); either aborts the
 * request and throws a retryable `LlmProviderError`, as network errors do. Aborting `signal`
 * aborts the request and throws `signal.reason`. A body that ends before the consumer saw the end
 * of the answer throws a retryable error, never ends quietly. Leaving the loop early closes the
 * connection.
 */
export async function* sseRequest(request: SseRequest): AsyncGenerator<SseItem, void, undefined> {
  const { signal } = request;
  signal.throwIfAborted();
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });

  let timedOut: TimeoutKind | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (kind: TimeoutKind, ms: number): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = kind;
      controller.abort(new Error(`${kind} timeout`));
    }, ms);
  };
  const disarm = (): void => {
    clearTimeout(timer);
    timer = undefined;
  };
  const failure = (error: unknown, phase: 'calling' | 'reading from'): unknown => {
    if (signal.aborted) return signal.reason;
    if (timedOut === 'connect') {
      return new LlmProviderError(`no answer from the upstream within ${request.timeoutMs} ms`, { retryable: true, cause: error });
    }
    if (timedOut === 'idle') {
      return new LlmProviderError(`the upstream stalled: no data for ${request.idleTimeoutMs} ms`, { retryable: true, cause: error });
    }
    if (error instanceof LlmProviderError) return error;
    return new LlmProviderError(request.redact(`network error ${phase} the upstream: ${describe(error)}`), { retryable: true, cause: error });
  };

  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    arm('connect', request.timeoutMs);
    let response: Response;
    try {
      response = await request.fetch(request.url, { method: 'POST', headers: request.headers, body: request.body, signal: controller.signal });
    } catch (error) {
      throw failure(error, 'calling');
    }

    if (!response.ok) {
      let text: string;
      try {
        text = await readText(response, MAX_ERROR_BODY_BYTES);
      } catch (error) {
        if (signal.aborted || timedOut) throw failure(error, 'reading from');
        text = '';
      }
      throw request.httpError(response, text);
    }
    if (!response.body) {
      throw new LlmProviderError(`the upstream answered HTTP ${response.status} without a body`, { status: response.status, retryable: true });
    }

    const contentType = response.headers.get('content-type') ?? '';
    if (/\bjson\b/i.test(contentType)) {
      let text: string;
      try {
        text = await readText(response, MAX_JSON_BODY_BYTES);
      } catch (error) {
        throw failure(error, 'reading from');
      }
      disarm();
      yield { json: text };
      return;
    }

    reader = response.body.getReader();
    const decoder = new TextDecoder();
    const events: EventSourceMessage[] = [];
    let parseFailure: LlmProviderError | undefined;
    const parser = createParser({
      maxBufferSize: MAX_EVENT_CHARS,
      onEvent: (event) => events.push(event),
      onError: (error: ParseError) => {
        if (error.type === 'unknown-field' && error.field !== undefined) {
          const event = request.onUnknownField?.(error.field, error.value ?? '');
          if (event) events.push(event);
        } else if (error.type === 'max-buffer-size-exceeded') {
          parseFailure ??= new LlmProviderError(`the upstream sent an event longer than ${MAX_EVENT_CHARS} characters`, { retryable: false });
        }
      },
    });

    let firstRead = true;
    let eventCount = 0;
    while (true) {
      if (!firstRead) arm('idle', request.idleTimeoutMs);
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        // The answer was already complete; only what trails it was lost.
        if (request.isFinished() && !signal.aborted && timedOut === undefined) return;
        throw failure(error, 'reading from');
      }
      disarm();
      firstRead = false;
      parser.feed(chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true }));
      if (parseFailure) throw parseFailure;
      while (events.length > 0) {
        eventCount++;
        yield { event: events.shift() as EventSourceMessage };
        signal.throwIfAborted();
      }
      if (chunk.done) break;
    }
    if (!request.isFinished()) {
      const hint = eventCount === 0 && !/event-stream/i.test(contentType) ? ` (content-type: ${contentType || 'none'})` : '';
      throw new LlmProviderError(`${request.unfinished}${hint}`, { status: response.status, retryable: true });
    }
  } finally {
    disarm();
    signal.removeEventListener('abort', onAbort);
    if (!request.isFinished()) {
      // Failed, aborted, or the consumer left the loop: close the connection.
      controller.abort();
    } else if (reader) {
      // The answer is complete: drop whatever trails it.
      reader.cancel().catch(() => undefined);
    }
  }
}

/** Reads at most `max` bytes of the body as text, then cancels the rest. */
export async function readText(response: Response, max: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  while (bytes < max) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    const slice = value.byteLength > max - bytes ? value.subarray(0, max - bytes) : value;
    bytes += slice.byteLength;
    text += decoder.decode(slice, { stream: true });
  }
  await reader.cancel().catch(() => undefined);
  return text + decoder.decode();
}

/** ` (retry after 20 s)` from `retry-after-ms` / `retry-after` (seconds or an HTTP date), or ''. */
export function retryAfterHint(headers: Headers): string {
  const ms = headers.get('retry-after-ms')?.trim();
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return ` (retry after ${ms} ms)`;
  const value = headers.get('retry-after')?.trim();
  if (!value) return '';
  return /^\d+(\.\d+)?$/.test(value) ? ` (retry after ${value} s)` : ` (retry after ${quote(value)})`;
}

/** A positive number of milliseconds, or the fallback when absent. */
export function positive(value: number | undefined, fallback: number, name: string, owner: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${owner}: \`${name}\` must be a positive number of milliseconds`);
  return value;
}

/** Replaces every occurrence of `secret` (when there is one) in a JSON-able value. */
export function redactValue(value: unknown, secret: string | undefined): unknown {
  if (secret === undefined) return value;
  const json = JSON.stringify(value);
  if (json === undefined || !json.includes(secret)) return value;
  return JSON.parse(json.split(secret).join('[redacted]')) as unknown;
}

export function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause: unknown = error.cause;
  if (!(cause instanceof Error)) return error.message;
  const code: unknown = (cause as Error & { code?: unknown }).code;
  return `${error.message}: ${cause.message}${typeof code === 'string' ? ` (${code})` : ''}`;
}

export function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function quote(text: string): string {
  return text.length > MAX_QUOTED_CHARS ? `${text.slice(0, MAX_QUOTED_CHARS)}…` : text;
}
