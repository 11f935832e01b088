/**
 * What the model is sent for an answer: the agent's system prompt, the session's recent messages
 * (earlier answers with their tool calls and results, as they happened) and the prompt — trimmed
 * oldest-first to the agent's token budget.
 */
import type { Message, MessagePart, ToolResultPart } from '../model.js';
import type { LlmMessage, LlmTool, LlmToolCall } from '../ports/llm.js';

/** How much of the session an agent's model is sent. */
export interface AgentContext {
  /**
   * The most tokens the request may take (system prompt, tools, history and prompt, counted with
   * OpenAI's `o200k_base` encoding): the oldest history goes first. The system prompt and the
   * prompt are always sent, even when they alone are over. Unset: only `contextMessages` limits it.
   */
  maxTokens?: number;
  /**
   * The name a member's messages carry upstream when several members wrote in the session
   * (default: the display name of the member's profile, else the user id). Keep it short: it is
   * sent with every message.
   */
  authorName?: (userId: string) => string | Promise<string>;
}

export interface ContextInput {
  systemPrompt: string | undefined;
  /** The session's recent top-level messages, oldest first. */
  history: readonly Message[];
  /** `authorName`: the asker's display name (null or absent: none). */
  prompt: { content: string; userId: string; authorName?: string | null };
  tools: readonly LlmTool[];
  context: AgentContext | undefined;
}

/** Counts the tokens of a text (see {@link AgentContext.maxTokens}). */
export type TokenCounter = (text: string) => number;

/** The request's messages, trimmed to the budget. */
export async function modelMessages(input: ContextInput): Promise<LlmMessage[]> {
  const { systemPrompt, history, prompt, context } = input;
  const kept = history.filter((m) => !m.isDeleted && (m.content !== '' || (m.parts?.length ?? 0) > 0));
  // Members' messages carry their sender; answers and system notes have none.
  const authors = new Set([prompt.userId, ...kept.flatMap((m) => (m.userId === null ? [] : [m.userId]))]);
  const nameOf = authors.size > 1 ? await authorNames(authors, context?.authorName, profileNames(kept, prompt)) : null;

  const system: LlmMessage[] = systemPrompt ? [{ role: 'system', content: systemPrompt }] : [];
  const last: LlmMessage = { role: 'user', content: prompt.content, ...(nameOf && { name: nameOf(prompt.userId) }) };
  // One unit per stored message: an answer's tool calls never part from their results. (An answer
  // that is only a call without result gives none.)
  let units = kept.map((m) => messagesOf(m, nameOf)).filter((unit) => unit.length > 0);
  const maxTokens = context?.maxTokens;
  // Stryker disable next-line ConditionalExpression: without a budget, every cost compares with NaN and nothing is trimmed either
  if (maxTokens !== undefined) units = await withinBudget(units, maxTokens, [...system, last], input.tools);
  return [...system, ...units.flat(), last];
}

/**
 * The newest units that fit in what the system prompt, tools and prompt leave of `maxTokens`. When
 * older ones were left out, history starts with a member's message: an answer whose question is
 * gone would only confuse (and Anthropic wants a user turn first).
 */
async function withinBudget(units: LlmMessage[][], maxTokens: number, fixed: LlmMessage[], tools: readonly LlmTool[]): Promise<LlmMessage[][]> {
  const count = await tokenCounter();
  let left = maxTokens - fixed.reduce((sum, m) => sum + messageTokens(m, count), 0) - (tools.length > 0 ? count(JSON.stringify(tools)) : 0);
  let start = units.length;
  while (start > 0) {
    const cost = units[start - 1]!.reduce((sum, m) => sum + messageTokens(m, count), 0);
    if (cost > left) break;
    left -= cost;
    start--;
  }
  if (start === 0) return units;
  while (start < units.length && units[start]![0]!.role !== 'user') start++;
  return units.slice(start);
}

/** Per message, what the chat format adds around the text (OpenAI's published estimate). */
const MESSAGE_OVERHEAD = 4;

function messageTokens(message: LlmMessage, count: TokenCounter): number {
  let tokens = MESSAGE_OVERHEAD + count(message.content);
  // Stryker disable next-line ConditionalExpression: only a user message has a name
  if (message.role === 'user' && message.name !== undefined) tokens += count(message.name) + 1;
  // Stryker disable next-line ConditionalExpression: only an assistant message has tool calls
  if (message.role === 'assistant') for (const call of message.toolCalls ?? []) tokens += count(call.name) + count(call.arguments) + MESSAGE_OVERHEAD;
  return tokens;
}

let counter: Promise<TokenCounter> | null = null;

/** Loads the tokenizer now (the engine's `init()` does, for agents configured with a budget) rather than in a first answer. */
// Stryker disable next-line BlockStatement: it only moves the load earlier; the first count loads it anyway
export async function preloadTokenCounter(): Promise<void> {
  await tokenCounter();
}

/**
 * Loaded on first use: its vocabulary is a few MB that an engine without a budget never needs.
 * Special-token text (`<|endoftext|>`) in a message is counted as the text it is, never refused.
 */
function tokenCounter(): Promise<TokenCounter> {
  // Stryker disable all: built once per process, so a mutant here is never active in the mutation
  // runner (modules stay loaded); the special-token and budget tests hold it.
  counter ??= import('gpt-tokenizer').then(({ countTokens }) => {
    const plain = { disallowedSpecial: new Set<string>() };
    return (text: string) => (text === '' ? 0 : countTokens(text, plain));
  });
  // Stryker restore all
  return counter;
}

/** The display names the messages carry (`authorName`, filled by the engine from profiles). */
function profileNames(history: readonly Message[], prompt: ContextInput['prompt']): Map<string, string> {
  const names = new Map<string, string>();
  for (const m of history) if (m.userId !== null && m.authorName) names.set(m.userId, m.authorName);
  if (prompt.authorName) names.set(prompt.userId, prompt.authorName);
  return names;
}

async function authorNames(userIds: Set<string>, authorName: AgentContext['authorName'], profiles: Map<string, string>): Promise<(userId: string) => string> {
  if (!authorName) return (userId) => profiles.get(userId) ?? userId;
  const names = new Map<string, string>();
  for (const userId of userIds) names.set(userId, (await authorName(userId)) || userId);
  return (userId) => names.get(userId) ?? userId;
}

/** A stored message as the model sees it: an answer with parts as the steps it took. */
function messagesOf(message: Message, nameOf: ((userId: string) => string) | null): LlmMessage[] {
  if (message.role === 'system') return [{ role: 'system', content: message.content }];
  if (message.role === 'user') {
    // Stryker disable next-line ConditionalExpression: a user message always has its sender
    const name = nameOf && message.userId !== null ? nameOf(message.userId) : undefined;
    return [{ role: 'user', content: message.content, ...(name !== undefined && { name }) }];
  }
  return message.parts?.some((p) => p.type === 'tool-call') ? stepsOf(message.parts) : [{ role: 'assistant', content: message.content }];
}

/**
 * An answer's parts as its steps: each step's text and calls as an assistant message, each call's
 * result as a tool message after it. A call without a result (its node died while the tool ran)
 * is left out: both providers refuse a call that no result follows.
 */
function stepsOf(parts: readonly MessagePart[]): LlmMessage[] {
  const results = new Map<string, ToolResultPart>();
  for (const part of parts) if (part.type === 'tool-result') results.set(part.toolCallId, part);
  const out: LlmMessage[] = [];
  let text = '';
  let calls: LlmToolCall[] = [];
  const endStep = () => {
    if (text.trim() === '' && calls.length === 0) return;
    out.push({ role: 'assistant', content: text.trim(), ...(calls.length > 0 && { toolCalls: calls }) });
    for (const call of calls) {
      const result = results.get(call.id)!;
      out.push({ role: 'tool', toolCallId: call.id, toolName: call.name, content: JSON.stringify(result.output) ?? 'null', ...(result.isError && { isError: true }) });
    }
    text = '';
    calls = [];
  };
  for (const part of parts) {
    if (part.type === 'text') {
      if (calls.length > 0) endStep();
      text += part.text;
    } else if (part.type === 'tool-call' && results.has(part.toolCallId)) {
      const args = typeof part.input === 'string' ? part.input : JSON.stringify(part.input ?? {});
      calls.push({ id: part.toolCallId, name: part.toolName, arguments: args });
    }
  }
  endStep();
  return out;
}
