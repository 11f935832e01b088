import type { LlmDelta, LlmProvider, LlmRequest } from '../ports/llm.js';

export interface ScriptedProviderOptions {
  /** Pace of the reply (default 30 tokens/s); 0 sends everything at once. */
  tokensPerSecond?: number;
  /** The reply: fixed text, or a function of the request. Default: a labelled echo of the prompt. */
  reply?: string | ((request: LlmRequest) => string);
}

/**
 * NOT a language model: deterministic text at a fixed pace, for demos, tests and benchmarks. It
 * behaves like a real provider (tokens over time, usage on the last delta, `length` when `maxTokens`
 * cuts it, abort on signal), so the whole streaming path can be exercised without a network.
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

  constructor(options: ScriptedProviderOptions = {}) {
    this.tokensPerSecond = options.tokensPerSecond ?? 30;
    const reply = options.reply ?? defaultReply;
    this.reply = typeof reply === 'string' ? () => reply : reply;
  }

  async *stream(request: LlmRequest, signal: AbortSignal): AsyncIterable<LlmDelta> {
    const tokens = this.reply(request).match(/\s*\S+|\s+$/g) ?? [];
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
    const promptTokens = request.messages.reduce((n, m) => n + Math.ceil(m.content.length / 4), 0);
    yield {
      text: '',
      finishReason: sent < tokens.length ? 'length' : 'stop',
      usage: { promptTokens, completionTokens: sent, totalTokens: promptTokens + sent },
    };
  }
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
