import { ChatError } from '../errors.js';
import type { Message, MessagePart, StreamRecord, StreamStatus } from '../model.js';
import { LlmProviderError, type LlmMessage, type LlmProvider, type LlmRequest, type LlmToolCall, type LlmUsage } from '../ports/llm.js';
import type { StorageAdapter, StreamPatch } from '../ports/storage.js';
import type { Tool } from '../tools/define-tool.js';
import { runToolCalls, ToolCallPieces, type ToolResult } from '../tools/tool-calls.js';
import { storableJson, StreamOutputFilter, type OutputModeration } from './output-filter.js';
import { metricsView, statusView, type AgentPricing, type StreamChunk, type StreamMetrics, type StreamPart, type StreamStatusView, type ToolCallMetric } from './stream-views.js';

// What the engine and the bindings import from here.
export { metricsView, statusView, stepRecordOf } from './stream-views.js';
export type { AgentPricing, StepRecord, StreamChunk, StreamMetrics, StreamPart, StreamStatusView, ToolCallMetric } from './stream-views.js';

/** What an answer may do beyond text: the agent's tools, step budget and prices. */
export interface AgentRun {
  tools: Readonly<Record<string, Tool>>;
  maxSteps: number;
  toolTimeoutMs: number;
  pricing: AgentPricing | null;
  /** Who the tools act for. */
  userId: string;
  agentId: string | null;
}

export interface StreamEnd {
  status: 'completed' | 'stopped' | 'error';
  record: StreamRecord;
  message: Message | null;
  content: string;
  /** The answer's parts as emitted (what `message.parts` holds once committed). */
  parts: MessagePart[];
  error?: ChatError;
  /** Another node had already closed this stream as abandoned: nothing was written, nothing to announce. */
  superseded?: boolean;
  metrics: StreamMetrics;
}

/** What an active stream needs from the engine. */
export interface StreamHost {
  storage: StorageAdapter;
  /** The output filter's moderation (normalisation is the filter's own). */
  moderation: OutputModeration;
  now(): Date;
  delayMs: number;
  flushIntervalMs: number;
  /** The answer ends at this many characters (see `AgentConfig.maxAnswerChars`). */
  maxAnswerChars: number;
  retry: { attempts: number; baseDelayMs: number; maxTotalMs: number };
  onChunk(chunk: StreamChunk): void;
  onEnd(end: StreamEnd): void;
  /** A failure for the host's log, with its detail (never sent to members). */
  onFailure(error: unknown, context: string, level: 'error' | 'warn'): void;
}

/**
 * One running LLM answer on this node. Tokens are coalesced into chunks at most every `delayMs`
 * (the first at once); the output filter gives the result of filtering whole words — a trailing
 * partial word that could still become a masked one is held back (see StreamOutputFilter) — so the
 * concatenated deltas always equal the stored text. The text so far is flushed to storage about
 * once per `flushIntervalMs`; the end (completed, stopped or error) commits the message with the
 * next session seq.
 */
export class ActiveStream {
  readonly controller = new AbortController();
  private readonly output: StreamOutputFilter;
  private emitted = '';
  /** What members were sent, in order: text (`emitted`, cut where a tool part came) and tool parts. */
  private readonly parts: MessagePart[] = [];
  private pending = '';
  private index = 0;
  /** Tokens of the running step (text and tool-call pieces) and its usage, when reported. */
  private stepTokens = 0;
  private stepUsage: LlmUsage | undefined;
  /** Completion tokens of the finished steps. */
  private earlierTokens = 0;
  private promptTokens: number | null = null;
  private steps = 0;
  private readonly toolCalls: ToolCallMetric[] = [];
  /** The next text starts a new step's text: set apart from the previous step's. */
  private newStep = false;
  private finishReason: string | null = null;
  private firstTokenAt: Date | null = null;
  private errors = 0;
  private bytes = 0;
  private chunkTimer: NodeJS.Timeout | null = null;
  private lastChunkAt = 0;
  private lastTokenAt = 0;
  /** ms between the last two tokens (see `receive`). */
  private tokenGap = 0;
  private lastFlushAt = 0;
  /** Last write of the row, flush or heartbeat (a heartbeat must not postpone the next flush). */
  private lastWriteAt = 0;
  /** Storage writes are serialised: a flush never races the final commit. */
  private writes: Promise<unknown> = Promise.resolve();
  private stopReason: 'stopped' | 'shutdown' | null = null;
  /** The answer reached `maxAnswerChars`: the upstream was cut off and the answer is complete. */
  private capped = false;
  readonly done: Promise<StreamEnd>;
  private resolveDone!: (end: StreamEnd) => void;

  constructor(
    readonly record: StreamRecord,
    private readonly provider: LlmProvider,
    private readonly request: LlmRequest,
    private readonly host: StreamHost,
    private readonly agent: AgentRun,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.output = new StreamOutputFilter(host.moderation);
    this.lastFlushAt = Date.now();
    this.lastWriteAt = this.lastFlushAt;
  }

  get id(): string {
    return this.record.id;
  }

  /** The answer so far as clients have it (for a late joiner's snapshot). */
  snapshot(): { content: string; parts: MessagePart[]; tokens: number; index: number } {
    return { content: this.emitted, parts: [...this.parts], tokens: this.tokensGenerated(), index: this.index };
  }

  status(): StreamStatusView {
    return statusView({ ...this.record, status: 'streaming', tokensGenerated: this.tokensGenerated() });
  }

  metrics(record?: StreamRecord): StreamMetrics {
    const view = record ?? {
      ...this.record,
      tokensGenerated: this.tokensGenerated(),
      promptTokens: this.promptTokens,
      bytesEmitted: this.bytes,
      errors: this.errors,
      firstTokenAt: this.firstTokenAt?.toISOString() ?? null,
    };
    return metricsView(view, this.host.now(), { steps: this.steps, toolCalls: this.toolCalls }, this.agent.pricing);
  }

  /** Stops the upstream request; the partial answer is kept. */
  stop(reason: 'stopped' | 'shutdown' = 'stopped'): void {
    this.stopReason ??= reason;
    this.controller.abort(new ChatError('UNAVAILABLE', 'Stream stopped'));
  }

  async run(): Promise<StreamEnd> {
    let failure: unknown = null;
    const messages = [...this.request.messages];
    for (let step = 1; ; step++) {
      this.steps = step;
      this.newStep = step > 1;
      const pieces = new ToolCallPieces();
      const outcome = await this.streamStep({ ...this.request, messages }, pieces);
      this.endStep();
      failure = outcome.failure;
      if (failure || this.controller.signal.aborted) break;
      // Calls from a model offered no tools (some servers invent them) end the answer as it is.
      const calls = Object.keys(this.agent.tools).length > 0 ? pieces.finish(step) : [];
      if (calls.length === 0) break;
      if (step >= this.agent.maxSteps) {
        // The model wants another round it may not have: its calls are not run.
        this.finishReason = 'max-steps';
        break;
      }
      this.finishReason = null; // the answer goes on: a stop from here on reads `stopped`, not `tool_calls`
      const results = await this.runTools(calls);
      if (this.controller.signal.aborted) break;
      messages.push({ role: 'assistant', content: outcome.text, toolCalls: calls }, ...results.map(toolMessage));
    }
    const status = this.capped ? 'completed' : this.controller.signal.aborted ? 'stopped' : failure ? 'error' : 'completed';
    this.append(this.output.end()); // the held-back tail is whole now; it may reach the cap too
    if (this.capped && status === 'completed') this.finishReason = 'length';
    if (status === 'stopped' && !this.finishReason) this.finishReason = this.stopReason === 'shutdown' ? 'shutdown' : 'stopped';
    const end = await this.finish(status, failure);
    this.resolveDone(end);
    return end;
  }

  /**
   * One model call, retried while it has yielded nothing (network errors, 429, 5xx): its text and
   * tool-call pieces, or the failure that ended it. A stop ends it without failure.
   */
  private async streamStep(request: LlmRequest, pieces: ToolCallPieces): Promise<{ text: string; failure: unknown }> {
    const started = Date.now();
    let text = '';
    for (let attempt = 1; ; attempt++) {
      let received = false;
      try {
        for await (const delta of this.provider.stream(request, this.controller.signal)) {
          if (delta.text) {
            received = true;
            text += delta.text;
            this.receive(delta.text);
          }
          if (delta.toolCall) {
            received = true;
            this.countToken();
            pieces.add(delta.toolCall);
          }
          if (delta.usage) this.stepUsage = { ...this.stepUsage, ...delta.usage };
          if (delta.finishReason) this.finishReason = delta.finishReason;
          if (this.controller.signal.aborted) break;
        }
        return { text, failure: null };
      } catch (error) {
        if (this.controller.signal.aborted) return { text, failure: null };
        this.errors++;
        const retryable = isProviderError(error) ? error.retryable : isNetworkError(error);
        const delay = this.host.retry.baseDelayMs * 2 ** (attempt - 1);
        const withinBudget = Date.now() - started + delay <= this.host.retry.maxTotalMs;
        if (!received && retryable && attempt < this.host.retry.attempts && withinBudget) {
          this.host.onFailure(error, `stream ${this.id}: attempt ${attempt} failed; retrying in ${delay} ms`, 'warn');
          if (await this.sleep(delay)) continue;
          return { text, failure: null }; // stopped while waiting
        }
        return { text, failure: error };
      }
    }
  }

  /** Adds the step's usage to the answer's: completion tokens as reported (else counted), prompt tokens summed. */
  private endStep(): void {
    this.earlierTokens += this.stepUsage?.completionTokens ?? this.stepTokens;
    const prompt = this.stepUsage?.promptTokens;
    if (prompt !== undefined) this.promptTokens = (this.promptTokens ?? 0) + prompt;
    this.stepUsage = undefined;
    this.stepTokens = 0;
  }

  /** Runs a step's tool calls concurrently, announcing each call and result to members. */
  private async runTools(calls: LlmToolCall[]): Promise<ToolResult[]> {
    // The step's text is whole: a word the filter held back goes out before the calls, in its text part.
    this.append(this.output.end());
    for (const call of calls) this.emitPart({ type: 'tool-call', toolCallId: call.id, toolName: call.name, input: parseOr(call.arguments) });
    // Stored at once, not at the next text flush: a node that dies during a slow tool leaves the calls made.
    this.flush();
    const { record, agent } = this;
    const context = { sessionId: record.sessionId, userId: agent.userId, streamId: record.id, agentId: agent.agentId, signal: this.controller.signal };
    const results = await runToolCalls(calls, agent.tools, context, agent.toolTimeoutMs, (error, call) =>
      this.host.onFailure(error, `stream ${this.id}: tool ${call.name} threw`, 'warn'),
    );
    for (const result of results) {
      const { call } = result;
      this.toolCalls.push({ toolCallId: call.id, toolName: call.name, durationMs: Math.round(result.durationMs), isError: result.isError });
      // The result as the model got it (JSON: a Date as its string, undefined as null).
      const output = result.isError ? { error: result.publicError } : (JSON.parse(result.content) as unknown);
      this.emitPart({ type: 'tool-result', toolCallId: call.id, toolName: call.name, output, ...(result.isError && { isError: true }) });
    }
    if (!this.controller.signal.aborted) this.flush(); // a stop commits them anyway
    return results;
  }

  /** A token arrived (text or a piece of a tool call): counts, latency, pace. */
  private countToken(): number {
    this.stepTokens++;
    const now = Date.now();
    // Not written at once: the first flush (about a second in) marks the row 'streaming', which keeps
    // a stream within 2 + (seconds) storage writes; until then other nodes report it 'pending'.
    if (this.firstTokenAt === null) this.firstTokenAt = this.host.now();
    else this.tokenGap = now - this.lastTokenAt;
    this.lastTokenAt = now;
    return now;
  }

  private receive(text: string): void {
    const now = this.countToken();
    if (this.newStep) {
      // A later step's text is a new paragraph, not glued to the previous step's last word.
      this.newStep = false;
      if (this.emitted || this.pending) text = `\n\n${text.trimStart()}`;
    }
    this.append(this.output.push(text));
    if (!this.pending) return;
    const due = this.lastChunkAt + this.host.delayMs;
    if (this.index === 0 || now >= due) return this.emitChunk();
    // Not due yet: the chunk goes with the first token at or after `due` — in the wake-up that
    // token causes anyway, instead of one more per chunk. The timer only covers a pause of the
    // upstream: it fires a token gap (at most half a delay) after `due`, so a steady stream never
    // reaches it and no token waits longer than about `delayMs` (plus that gap in a pause).
    this.chunkTimer ??= setTimeout(this.onChunkTimer, due - now + Math.min(this.tokenGap + 1, this.host.delayMs / 2));
  }

  /**
   * Adds filtered text to the next chunk, up to `maxAnswerChars` in all. Past it the answer is
   * complete: it ends exactly at the cap (one character short rather than half a surrogate pair)
   * and the upstream request is aborted, so nothing more is paid for or kept in memory.
   */
  private append(text: string): void {
    if (this.capped || text === '') return;
    const room = this.host.maxAnswerChars - this.emitted.length - this.pending.length;
    if (text.length <= room) {
      this.pending += text;
      return;
    }
    const end = room > 0 && isHighSurrogate(text.charCodeAt(room - 1)) ? room - 1 : room;
    this.pending += text.slice(0, end);
    this.capped = true;
    this.controller.abort(new ChatError('LIMIT_EXCEEDED', 'The answer reached its length cap'));
  }

  /** Sends the text so far, then a chunk that carries `part` alone (as storage can keep it). */
  private emitPart(part: StreamPart): void {
    this.emitChunk();
    const storable = storableJson(part) as StreamPart;
    this.parts.push(storable);
    this.send('', false, storable);
  }

  private readonly onChunkTimer = (): void => {
    this.chunkTimer = null;
    this.emitChunk();
  };

  private emitChunk(isComplete = false): void {
    if (this.chunkTimer) {
      clearTimeout(this.chunkTimer);
      this.chunkTimer = null;
    }
    if (!this.pending && !isComplete) return;
    const delta = this.pending;
    this.pending = '';
    this.emitted += delta;
    this.addText(delta);
    this.bytes += Buffer.byteLength(delta);
    this.send(delta, isComplete);
    if (!isComplete && Date.now() - this.lastFlushAt >= this.host.flushIntervalMs) this.flush();
  }

  /** Text continues the last text part, or starts one after a tool part (a new object: copies handed out stay as they were). */
  private addText(text: string): void {
    if (text === '') return;
    const last = this.parts.at(-1);
    if (last?.type === 'text') this.parts[this.parts.length - 1] = { type: 'text', text: last.text + text };
    else this.parts.push({ type: 'text', text });
  }

  private send(delta: string, isComplete: boolean, part?: StreamPart): void {
    this.lastChunkAt = Date.now();
    const { sessionId, messageId } = this.record;
    const content = isComplete ? this.emitted : '';
    this.host.onChunk({ id: this.id, sessionId, messageId, index: this.index++, delta, content, tokens: this.tokensGenerated(), isComplete, ...(part && { part }) });
  }

  /** Writes the text so far (no seq: a flush is not a change clients replay). */
  private flush(): void {
    this.lastFlushAt = Date.now();
    this.lastWriteAt = this.lastFlushAt;
    const content = this.emitted;
    const parts = [...this.parts];
    const at = this.host.now();
    const { storage } = this.host;
    const tokens = this.tokensGenerated();
    const counters = { tokensGenerated: tokens, bytesEmitted: this.bytes, errors: this.errors, firstTokenAt: this.firstTokenAt, at };
    this.writes = this.writes
      .then(() =>
        // The lean path writes the two rows and reads nothing back (no message, reactions, attachments).
        storage.flushStream
          ? storage.flushStream(this.id, { ...counters, content, parts, tokens })
          : storage
              .updateStream(this.id, { ...counters, status: 'streaming', expectedStatuses: RUNNING }, { patch: { content, parts, tokens, at }, bumpSeq: false })
              .then((result) => result !== null),
      )
      .then((running) => {
        // Another node declared this stream abandoned (its lease ran out while we were starved):
        // it has been committed as failed, so stop rather than write over it.
        if (!running) this.stop();
      })
      .catch((error) => this.host.onFailure(error, `stream ${this.id}: flush failed`, 'warn'));
  }

  private async finish(status: StreamEnd['status'], failure: unknown): Promise<StreamEnd> {
    if (status === 'completed') this.emitChunk(true);
    else this.emitChunk(); // a stopped or failed stream sends no final chunk, but nothing is lost
    const error = failure === null ? undefined : toStreamError(failure);
    // Members get the generic error; the upstream's detail (host, status, body) goes to the log.
    if (failure !== null) this.host.onFailure(failure, `stream ${this.id} failed after ${this.errors} attempt(s)`, 'error');
    const at = this.host.now();
    const patch: StreamPatch = {
      status,
      finishReason: this.finishReason ?? (status === 'error' ? 'error' : null),
      tokensGenerated: this.tokensGenerated(),
      promptTokens: this.promptTokens,
      bytesEmitted: this.bytes,
      errors: this.errors,
      errorMessage: error?.message ?? null,
      firstTokenAt: this.firstTokenAt,
      completedAt: at,
      at,
    };
    // Steps and tool calls are kept with the answer: metrics read them there once the stream ended.
    const usedTools = this.steps > 1 || this.toolCalls.length > 0;
    const metadata = { ...(this.messageMetadata ?? {}), status, streamId: this.id, ...(usedTools && { steps: this.steps, toolCalls: this.toolCalls.map((c) => ({ ...c })) }) };
    let committed: { stream: StreamRecord; message: Message | null } | null = null;
    let superseded = false;
    const write = this.writes.then(() =>
      this.host.storage.updateStream(this.id, { ...patch, expectedStatuses: RUNNING }, {
        patch: { content: this.emitted, parts: [...this.parts], tokens: this.tokensGenerated(), metadata, at },
        bumpSeq: true,
      }),
    );
    this.writes = write.catch(() => {});
    try {
      committed = await write;
      superseded = committed === null;
    } catch (writeError) {
      this.host.onFailure(writeError, `stream ${this.id}: final commit failed`, 'error');
    }
    const record: StreamRecord = committed?.stream ?? {
      ...this.record,
      ...patch,
      finishReason: patch.finishReason ?? null,
      promptTokens: patch.promptTokens ?? null,
      errorMessage: patch.errorMessage ?? null,
      firstTokenAt: this.firstTokenAt?.toISOString() ?? null,
      completedAt: at.toISOString(),
      updatedAt: at.toISOString(),
      tokensGenerated: this.tokensGenerated(),
      bytesEmitted: this.bytes,
      errors: this.errors,
      status,
    };
    const end: StreamEnd = {
      status,
      record,
      message: committed?.message ?? null,
      content: this.emitted,
      parts: [...this.parts],
      ...(error && { error }),
      ...(superseded && { superseded }),
      metrics: this.metrics(record),
    };
    this.host.onEnd(end);
    return end;
  }

  /**
   * Keeps the stream's row fresh while the upstream is silent (no flush writes it then): touches it
   * when nothing was written for `olderThanMs`. The engine calls it every `olderThanMs`, so the row
   * is never older than twice that — the guarantee other nodes rely on (see streamLeaseTimings).
   */
  heartbeat(olderThanMs: number): void {
    if (Date.now() - this.lastWriteAt < olderThanMs) return;
    this.lastWriteAt = Date.now();
    const at = this.host.now();
    this.writes = this.writes
      .then(() =>
        this.host.storage.updateStream(this.id, {
          ...(this.firstTokenAt !== null && { status: 'streaming' as const, tokensGenerated: this.tokensGenerated(), firstTokenAt: this.firstTokenAt }),
          expectedStatuses: RUNNING,
          at,
        }),
      )
      .then((result) => {
        if (result === null) this.stop();
      })
      .catch((error) => this.host.onFailure(error, `stream ${this.id}: heartbeat failed`, 'warn'));
  }

  /** Metadata of the answer message, kept when the final status is written. */
  messageMetadata: Record<string, unknown> | null = null;

  private tokensGenerated(): number {
    return this.earlierTokens + (this.stepUsage?.completionTokens ?? this.stepTokens);
  }

  /** Resolves true after `ms`, false if the stream is stopped first. */
  private sleep(ms: number): Promise<boolean> {
    const signal = this.controller.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

const RUNNING: readonly StreamStatus[] = ['pending', 'streaming'];

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** Matched by name too: a provider from a second copy of the package has its own class. */
function isProviderError(error: unknown): error is LlmProviderError {
  return error instanceof LlmProviderError || (error instanceof Error && error.name === 'LlmProviderError' && typeof (error as LlmProviderError).retryable === 'boolean');
}

function isNetworkError(error: unknown): boolean {
  return error instanceof TypeError || (typeof error === 'object' && error !== null && 'code' in error && /^E[A-Z]+/.test(String((error as { code: unknown }).code)));
}

/**
 * What members see of an upstream failure: a code and a fixed message — never the upstream's
 * host, port, error number, HTTP status or body, which the engine logs. An upstream 429 is the
 * operator's quota running out, not the member's budget: it is `UNAVAILABLE` like an upstream that
 * is down (`RATE_LIMITED` would tell members to slow down, which would not help). A failure
 * retrying cannot fix (a rejected API key, an unknown model) is `INTERNAL`.
 */
function toStreamError(error: unknown): ChatError {
  if (error instanceof ChatError) return error;
  if (isProviderError(error) && !error.retryable) {
    return new ChatError('INTERNAL', 'The assistant could not answer', { cause: error });
  }
  return new ChatError('UNAVAILABLE', 'The assistant is unavailable right now', { cause: error });
}

/** A tool result as the next request carries it. */
function toolMessage(result: ToolResult): LlmMessage {
  const { call } = result;
  return { role: 'tool', toolCallId: call.id, toolName: call.name, content: result.content, ...(result.isError && { isError: true }) };
}

/** The arguments as JSON when they parse, else the text as the model wrote it. */
function parseOr(text: string): unknown {
  try {
    return text.trim() === '' ? {} : (JSON.parse(text) as unknown);
  } catch {
    return text;
  }
}
