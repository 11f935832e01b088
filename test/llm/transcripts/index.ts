/**
 * Recorded upstream streams, byte for byte, one `.sse` file each, served by the fake upstream
 * (`test/support/fake-openai.ts`) one event per write. The shapes follow what each server sends:
 * OpenAI (`tool_calls` pieces by index, `"usage":null` on every chunk, a last `"choices":[]` usage
 * chunk), vLLM (`exclude_unset` pydantic, usage keys prompt/total/completion), Ollama (Go JSON, the
 * whole call in one chunk), llama.cpp (`ordered_json` key order, `timings`), Anthropic's Messages API
 * (`message_start`, `ping`, `content_block_*` with `text_delta` / `input_json_delta`,
 * `message_delta` usage, `message_stop`, an `error` event).
 */
import { readFileSync } from 'node:fs';
import type { LlmDelta, LlmProvider, LlmRequest, LlmToolCall, LlmUsage } from '../../../src/ports/llm.js';
import type { Transcript, TranscriptStep } from '../../support/fake-openai.js';

const SSE = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };

/** The bytes of a recorded stream. */
export function recorded(file: string): string {
  return readFileSync(new URL(`./${file}`, import.meta.url), 'utf8');
}

/** A recorded stream as a transcript: one write per event, `delayMs` apart. */
export function sseTranscript(file: string, options: { name?: string; delayMs?: number } = {}): Transcript {
  const events = recorded(file).split(/(?<=\n\n)/);
  const steps: TranscriptStep[] = [{ type: 'head', status: 200, headers: SSE }];
  for (const event of events) {
    if (options.delayMs) steps.push({ type: 'delay', ms: options.delayMs });
    steps.push({ type: 'write', data: event });
  }
  return { name: options.name ?? file.replace(/\.sse$/, ''), steps };
}

/** What a provider's deltas add up to: the text, whole tool calls, the last usage and finish reason. */
export interface Answer {
  text: string;
  toolCalls: LlmToolCall[];
  usage: LlmUsage | undefined;
  finishReason: string | undefined;
  error: unknown;
}

export async function answer(provider: LlmProvider, request: LlmRequest, signal: AbortSignal = new AbortController().signal): Promise<Answer> {
  const deltas: LlmDelta[] = [];
  let error: unknown;
  try {
    for await (const delta of provider.stream(request, signal)) deltas.push(delta);
  } catch (e) {
    error = e;
  }
  const toolCalls: LlmToolCall[] = [];
  for (const { toolCall } of deltas) {
    if (!toolCall) continue;
    const call = (toolCalls[toolCall.index] ??= { id: '', name: '', arguments: '' });
    if (toolCall.id) call.id = toolCall.id;
    if (toolCall.name) call.name = toolCall.name;
    call.arguments += toolCall.argumentsDelta ?? '';
  }
  return {
    text: deltas.map((d) => d.text).join(''),
    toolCalls,
    usage: deltas.filter((d) => d.usage).at(-1)?.usage,
    finishReason: deltas.filter((d) => d.finishReason).at(-1)?.finishReason,
    error,
  };
}
