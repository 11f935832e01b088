import { ChatError, UNAVAILABLE_RETRY_AFTER_MS } from '../errors.js';
import type { ChatEventName, ChatEvents } from '../events.js';
import { newId } from '../ids.js';
import { log, type Logger, type LogLevel } from '../logger.js';
import type { MessagePart, StreamRecord } from '../model.js';
import type { LlmProvider, LlmRequest, LlmTool } from '../ports/llm.js';
import type { StorageAdapter } from '../ports/storage.js';
import type { Transport } from '../ports/transport.js';
import type { StreamConfig } from '../schemas.js';
import { ActiveStream, metricsView, statusView, stepRecordOf, type AgentRun, type StreamChunk, type StreamEnd, type StreamMetrics, type StreamStatusView } from './active-stream.js';
import type { OutputModeration } from './output-filter.js';
import { closeRemoteStream, isFresh, RUNNING_STATUSES, stoppedInPlace } from './remote-streams.js';
import { modelMessages, preloadTokenCounter } from './model-context.js';
import { agentRun, answerCap, type AgentConfig, type StreamOptions } from './stream-options.js';
import { StreamSlots } from './stream-slots.js';

/** What `requestStream` answers (the `stream:request` ack). */
export interface StreamStart {
  streamId: string;
  /** The assistant message the answer streams into. */
  messageId: string;
  /** The stored prompt. */
  promptMessageId: string;
}

export interface StreamCallbacks {
  onChunk?: (chunk: StreamChunk) => void;
  onError?: (error: ChatError) => void;
  onComplete?: (result: { streamId: string; content: string; metrics: StreamMetrics }) => void;
}

/** A running stream as a late joiner needs it (`stream:snapshot`). */
export interface StreamSnapshot {
  streamId: string;
  sessionId: string;
  messageId: string;
  content: string;
  /** The answer's parts so far (text, tool calls, tool results), as `content` is its text. */
  parts: MessagePart[];
  tokens: number;
  /**
   * Chunks with a lower `index` are already in `content` and `parts`. -1 when the stream runs on another node:
   * `content` is then as of its last flush (about a second old).
   */
  index: number;
}

/** A stream request the engine has validated and authorized. */
export interface StreamRequest {
  sessionId: string;
  userId: string;
  agentId?: string | undefined;
  config?: StreamConfig | undefined;
}

/** A request that passed the stream rules and holds a slot: {@link StreamCoordinator.prepare}. */
export interface StreamLaunch {
  /** Stores the prompt and the empty answer, and starts streaming. Call it once, in the prompt's turn. */
  start(prompt: string, callbacks: StreamCallbacks): Promise<StreamStart>;
  /** Gives the slot back unless the stream started (call it in a `finally`). */
  release(): void;
}

/** What the coordinator needs from the engine. */
export interface StreamCoordinatorHost {
  storage: StorageAdapter;
  /** The output filter's moderation (LLM output is filtered like members' text). */
  moderation: OutputModeration;
  now(): Date;
  logger: Logger;
  /** Announces a committed change (the engine's event, and through it the transport). */
  publish<K extends ChatEventName>(event: K, payload: ChatEvents[K]): void;
  /** A failure nobody awaits, with its detail (never sent to members). */
  report(error: unknown, context: string, level?: LogLevel): void;
  /** How stops reach other nodes; null without a transport. */
  transport(): Transport | null;
  /** Display names by user id (null: none), from the profiles: one read for the ones not cached. */
  displayNames(userIds: string[]): Promise<Map<string, string | null>>;
}

interface StreamPlan extends Omit<StreamRequest, 'agentId'> {
  agentId: string | null;
  agent: AgentConfig;
  provider: LlmProvider;
  model: string | null;
  maxAnswerChars: number;
  run: AgentRun;
  tools: LlmTool[];
}

/** A request's slot: freed when its stream ends, or by the request itself if it fails first. */
interface Slot {
  release(): void;
  heldByStream: boolean;
}

/**
 * Owns LLM streaming on this node: the caps, the streams running here, their persistence and
 * announcements, the lease (heartbeats, freshness, the sweep for streams of dead nodes) and stops,
 * local or on another node. The engine checks who may ask and keeps the prompt's place among the
 * user's sends; everything about the stream itself is decided here.
 */
export class StreamCoordinator {
  private readonly running = new Map<string, ActiveStream>();
  private readonly slots: StreamSlots;
  /** Starts between their storage write and their registration: `close()` waits for them. */
  private readonly launching = new Set<Promise<unknown>>();
  private timers: NodeJS.Timeout[] = [];
  private started = false;
  private closing = false;

  constructor(
    private readonly options: StreamOptions,
    private readonly host: StreamCoordinatorHost,
  ) {
    this.slots = new StreamSlots(options.maxConcurrentStreams, options.maxStreamsPerUser);
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  /** Streams running on this node. */
  get runningCount(): number {
    return this.running.size;
  }

  /**
   * Loads the tokenizer when an agent has a token budget (a few hundred ms, better spent here than in
   * the first answer); closes what dead nodes left running, then keeps this node's rows fresh and
   * sweeps. Idempotent.
   */
  async start(): Promise<void> {
    if (Object.values(this.options.agents).some((agent) => agent.context?.maxTokens !== undefined)) {
      await preloadTokenCounter().catch((error) => this.host.report(error, 'loading the tokenizer failed'));
    }
    const lease = this.options.lease;
    if (!lease || this.started) return;
    this.started = true;
    await this.recoverAbandoned().catch((error) => this.host.report(error, 'stream recovery failed'));
    if (this.closing) return;
    // A tick every half heartbeat, touching rows not written for half a heartbeat: no running
    // stream's row gets older than one heartbeat (see streamLeaseTimings).
    const heartbeat = setInterval(() => {
      for (const stream of this.running.values()) stream.heartbeat(lease.tickMs);
    }, lease.tickMs);
    const sweep = setInterval(() => {
      this.recoverAbandoned().catch((error) => this.host.report(error, 'stream recovery failed'));
    }, lease.sweepMs);
    heartbeat.unref();
    sweep.unref();
    this.timers = [heartbeat, sweep];
  }

  /** Stops every stream of this node (status `stopped`, finish reason `shutdown`) and waits for their commits. */
  async close(): Promise<void> {
    this.closing = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await Promise.allSettled([...this.launching]);
    const running = [...this.running.values()];
    for (const stream of running) stream.stop('shutdown');
    await Promise.all(running.map((stream) => stream.done));
  }

  /**
   * The stream rules a request must pass before anything is stored: a free slot (per node, per
   * user), a known agent, a provider, a valid answer cap, an allowed model. The slot is held from
   * here on; `start` stores and runs the stream.
   */
  async prepare(request: StreamRequest): Promise<StreamLaunch> {
    this.refuseWhenClosing();
    const slot: Slot = { release: this.slots.take(request.userId), heldByStream: false };
    try {
      const agentId = request.agentId ?? null;
      const agent = await this.agentFor(agentId);
      const provider = agent.provider ?? this.options.llm;
      if (!provider) throw new ChatError('UNAVAILABLE', 'No language model is configured');
      const maxAnswerChars = answerCap(agent, this.options.maxAnswerChars);
      const { run, tools } = agentRun(agent, { userId: request.userId, agentId });
      const requested = request.config?.model;
      const allowed = this.options.allowedModels;
      if (requested !== undefined && allowed && !allowed.includes(requested)) {
        throw new ChatError('VALIDATION', `Model ${requested} is not allowed`, { details: { allowed } });
      }
      const plan: StreamPlan = { ...request, agentId, agent, provider, maxAnswerChars, run, tools, model: requested ?? agent.model ?? provider.defaultModel ?? null };
      return {
        start: (prompt, callbacks) => this.track(this.launch(plan, prompt, callbacks, slot)),
        release: () => {
          if (!slot.heldByStream) slot.release();
        },
      };
    } catch (error) {
      slot.release();
      throw error;
    }
  }

  /**
   * Closes streams whose process died (their lease ran out): status `error`, partial text kept,
   * `stream.error` announced. Safe on several nodes at once: each stream is committed once.
   */
  async recoverAbandoned(): Promise<number> {
    const now = this.host.now();
    const stale = await this.host.storage.listStaleStreams({ nodeId: null, updatedBefore: new Date(now.getTime() - this.options.leaseMs) });
    let closed = 0;
    for (const record of stale) {
      if (this.running.has(record.id)) continue;
      const message = 'The server streaming this answer stopped; the partial answer is kept';
      const result = await closeRemoteStream(this.host.storage, record, { status: 'error', finishReason: 'node-lost', errorMessage: message }, now);
      if (!result) continue; // another node got there first
      closed++;
      this.host.publish('stream.error', {
        streamId: record.id,
        sessionId: record.sessionId,
        messageId: record.messageId,
        seq: result.message?.changeSeq ?? 0,
        code: 'UNAVAILABLE',
        message,
        answer: result.message,
      });
    }
    return closed;
  }

  /**
   * Stops a stream, keeping its partial answer, wherever it runs: here; on the node that runs it
   * (through the transport); or, when no node claims it, in its place. Answers its final status.
   */
  async stop(record: StreamRecord): Promise<StreamStatusView> {
    const local = this.running.get(record.id);
    if (local) {
      local.stop();
      return statusView((await local.done).record);
    }
    if (!RUNNING_STATUSES.includes(record.status)) return statusView(record);
    return statusView(await this.stopRemote(record));
  }

  /** Stops a stream if this node runs it (a stop another node received). */
  stopLocal(streamId: string): boolean {
    const local = this.running.get(streamId);
    local?.stop();
    return local !== undefined;
  }

  /** {@link stopLocal}, resolving once the final status is committed or after `maxWaitMs`. */
  async stopLocalAndWait(streamId: string, maxWaitMs: number): Promise<boolean> {
    const local = this.running.get(streamId);
    if (!local) return false;
    local.stop();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([local.done, new Promise<void>((resolve) => (timer = setTimeout(resolve, maxWaitMs)))]);
    clearTimeout(timer);
    return true;
  }

  /** The live status of a stream running here, else what its row says. */
  status(record: StreamRecord): StreamStatusView {
    return this.running.get(record.id)?.status() ?? statusView(record);
  }

  /**
   * The live metrics of a stream running here, else what its row says, with the steps and tool
   * calls its answer keeps and the cost at its agent's current prices.
   */
  async metrics(record: StreamRecord): Promise<StreamMetrics> {
    const local = this.running.get(record.id);
    if (local) return local.metrics();
    const message = await this.host.storage.getMessage(record.messageId);
    const agent = await this.agentFor(record.agentId).catch(() => null); // an agent since removed has no prices
    return metricsView(record, this.host.now(), stepRecordOf(message?.metadata), agent?.pricing ?? null);
  }

  /**
   * The answers streaming in a session right now with their text so far. Streams of other nodes
   * answer from storage (text as of their last flush), and only while their row is fresh: a
   * running stream writes its row at least every heartbeat, so one not written for two is taken
   * for orphaned (its node is gone) and left out; the lease sweep or a stop closes it.
   */
  async snapshots(sessionId: string): Promise<StreamSnapshot[]> {
    const { storage } = this.host;
    const records = await storage.listStreams(sessionId, RUNNING_STATUSES);
    const snapshots: StreamSnapshot[] = [];
    const now = this.host.now();
    for (const record of records) {
      const local = this.running.get(record.id);
      if (local) {
        snapshots.push({ streamId: record.id, sessionId, messageId: record.messageId, ...local.snapshot() });
        continue;
      }
      if (this.options.lease && !isFresh(record, now, this.options.lease)) continue;
      const message = await storage.getMessage(record.messageId);
      snapshots.push({ streamId: record.id, sessionId, messageId: record.messageId, content: message?.content ?? '', parts: message?.parts ?? [], tokens: record.tokensGenerated, index: -1 });
    }
    return snapshots;
  }

  private async launch(plan: StreamPlan, prompt: string, callbacks: StreamCallbacks, slot: Slot): Promise<StreamStart> {
    this.refuseWhenClosing();
    const { storage } = this.host;
    const { sessionId, userId, agentId, agent, model } = plan;
    const context =
      this.options.contextMessages > 0
        ? await storage.getHistory(sessionId, { limit: this.options.contextMessages, offset: 0, parentMessageId: null })
        : { messages: [] };
    const names = await this.host.displayNames([userId, ...context.messages.flatMap((m) => (m.userId === null ? [] : [m.userId]))]);
    for (const m of context.messages) m.authorName = m.userId === null ? null : (names.get(m.userId) ?? null);
    const authorName = names.get(userId) ?? null;
    // Before anything is stored: a host's `authorName` that throws fails the request, not the answer.
    const messages = await modelMessages({ systemPrompt: agent.systemPrompt, history: context.messages, prompt: { content: prompt, userId, authorName }, tools: plan.tools, context: agent.context });
    const at = this.host.now();
    const streamId = newId();
    const promptMessageId = newId();
    const messageId = newId();
    const maxTokens = plan.config?.maxTokens ?? agent.maxTokens ?? null;
    const metadata = { status: 'streaming', streamId };
    const base = { sessionId, tokens: null, parentMessageId: null, clientMessageId: null, attachments: [], at };
    const { stream: record, messages: stored } = await storage.createStream({
      stream: { id: streamId, sessionId, messageId, promptMessageId, userId, agentId, model, maxTokens, nodeId: this.nodeId, at },
      messages: [
        { ...base, id: promptMessageId, userId, agentId: null, role: 'user', content: prompt, metadata: null },
        { ...base, id: messageId, userId: null, agentId, role: 'assistant', content: '', metadata },
      ],
    });
    for (const { message, created } of stored) {
      message.authorName = message.userId === null ? null : authorName;
      if (created) this.host.publish('message.created', { sessionId: message.sessionId, seq: message.seq, message });
    }
    const temperature = plan.config?.temperature ?? agent.temperature;
    const request: LlmRequest = {
      messages,
      ...(model !== null && { model }),
      ...(temperature !== undefined && { temperature }),
      ...(maxTokens !== null && { maxTokens }),
      ...(plan.tools.length > 0 && { tools: plan.tools }),
    };
    const stream = new ActiveStream(record, plan.provider, request, {
      storage,
      moderation: this.host.moderation,
      now: () => this.host.now(),
      delayMs: this.options.delayMs,
      flushIntervalMs: this.options.flushIntervalMs,
      maxAnswerChars: plan.maxAnswerChars,
      retry: this.options.retry,
      onChunk: (chunk) => {
        this.host.publish('stream.chunk', chunk);
        this.callBack(() => callbacks.onChunk?.(chunk), 'onChunk callback');
      },
      onEnd: (end) => {
        this.running.delete(streamId); // the slot is free before anyone hears of the end
        slot.release();
        this.announceEnd(end, callbacks);
      },
      onFailure: (error, context, level) => this.host.report(error, context, level),
    }, plan.run);
    stream.messageMetadata = metadata;
    this.running.set(streamId, stream);
    slot.heldByStream = true;
    void stream.run().finally(() => {
      this.running.delete(streamId);
      slot.release();
    });
    return { streamId, messageId, promptMessageId };
  }

  private announceEnd(end: StreamEnd, callbacks: StreamCallbacks): void {
    if (end.superseded) return; // closed by another node's sweep, which announced it
    const { record } = end;
    const base = { streamId: record.id, sessionId: record.sessionId, messageId: record.messageId, seq: end.message?.changeSeq ?? 0, answer: end.message };
    if (end.status === 'completed') {
      const { metrics } = end;
      this.host.publish('stream.completed', { ...base, content: end.content, parts: end.parts, finishReason: record.finishReason, metrics });
      this.callBack(() => callbacks.onComplete?.({ streamId: record.id, content: end.content, metrics }), 'onComplete callback');
    } else if (end.status === 'stopped') {
      this.host.publish('stream.stopped', { ...base, content: end.content, parts: end.parts });
    } else {
      const error = end.error ?? new ChatError('INTERNAL', 'The answer failed');
      this.host.publish('stream.error', { ...base, code: error.code, message: error.message });
      this.callBack(() => callbacks.onError?.(error), 'onError callback');
    }
  }

  /**
   * Asks the node running the stream to stop it; when none claims it (its node is gone, or there
   * is no other node), takes it over and commits it as stopped, announcing `stream.stopped` as a
   * local stop would.
   */
  private async stopRemote(record: StreamRecord): Promise<StreamRecord> {
    const { storage } = this.host;
    const transport = this.host.transport();
    let claimed = false;
    if (record.nodeId !== this.nodeId && transport?.requestStop) {
      try {
        claimed = (await transport.requestStop(record.id)) === true;
      } catch (error) {
        this.host.report(error, `stream ${record.id}: asking the other nodes to stop it failed; stopping it here`, 'warn');
      }
    }
    if (!claimed) {
      const closed = await closeRemoteStream(storage, record, { status: 'stopped', finishReason: 'stopped' }, this.host.now());
      if (closed) {
        log(this.host.logger, 'info', { streamId: record.id, nodeId: record.nodeId }, `stream ${record.id}: no node claimed it; stopped in its place`);
        this.host.publish('stream.stopped', stoppedInPlace(record, closed.message));
        return closed.stream;
      }
    }
    // Claimed (its node answers once it committed), or ended meanwhile: the row has the final word.
    return (await storage.getStream(record.id)) ?? record;
  }

  private async agentFor(agentId: string | null): Promise<AgentConfig> {
    const { agents, resolveAgent } = this.options;
    if (agentId === null) return agents['assistant'] ?? agents['default'] ?? {};
    const agent = agents[agentId] ?? (await resolveAgent?.(agentId));
    if (!agent) throw new ChatError('NOT_FOUND', `Agent ${agentId} not found`);
    return agent;
  }

  /** Keeps an in-flight start visible to `close()`, which waits for it. */
  private track<T>(start: Promise<T>): Promise<T> {
    this.launching.add(start);
    const settled = () => this.launching.delete(start);
    start.then(settled, settled);
    return start;
  }

  /** A closing engine starts nothing: a stream started now would outlive its storage. */
  private refuseWhenClosing(): void {
    if (this.closing) throw new ChatError('UNAVAILABLE', 'The chat engine is closed', { retryAfterMs: UNAVAILABLE_RETRY_AFTER_MS });
  }

  /** A host callback that throws is reported, never fails the stream. */
  private callBack(fn: () => void, context: string): void {
    try {
      fn();
    } catch (error) {
      this.host.report(error, context);
    }
  }
}
