/** What members and hosts see of a stream: its chunks, status and metrics, live or from its row. */
import type { StreamRecord, StreamStatus, ToolCallPart, ToolResultPart } from '../model.js';

/** What `stream:chunk` carries. `content` is empty except on the final chunk. */
export interface StreamChunk {
  /** The stream id. */
  id: string;
  sessionId: string;
  messageId: string;
  index: number;
  delta: string;
  content: string;
  /** Tokens received so far. */
  tokens: number;
  isComplete: boolean;
  /**
   * Set on a chunk that announces a tool call (before it runs) or its result (`delta` is then
   * empty), so members watch a tool run. A failed tool's result says only what kind of failure.
   */
  part?: StreamPart;
}

/** A tool call or result inside an answer, as members see it. */
export type StreamPart = ToolCallPart | ToolResultPart;

/** One tool call of an answer, for metrics. */
export interface ToolCallMetric {
  toolCallId: string;
  toolName: string;
  durationMs: number;
  isError: boolean;
}

export interface StreamMetrics {
  streamId: string;
  totalTokens: number;
  tokensPerSecond: number;
  /** ms from start to the first token (null before it). */
  latency: number | null;
  /** Bytes of answer text emitted per second, counted once (not per viewer). */
  bandwidth: number;
  errors: number;
  /** Prompt tokens over all steps, as the upstream reported them (null when it reported none). */
  promptTokens: number | null;
  /** Completion tokens over all steps (as `totalTokens`). */
  completionTokens: number;
  /** Model calls in this answer: 1, plus one per round of tool results sent back. */
  steps: number;
  /** Every tool call of the answer, in the order the model made them. */
  toolCalls: ToolCallMetric[];
  /** With the agent's `pricing`: prompt and completion tokens at its prices per million. */
  cost?: number;
}

/** An agent's prices per million tokens, in the currency the host chooses. */
export interface AgentPricing {
  inputPerMTok: number;
  outputPerMTok: number;
}

export interface StreamStatusView {
  streamId: string;
  sessionId: string;
  messageId: string;
  status: StreamStatus;
  /** tokensGenerated / maxTokens, or null without a maxTokens. */
  progress: number | null;
  tokensGenerated: number;
  finishReason?: string;
  startedAt: string;
  completedAt?: string;
}

/** What a finished answer keeps of its steps (its message's metadata), for metrics. */
export interface StepRecord {
  steps: number;
  toolCalls: readonly ToolCallMetric[];
}

/** Steps and tool calls from an answer's metadata (one step and none when it used no tools). */
export function stepRecordOf(metadata: Record<string, unknown> | null | undefined): StepRecord {
  const steps = typeof metadata?.steps === 'number' ? metadata.steps : 1;
  const toolCalls = Array.isArray(metadata?.toolCalls) ? (metadata.toolCalls as ToolCallMetric[]) : [];
  return { steps, toolCalls };
}

export function statusView(record: StreamRecord): StreamStatusView {
  return {
    streamId: record.id,
    sessionId: record.sessionId,
    messageId: record.messageId,
    status: record.status,
    progress: record.maxTokens ? Math.min(1, record.tokensGenerated / record.maxTokens) : null,
    tokensGenerated: record.tokensGenerated,
    ...(record.finishReason !== null && { finishReason: record.finishReason }),
    startedAt: record.startedAt,
    ...(record.completedAt !== null && { completedAt: record.completedAt }),
  };
}

export function metricsView(record: StreamRecord, now: Date, steps: StepRecord = { steps: 1, toolCalls: [] }, pricing: AgentPricing | null = null): StreamMetrics {
  const end = record.completedAt ? Date.parse(record.completedAt) : now.getTime();
  const first = record.firstTokenAt ? Date.parse(record.firstTokenAt) : null;
  const started = Date.parse(record.startedAt);
  const generating = first === null ? 0 : Math.max(1, end - first) / 1000;
  const total = Math.max(1, end - started) / 1000;
  return {
    streamId: record.id,
    totalTokens: record.tokensGenerated,
    tokensPerSecond: generating > 0 ? record.tokensGenerated / generating : 0,
    latency: first === null ? null : first - started,
    bandwidth: record.bytesEmitted / total,
    errors: record.errors,
    promptTokens: record.promptTokens,
    completionTokens: record.tokensGenerated,
    steps: steps.steps,
    toolCalls: steps.toolCalls.map((c) => ({ ...c })),
    ...(pricing && { cost: ((record.promptTokens ?? 0) * pricing.inputPerMTok + record.tokensGenerated * pricing.outputPerMTok) / 1_000_000 }),
  };
}
