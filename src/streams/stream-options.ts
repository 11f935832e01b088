import { hostname } from 'node:os';
import { ChatError } from '../errors.js';
import { newId } from '../ids.js';
import type { LlmProvider, LlmTool } from '../ports/llm.js';
import { toolDefinitions, type Tool } from '../tools/define-tool.js';
import type { AgentPricing, AgentRun } from './active-stream.js';
import type { AgentContext } from './model-context.js';
import { streamLeaseTimings, type StreamLeaseTimings } from './remote-streams.js';

/** An assistant persona: which provider and model answer, with what instructions. */
export interface AgentConfig {
  provider?: LlmProvider;
  model?: string;
  systemPrompt?: string;
  temperature?: number;
  maxTokens?: number;
  /** This agent's answer length cap in characters (default: the engine's `maxAnswerChars`). */
  maxAnswerChars?: number;
  /** Tools the model may call, by name (1 to 64 letters, digits, `_`, `-`); see `defineTool`. */
  tools?: Record<string, Tool>;
  /** Model calls in one answer: model → tools → model rounds (default 5). The last may not call tools. */
  maxSteps?: number;
  /** How long one tool call may run before it becomes an error result, in ms (default 30 000). */
  toolTimeoutMs?: number;
  /** Prices per million tokens: `getStreamMetrics` then reports the answer's `cost`. */
  pricing?: AgentPricing;
  /** How much of the session the model is sent: a token budget, the names of members (see {@link AgentContext}). */
  context?: AgentContext;
}

/** The LLM streaming part of `ChatEngineOptions`. */
export interface StreamingOptions {
  /** The default provider (e.g. `OpenAICompatibleProvider`, or `ScriptedProvider` for demos). */
  llm?: LlmProvider;
  /** Agents by id: each may override provider, model, system prompt, temperature, max tokens. */
  agents?: Record<string, AgentConfig>;
  /** For hosts that keep agents elsewhere: called for ids not in `agents`; null = unknown agent. */
  resolveAgent?: (agentId: string) => AgentConfig | null | undefined | Promise<AgentConfig | null | undefined>;
  /** ms between coalesced chunks (STREAM_DELAY, default 50); the first token goes at once. */
  streamDelayMs?: number;
  /** Streams running at once on this node (MAX_CONCURRENT_STREAMS, default 10). */
  maxConcurrentStreams?: number;
  /** Streams one user may run at once (default 3). */
  maxStreamsPerUser?: number;
  /** How often a growing answer is written to storage (default 1000 ms). */
  streamFlushIntervalMs?: number;
  /** Recent session messages sent as context (default 20). */
  contextMessages?: number;
  /**
   * Where an answer is cut off, in characters (UTF-16 code units, as the user content cap counts
   * them), unless its agent sets its own (default 32,000, about 8,000 tokens of English: more than a
   * chat answer needs, while a runaway or hostile upstream cannot store and broadcast megabytes).
   * The upstream request is aborted and the answer completes with finish reason `length`.
   */
  maxAnswerChars?: number;
  /** When set, a request may only name one of these models; otherwise any model name is passed on. */
  allowedModels?: string[];
  /** Retries of upstream failures before the first token (default 3 attempts within ~10 s). */
  streamRetry?: { attempts?: number; baseDelayMs?: number; maxTotalMs?: number };
  /** This process's id in `chat_streams` (default host:pid:random). */
  nodeId?: string;
  /**
   * A running stream's row is written at least every tenth of this (default 30 s, so every 3 s),
   * even while its upstream is silent. A joining member is offered a stream of another node only
   * while its row is that fresh (two of those intervals); a stream not touched for the whole lease
   * belongs to a process that died, and any node closes it as `error` with its partial text
   * (checked at `init()` and then every third of the lease). 0 turns heartbeats, the freshness
   * check and the sweep off.
   */
  streamLeaseMs?: number;
}

/** Every streaming setting with its default applied. */
export interface StreamOptions {
  llm: LlmProvider | null;
  agents: Readonly<Record<string, AgentConfig>>;
  resolveAgent: StreamingOptions['resolveAgent'] | null;
  delayMs: number;
  flushIntervalMs: number;
  maxConcurrentStreams: number;
  maxStreamsPerUser: number;
  contextMessages: number;
  /** The engine's cap; an agent's own wins (see {@link answerCap}). */
  maxAnswerChars: number;
  /** Null: any model name is passed on. */
  allowedModels: readonly string[] | null;
  retry: { attempts: number; baseDelayMs: number; maxTotalMs: number };
  nodeId: string;
  /** How long a stream's row may go unwritten before any node closes it (0: never). */
  leaseMs: number;
  /** Heartbeat, freshness and sweep timings; null when `leaseMs` is 0. */
  lease: StreamLeaseTimings | null;
}

/** The streaming defaults, each written once: the documentation of `StreamingOptions` states them. */
const DEFAULTS = {
  delayMs: 50,
  flushIntervalMs: 1000,
  maxConcurrentStreams: 10,
  maxStreamsPerUser: 3,
  contextMessages: 20,
  maxAnswerChars: 32_000,
  retry: { attempts: 3, baseDelayMs: 1000, maxTotalMs: 10_000 },
  leaseMs: 30_000,
} as const;

/** The engine's streaming options with every default applied: the one place they are decided. */
export function resolveStreamOptions(options: StreamingOptions): StreamOptions {
  const leaseMs = options.streamLeaseMs ?? DEFAULTS.leaseMs;
  const retry = options.streamRetry ?? {};
  return {
    llm: options.llm ?? null,
    agents: options.agents ?? {},
    resolveAgent: options.resolveAgent ?? null,
    delayMs: options.streamDelayMs ?? DEFAULTS.delayMs,
    flushIntervalMs: options.streamFlushIntervalMs ?? DEFAULTS.flushIntervalMs,
    maxConcurrentStreams: options.maxConcurrentStreams ?? DEFAULTS.maxConcurrentStreams,
    maxStreamsPerUser: options.maxStreamsPerUser ?? DEFAULTS.maxStreamsPerUser,
    contextMessages: options.contextMessages ?? DEFAULTS.contextMessages,
    maxAnswerChars: options.maxAnswerChars ?? DEFAULTS.maxAnswerChars,
    allowedModels: options.allowedModels ?? null,
    retry: {
      attempts: retry.attempts ?? DEFAULTS.retry.attempts,
      baseDelayMs: retry.baseDelayMs ?? DEFAULTS.retry.baseDelayMs,
      maxTotalMs: retry.maxTotalMs ?? DEFAULTS.retry.maxTotalMs,
    },
    nodeId: options.nodeId ?? `${hostname()}:${process.pid}:${newId().slice(-8)}`,
    leaseMs,
    lease: leaseMs > 0 ? streamLeaseTimings(leaseMs) : null,
  };
}

const DEFAULT_MAX_STEPS = 5;
const DEFAULT_TOOL_TIMEOUT_MS = 30_000;

/**
 * An agent's tools as the upstream sees them, and what its answers may do. Checked, like the answer
 * cap, before anything is stored: a bad tool name, schema, step count or price is the operator's
 * mistake, so members get INTERNAL.
 */
export function agentRun(agent: AgentConfig, who: { userId: string; agentId: string | null }): { run: AgentRun; tools: LlmTool[] } {
  const misconfigured = (what: string) => new ChatError('INTERNAL', `The assistant is misconfigured: ${what}`);
  const maxSteps = agent.maxSteps ?? DEFAULT_MAX_STEPS;
  if (!Number.isSafeInteger(maxSteps) || maxSteps < 1) throw misconfigured('maxSteps must be a positive integer');
  const toolTimeoutMs = agent.toolTimeoutMs ?? DEFAULT_TOOL_TIMEOUT_MS;
  if (!Number.isFinite(toolTimeoutMs) || toolTimeoutMs <= 0) throw misconfigured('toolTimeoutMs must be a positive number');
  const budget = agent.context?.maxTokens;
  if (budget !== undefined && (!Number.isSafeInteger(budget) || budget < 1)) throw misconfigured('context.maxTokens must be a positive integer');
  const pricing = agent.pricing ?? null;
  if (pricing && ![pricing.inputPerMTok, pricing.outputPerMTok].every((p) => Number.isFinite(p) && p >= 0)) {
    throw misconfigured('pricing needs inputPerMTok and outputPerMTok, non-negative numbers');
  }
  const tools = agent.tools ?? {};
  let definitions: LlmTool[];
  try {
    definitions = toolDefinitions(tools);
  } catch (error) {
    throw new ChatError('INTERNAL', 'The assistant is misconfigured: a tool cannot be sent to the model', { cause: error });
  }
  return { run: { tools, maxSteps, toolTimeoutMs, pricing, ...who }, tools: definitions };
}

/**
 * An agent's answer length cap: its own, else the engine's. Checked when a stream is requested,
 * before anything is stored: a bad cap is the operator's mistake, so members get INTERNAL.
 */
export function answerCap(agent: AgentConfig, engineCap: number): number {
  const cap = agent.maxAnswerChars ?? engineCap;
  if (!Number.isSafeInteger(cap) || cap < 1) throw new ChatError('INTERNAL', 'The assistant is misconfigured: maxAnswerChars must be a positive integer');
  return cap;
}
