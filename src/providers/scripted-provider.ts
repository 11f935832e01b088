import type { LlmDelta, LlmMessage, LlmProvider, LlmRequest, LlmTool } from '../ports/llm.js';

export interface ScriptedProviderOptions {
  /** Pace of the reply (default 30 tokens/s); 0 sends everything at once. */
  tokensPerSecond?: number;
  /** The reply: fixed text, or a function of the request. Default: a labelled echo of the prompt. */
  reply?: string | ((request: LlmRequest) => string);
  /**
   * Whether it calls offered tools (default true): when the prompt has a word of four letters or
   * more of a tool's name ("roll" or "dice" for `rollDice`), it calls that tool with `{}` first, then
   * answers quoting the result.
   */
  callTools?: boolean;
}

/**
 * NOT a language model: deterministic text at a fixed pace, for demos, tests and benchmarks. It
 * behaves like a real provider (tokens over time, usage on the last delta, `length` when `maxTokens`
 * cuts it, abort on signal), so the whole streaming path can be exercised without a network. With
 * tools offered it calls one whose words the prompt mentions, so tools can be shown without a model.
 *
 * ```ts
 * new ChatEngine({ storage, llm: new ScriptedProvider({ tokensPerSecond: 20 }) });
 * ```
 */
export class ScriptedProvider implements LlmProvider {
  readonly name = 'scripted';
  readonly defaultModel = 'scripted-demo (not a model)';
  private readonly tokensPerSecond: number;
  private readonly reply: (request: LlmRequest) => string;
  private readonly callTools: boolean;

  constructor(options: ScriptedProviderOptions = {}) {
    this.tokensPerSecond = options.tokensPerSecond ?? 30;
    this.callTools = options.callTools ?? true;
    const reply = options.reply ?? defaultReply;
    this.reply = typeof reply === 'string' ? () => reply : reply;
  }

  async *stream(request: LlmRequest, signal: AbortSignal): AsyncIterable<LlmDelta> {
    const promptTokens = request.messages.reduce((n, m) => n + Math.ceil(m.content.length / 4), 0);
    const last = request.messages.at(-1);
    const tool = this.callTools && last?.role === 'user' ? toolFor(last.content, request.tools ?? []) : undefined;
    if (tool) {
      await sleep(200, signal); // a model takes a moment to decide
      yield { text: '', toolCall: { index: 0, id: `call_scripted_${Date.now().toString(36)}`, name: tool.name, argumentsDelta: '{}' } };
      yield { text: '', finishReason: 'tool_calls', usage: { promptTokens, completionTokens: 1, totalTokens: promptTokens + 1 } };
      return;
    }
    const text = last?.role === 'tool' && this.callTools ? toolReply(last) : this.reply(request);
    const tokens = text.match(/\s*\S+|\s+$/g) ?? [];
    const limit = request.maxTokens ?? Infinity;
    const interval = this.tokensPerSecond > 0 ? 1000 / this.tokensPerSecond : 0;
    const start = performance.now();
    let sent = 0;
    for (const token of tokens) {
      if (sent >= limit) break;
      // Pace against the start time so timer drift does not accumulate.
      await sleep(start + (sent + 1) * interval - performance.now(), signal);
      sent++;
      yield { text: token };
    }
    yield {
      text: '',
      finishReason: sent < tokens.length ? 'length' : 'stop',
      usage: { promptTokens, completionTokens: sent, totalTokens: promptTokens + sent },
    };
  }
}

/** The first offered tool whose name has a word (4+ letters; camelCase, `_` and `-` split) in the prompt. */
function toolFor(prompt: string, tools: readonly LlmTool[]): LlmTool | undefined {
  const words = (text: string) => new Set(text.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase().match(/\p{L}{4,}/gu) ?? []);
  const asked = words(prompt);
  return tools.find((tool) => [...words(tool.name.replace(/[_-]/g, ' '))].some((word) => asked.has(word)));
}

function toolReply(result: Extract<LlmMessage, { role: 'tool' }>): string {
  return result.isError
    ? `The scripted demo provider called ${result.toolName}, which failed: ${result.content.slice(0, 200)}. A model would now explain or try again.`
    : `The scripted demo provider called the tool ${result.toolName}, which returned ${result.content.slice(0, 200)}. ` +
        `A language model would now answer with that result in its own words.`;
}

function defaultReply(request: LlmRequest): string {
  const prompt = [...request.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const words = prompt.split(/\s+/).filter(Boolean).length;
  return (
    `This is Parley's scripted demo provider, not a language model. You asked: "${prompt.slice(0, 200)}" ` +
    `(${words} word${words === 1 ? '' : 's'}). Configure OPENAI_BASE_URL, OPENAI_API_KEY and OPENAI_MODEL ` +
    `to stream answers from OpenAI, Ollama, vLLM, llama.cpp or any OpenAI-compatible server. ` +
    `Until then, this text arrives token by token so you can watch streaming, stop it half-way, ` +
    `and see the partial answer kept in the history.`
  );
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}
