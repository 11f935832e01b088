/**
 * A local HTTP server that speaks OpenAI's streaming Chat Completions protocol byte for byte by replaying
 * transcripts: exact SSE frames, delays between them, HTTP errors before any byte, dropped connections, stalls.
 *
 * ```ts
 * const fake = await startFakeOpenAI({ transcripts: [openaiChat, vllmChat] });
 * const provider = new OpenAICompatibleProvider({ baseURL: fake.baseURL, model: openaiChat.name });
 * // … the transcript is picked by the request's `model`; fake.requests records what the client sent.
 * await fake.close();
 * ```
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { LlmUsage } from '../../src/ports/llm.js';

/** One step of a transcript, played in order for a request. */
export type TranscriptStep =
  /** Answer with this status and body (no SSE), then end. Use before any `head`/`write`. */
  | { type: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Send the response head now (status 200 and an SSE content-type unless given). Implied by the first `write`. */
  | { type: 'head'; status?: number; headers?: Record<string, string> }
  /** Write these exact bytes (one `write` call, with Nagle off, so usually one TCP segment). */
  | { type: 'write'; data: string | Uint8Array }
  /** Wait before the next step. */
  | { type: 'delay'; ms: number }
  /** Destroy the socket (mid-response, or before any byte). */
  | { type: 'drop' }
  /** Send nothing more and keep the connection open until the client leaves or the server closes. */
  | { type: 'stall' }
  /** End the response (implied after the last step). */
  | { type: 'end' };

/** What a provider should make of a transcript. */
export interface TranscriptExpectation {
  /** The deltas' text, concatenated (for a failing transcript: what arrives before the failure). */
  text: string;
  finishReason?: string;
  /** The last usage reported, if any. */
  usage?: LlmUsage;
  /** Set when the stream must fail. */
  error?: { retryable: boolean; status?: number; message?: RegExp };
}

export interface Transcript {
  /** Also the default key: the request's `model` that selects this transcript. */
  name: string;
  /** Where the shape comes from. */
  source?: string;
  steps: TranscriptStep[];
  expected?: TranscriptExpectation;
}

/** A transcript, or a function building one from the request (e.g. to echo the prompt). */
export type TranscriptSource = Transcript | ((request: RecordedRequest) => Transcript);

export interface ConnectionClose {
  /** `Date.now()` when the response closed. */
  at: number;
  /** True when the connection closed before the server finished the response (the client left, or a drop). */
  early: boolean;
}

export interface RecordedRequest {
  index: number;
  method: string;
  /** Path and query, e.g. `/v1/chat/completions`. */
  url: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** The parsed JSON body (undefined when it is not JSON). */
  body: any;
  /** The transcript played, if one matched. */
  transcript: string | undefined;
  /** `Date.now()` when the request arrived. */
  receivedAt: number;
  /** Resolves when the response closes: finished by the server, or cut short (`early`). */
  closed: Promise<ConnectionClose>;
  /** Resolves when the TCP socket that carried the request closes. */
  socketClosed: Promise<number>;
}

export interface FakeOpenAIOptions {
  /** Keyed by the request's `model`: a record, or a list keyed by `name`. */
  transcripts: Record<string, TranscriptSource> | Transcript[];
  /** Picks the transcript instead of the `model` lookup. */
  select?: (request: RecordedRequest) => TranscriptSource | undefined;
  /** When set, requests must carry `Authorization: Bearer <apiKey>`, `api-key` or `x-api-key: <apiKey>`, else 401. */
  apiKey?: string;
}

export interface FakeOpenAI {
  /** `http://127.0.0.1:<port>/v1`. */
  baseURL: string;
  /** `http://127.0.0.1:<port>`. */
  origin: string;
  requests: RecordedRequest[];
  /** Sockets closed so far (by either side). */
  readonly closedConnections: number;
  readonly openConnections: number;
  /** Emits `request` (RecordedRequest) and `connection-closed` (socket close time). */
  events: EventEmitter;
  /** Resolves with the n-th request (0-based) once it has arrived. */
  waitForRequest(index?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

export async function startFakeOpenAI(options: FakeOpenAIOptions): Promise<FakeOpenAI> {
  const table = new Map<string, TranscriptSource>();
  if (Array.isArray(options.transcripts)) for (const t of options.transcripts) table.set(t.name, t);
  else for (const [key, t] of Object.entries(options.transcripts)) table.set(key, t);

  const requests: RecordedRequest[] = [];
  const events = new EventEmitter();
  const sockets = new Set<Socket>();
  const socketClosed = new WeakMap<Socket, Promise<number>>();
  let closedConnections = 0;
  let shuttingDown = false;

  const server = createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500).end();
      } else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;

  server.on('connection', (socket: Socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    socketClosed.set(
      socket,
      new Promise<number>((resolve) =>
        socket.once('close', () => {
          sockets.delete(socket);
          closedConnections++;
          const at = Date.now();
          events.emit('connection-closed', at);
          resolve(at);
        }),
      ),
    );
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const closed = new Promise<ConnectionClose>((resolve) =>
      res.once('close', () => resolve({ at: Date.now(), early: !res.writableFinished })),
    );
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = JSON.parse(rawBody);
    } catch {
      body = undefined;
    }
    const recorded: RecordedRequest = {
      index: requests.length,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      rawBody,
      body,
      transcript: undefined,
      receivedAt: Date.now(),
      closed,
      socketClosed: socketClosed.get(req.socket) ?? Promise.resolve(Date.now()),
    };
    requests.push(recorded);

    const path = (req.url ?? '/').split('?')[0] ?? '/';
    // Chat Completions, and Anthropic's Messages API for transcripts in its shape.
    if (req.method !== 'POST' || !(path.endsWith('/chat/completions') || path.endsWith('/messages'))) {
      events.emit('request', recorded);
      const message = `Unknown request URL: ${req.method} ${path}.`;
      return void sendJson(res, 404, openaiError(message, 'invalid_request_error', 'unknown_url'));
    }
    if (options.apiKey !== undefined) {
      const bearer = /^Bearer (.*)$/.exec(req.headers.authorization ?? '')?.[1];
      const given = bearer ?? ((req.headers['api-key'] ?? req.headers['x-api-key']) as string | undefined);
      if (given !== options.apiKey) {
        events.emit('request', recorded);
        // Echoes the wrong key in full (OpenAI masks it): a stricter test of the client's redaction.
        const message = `Incorrect API key provided: ${given ?? ''}.`;
        return void sendJson(res, 401, openaiError(message, 'invalid_request_error', 'invalid_api_key'));
      }
    }

    const model = (body as { model?: unknown } | undefined)?.model;
    const source = options.select ? options.select(recorded) : typeof model === 'string' ? table.get(model) : undefined;
    if (source === undefined) {
      events.emit('request', recorded);
      const message = `The model \`${String(model)}\` does not exist or you do not have access to it.`;
      return void sendJson(res, 404, openaiError(message, 'invalid_request_error', 'model_not_found'));
    }
    const transcript = typeof source === 'function' ? source(recorded) : source;
    recorded.transcript = transcript.name;
    events.emit('request', recorded);
    await play(transcript, req, res, closed);
  }

  async function play(
    transcript: Transcript,
    req: IncomingMessage,
    res: ServerResponse,
    closed: Promise<ConnectionClose>,
  ): Promise<void> {
    let gone = false;
    void closed.then(() => {
      gone = true;
    });
    const head = (status = 200, headers: Record<string, string> = SSE_HEADERS): void => {
      if (!res.headersSent) res.writeHead(status, headers);
    };
    for (const step of transcript.steps) {
      if (gone || res.destroyed || shuttingDown) return;
      switch (step.type) {
        case 'status':
          res.writeHead(step.status, step.headers ?? { 'content-type': 'application/json' });
          res.end(step.body ?? '');
          return;
        case 'head':
          head(step.status, step.headers ?? SSE_HEADERS);
          // Flush the head now, as servers do before the first token.
          res.flushHeaders();
          break;
        case 'write':
          head();
          res.write(typeof step.data === 'string' ? step.data : Buffer.from(step.data));
          break;
        case 'delay':
          await Promise.race([sleep(step.ms), closed]);
          break;
        case 'drop':
          req.socket.destroy();
          return;
        case 'stall':
          await closed;
          return;
        case 'end':
          head();
          res.end();
          return;
      }
    }
    if (!gone && !res.destroyed) {
      head();
      res.end();
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;

  return {
    baseURL: `${origin}/v1`,
    origin,
    requests,
    get closedConnections() {
      return closedConnections;
    },
    get openConnections() {
      return sockets.size;
    },
    events,
    waitForRequest(index = 0) {
      const found = requests[index];
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => {
        const listener = (r: RecordedRequest) => {
          if (r.index === index) {
            events.off('request', listener);
            resolve(r);
          }
        };
        events.on('request', listener);
      });
    },
    async close() {
      shuttingDown = true;
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await done;
    },
  };
}

/** OpenAI's error body: `{"error":{"message","type","param","code"}}`. */
export function openaiError(
  message: string,
  type: string,
  code: string | null = null,
  param: string | null = null,
): string {
  return JSON.stringify({ error: { message, type, param, code } });
}

function sendJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${body}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
