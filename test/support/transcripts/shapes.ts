/**
 * Byte-exact SSE frames in the shapes the real servers send. Key order, JSON encoding and which fields appear are
 * taken from the servers' sources (and recorded streams quoted in public tests):
 *
 * - OpenAI: `data: {id, object, created, model, service_tier, system_fingerprint, choices:[{index, delta, logprobs,
 *   finish_reason}], usage, obfuscation}`; the first delta is `{role:"assistant", content:"", refusal:null}`; the
 *   finish chunk has `delta:{}`; with `include_usage` every chunk carries `"usage":null` and a last chunk has
 *   `"choices":[]` and the usage; then `data: [DONE]`. Compact JSON, UTF-8 not escaped.
 * - Azure OpenAI: keys in alphabetical order; a first chunk with `"choices":[]`, empty id/model/object and
 *   `prompt_filter_results`; `content_filter_results` in every choice.
 * - vLLM (`vllm/entrypoints/openai/chat_completion/serving.py`, pydantic `model_dump_json(exclude_unset=True)`):
 *   role chunk `delta:{role, content:""}`; content chunks `delta:{content}` with `logprobs:null`; the finish chunk
 *   carries the last piece of text and `stop_reason`; with `include_usage` a last `"choices":[]` chunk whose usage
 *   keys are `prompt_tokens, total_tokens, completion_tokens`; `continuous_usage_stats` puts usage on every chunk.
 *   Errors mid-stream are Python `json.dumps` (`", "` and `": "` separators, non-ASCII escaped) followed by [DONE].
 * - Ollama `/v1` (`openai/openai.go`, `middleware/openai.go`): Go `json.Marshal` (compact; `<`, `>`, `&`, U+2028/9
 *   escaped); every delta is `{role:"assistant", content}` (no role-only chunk); finish chunk
 *   `delta:{role:"assistant", content:""}`; `system_fingerprint:"fp_ollama"`; with `include_usage` a last
 *   `"choices":[]` chunk with usage; no `logprobs` field.
 * - llama.cpp server (`tools/server/server-task.cpp`, nlohmann `ordered_json`): keys `choices, created, id, model,
 *   system_fingerprint, object`; choices as `{finish_reason, index, delta}`; first delta `{role:"assistant",
 *   content:null}` sent in the same write as the first token; finish chunk `delta:{}`; usage chunk with
 *   `"choices":[]` and usage keys `completion_tokens, prompt_tokens, total_tokens`; `timings` on the last event
 *   (and on every chunk with `timings_per_token`); errors mid-stream as `data: {"error":{code, message, type}}`
 *   and no [DONE].
 */
import type { LlmUsage } from '../../../src/ports/llm.js';
import type { TranscriptStep } from '../fake-openai.js';

export type Flavor = 'openai' | 'azure' | 'vllm' | 'ollama' | 'llamacpp';

export const DONE = 'data: [DONE]\n\n';

/** One SSE event frame around an already serialized JSON string. */
export function frame(json: string): string {
  return `data: ${json}\n\n`;
}

export const write = (data: string | Uint8Array): TranscriptStep => ({ type: 'write', data });
export const delay = (ms: number): TranscriptStep => ({ type: 'delay', ms });
export const head = (headers: Record<string, string>, status = 200): TranscriptStep => ({ type: 'head', status, headers });

/** Go's `encoding/json`: compact, with `<`, `>`, `&`, U+2028 and U+2029 escaped. */
export function goJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Python's `json.dumps` defaults: `", "` and `": "` separators, non-ASCII as `\uXXXX`. */
export function pyJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  return `{${Object.entries(value)
    .map(([k, v]) => `${pyJson(k)}: ${pyJson(v)}`)
    .join(', ')}}`;
}

interface WireUsage {
  prompt: number;
  completion: number;
}

export function toLlmUsage(u: WireUsage): LlmUsage {
  return { promptTokens: u.prompt, completionTokens: u.completion, totalTokens: u.prompt + u.completion };
}

/** A server's frames for one answer. */
export interface Shape {
  readonly headers: Record<string, string>;
  /** Frames before the first token (role chunk, Azure's prompt filter). */
  start(): string[];
  /** The frame for token `i` (0-based); `soFar` = completion tokens including this one. */
  token(text: string, soFar: number): string;
  /** The finish chunk (and the usage chunk when `usage` is given). `lastText` rides on the finish chunk (vLLM). */
  finish(reason: string, usage: WireUsage | undefined, lastText?: string): string[];
  /** The terminator, if the server sends one. */
  readonly done: string;
}

export interface ShapeOptions {
  model?: string;
  id?: string;
  created?: number;
  /** Whether the client asked for `include_usage` (OpenAI then puts `"usage":null` on every chunk). */
  includeUsage?: boolean;
  /** vLLM `continuous_usage_stats`: usage on every chunk. */
  continuousUsage?: boolean;
  /** Prompt tokens, for continuous usage. */
  promptTokens?: number;
  /** llama.cpp `timings_per_token`. */
  timingsPerToken?: boolean;
}

const CREATED = 1_750_419_226;

/** Deterministic filler for OpenAI's `obfuscation` field (its length varies to pad chunk sizes). */
function obfuscation(seed: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let x = (seed * 2_654_435_761) >>> 0;
  const length = 1 + (x % 14);
  let out = '';
  for (let i = 0; i < length; i++) {
    x = (x * 1_103_515_245 + 12_345) >>> 0;
    out += alphabet[x % alphabet.length];
  }
  return out;
}

export function openaiShape(o: ShapeOptions = {}): Shape {
  const id = o.id ?? 'chatcmpl-BkX8sZ3fQ1mN7pLr2tYvW9cE4hJ0a';
  const model = o.model ?? 'gpt-4o-mini-2024-07-18';
  const created = o.created ?? CREATED;
  let n = 0;
  const chunk = (choices: unknown[], usage?: unknown): string => {
    const body: Record<string, unknown> = {
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      service_tier: 'default',
      system_fingerprint: 'fp_34a54ae93c',
      choices,
    };
    if (usage !== undefined) body.usage = usage;
    else if (o.includeUsage) body.usage = null;
    body.obfuscation = obfuscation(n++);
    return frame(JSON.stringify(body));
  };
  const choice = (delta: unknown, finish: string | null) => ({ index: 0, delta, logprobs: null, finish_reason: finish });
  return {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'openai-organization': 'user-parley-test',
      'openai-processing-ms': '187',
      'openai-project': 'proj_Xw3nQk2mLr8tYp0aVb7cD1eF',
      'openai-version': '2020-10-01',
      'x-request-id': 'req_5c0b6f2d9e8a4d1b8f3e7a6c2d1b0a9f',
      'x-ratelimit-limit-requests': '10000',
      'x-ratelimit-remaining-requests': '9999',
      'cf-cache-status': 'DYNAMIC',
      server: 'cloudflare',
    },
    start: () => [chunk([choice({ role: 'assistant', content: '', refusal: null }, null)])],
    token: (text) => chunk([choice({ content: text }, null)]),
    finish: (reason, usage) => {
      const frames = [chunk([choice({}, reason)])];
      if (usage) {
        frames.push(
          chunk([], {
            prompt_tokens: usage.prompt,
            completion_tokens: usage.completion,
            total_tokens: usage.prompt + usage.completion,
            prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
            completion_tokens_details: {
              reasoning_tokens: 0,
              audio_tokens: 0,
              accepted_prediction_tokens: 0,
              rejected_prediction_tokens: 0,
            },
          }),
        );
      }
      return frames;
    },
    done: DONE,
  };
}

const SAFE = { filtered: false, severity: 'safe' };

export function azureShape(o: ShapeOptions = {}): Shape {
  const id = o.id ?? 'chatcmpl-BleatwEUn3D8iXsgXpDqeOPEMuW3j';
  const model = o.model ?? 'gpt-4o-2024-08-06';
  const created = o.created ?? CREATED;
  const filters = { hate: SAFE, self_harm: SAFE, sexual: SAFE, violence: SAFE };
  const chunk = (choices: unknown[], usage?: unknown): string => {
    const body: Record<string, unknown> = {
      choices,
      created,
      id,
      model,
      object: 'chat.completion.chunk',
      system_fingerprint: 'fp_ee1d74bde0',
    };
    if (usage !== undefined) body.usage = usage;
    return frame(JSON.stringify(body));
  };
  const choice = (filter: unknown, delta: unknown, finish: string | null) => ({
    content_filter_results: filter,
    delta,
    finish_reason: finish,
    index: 0,
    logprobs: null,
  });
  return {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'apim-request-id': '0d8e3b1c-6a2f-4e9d-b7c5-1f4a9e2d3c8b',
      'x-ms-region': 'Sweden Central',
      'x-ratelimit-remaining-tokens': '449600',
      'azureml-model-session': 'd019-20250601012345',
    },
    start: () => [
      frame(
        JSON.stringify({
          choices: [],
          created: 0,
          id: '',
          model: '',
          object: '',
          prompt_filter_results: [
            { prompt_index: 0, content_filter_results: { ...filters, jailbreak: { filtered: false, detected: false } } },
          ],
        }),
      ),
      chunk([choice({}, { content: '', refusal: null, role: 'assistant' }, null)]),
    ],
    token: (text) => chunk([choice(filters, { content: text }, null)]),
    finish: (reason, usage) => {
      const frames = [chunk([choice({}, {}, reason)])];
      if (usage) {
        frames.push(
          chunk([], {
            completion_tokens: usage.completion,
            completion_tokens_details: {
              accepted_prediction_tokens: 0,
              audio_tokens: 0,
              reasoning_tokens: 0,
              rejected_prediction_tokens: 0,
            },
            prompt_tokens: usage.prompt,
            prompt_tokens_details: { audio_tokens: 0, cached_tokens: 0 },
            total_tokens: usage.prompt + usage.completion,
          }),
        );
      }
      return frames;
    },
    done: DONE,
  };
}

export function vllmShape(o: ShapeOptions = {}): Shape {
  const id = o.id ?? 'chatcmpl-9f1c2e7a4b6d4c0e8a3b5d7f9e1c3a5b';
  const model = o.model ?? 'meta-llama/Llama-3.1-8B-Instruct';
  const created = o.created ?? CREATED;
  const prompt = o.promptTokens ?? 0;
  const usageOf = (completion: number) => ({
    prompt_tokens: prompt,
    total_tokens: prompt + completion,
    completion_tokens: completion,
  });
  let completionSoFar = 0;
  const chunk = (choices: unknown[], usage?: unknown): string => {
    const body: Record<string, unknown> = { id, object: 'chat.completion.chunk', created, model, choices };
    if (usage !== undefined) body.usage = usage;
    return frame(JSON.stringify(body));
  };
  return {
    headers: {
      date: 'Fri, 20 Jun 2025 11:33:46 GMT',
      server: 'uvicorn',
      'content-type': 'text/event-stream; charset=utf-8',
    },
    start: () => [
      chunk(
        [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
        o.continuousUsage ? usageOf(0) : undefined,
      ),
    ],
    token: (text, soFar) => {
      completionSoFar = soFar;
      return chunk(
        [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }],
        o.continuousUsage ? usageOf(soFar) : undefined,
      );
    },
    finish: (reason, usage, lastText = '') => {
      if (lastText !== '') completionSoFar++;
      const frames = [
        chunk(
          [{ index: 0, delta: { content: lastText }, logprobs: null, finish_reason: reason, stop_reason: null }],
          o.continuousUsage ? usageOf(completionSoFar) : undefined,
        ),
      ];
      if (usage) {
        frames.push(
          chunk([], {
            prompt_tokens: usage.prompt,
            total_tokens: usage.prompt + usage.completion,
            completion_tokens: usage.completion,
          }),
        );
      }
      return frames;
    },
    done: DONE,
  };
}

export function ollamaShape(o: ShapeOptions = {}): Shape {
  const id = o.id ?? 'chatcmpl-417';
  const model = o.model ?? 'llama3.2';
  const created = o.created ?? CREATED;
  const chunk = (choices: unknown[], usage?: unknown): string => {
    const body: Record<string, unknown> = {
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      system_fingerprint: 'fp_ollama',
      choices,
    };
    if (usage !== undefined) body.usage = usage;
    return frame(goJson(body));
  };
  return {
    headers: { 'content-type': 'text/event-stream', date: 'Fri, 20 Jun 2025 11:33:46 GMT' },
    start: () => [],
    token: (text) => chunk([{ index: 0, delta: { role: 'assistant', content: text }, finish_reason: null }]),
    finish: (reason, usage) => {
      const frames = [chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: reason }])];
      if (usage) {
        frames.push(
          chunk([], {
            prompt_tokens: usage.prompt,
            completion_tokens: usage.completion,
            total_tokens: usage.prompt + usage.completion,
          }),
        );
      }
      return frames;
    },
    done: DONE,
  };
}

export function llamacppTimings(prompt: number, predicted: number): Record<string, number> {
  const promptMs = 41.273 + prompt * 1.9;
  const predictedMs = predicted * 24.61;
  return {
    cache_n: 0,
    prompt_n: prompt,
    prompt_ms: Number(promptMs.toFixed(3)),
    prompt_per_token_ms: Number((promptMs / Math.max(prompt, 1)).toFixed(6)),
    prompt_per_second: Number(((1000 * Math.max(prompt, 1)) / promptMs).toFixed(6)),
    predicted_n: predicted,
    predicted_ms: Number(predictedMs.toFixed(3)),
    predicted_per_token_ms: 24.61,
    predicted_per_second: 40.634701,
  };
}

export function llamacppShape(o: ShapeOptions = {}): Shape {
  const id = o.id ?? 'chatcmpl-Qm4xT7bK2nV9sL1pR8wZ3yHc';
  const model = o.model ?? 'gpt-3.5-turbo';
  const created = o.created ?? CREATED;
  const prompt = o.promptTokens ?? 0;
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
    frame(
      JSON.stringify({
        choices,
        created,
        id,
        model,
        system_fingerprint: 'b5861-bf9087f5',
        object: 'chat.completion.chunk',
        ...extra,
      }),
    );
  return {
    headers: {
      'keep-alive': 'timeout=5, max=100',
      'content-type': 'text/event-stream',
      server: 'llama.cpp',
      'access-control-allow-origin': '',
    },
    start: () => [chunk([{ finish_reason: null, index: 0, delta: { role: 'assistant', content: null } }])],
    token: (text, soFar) =>
      chunk(
        [{ finish_reason: null, index: 0, delta: { content: text } }],
        o.timingsPerToken ? { timings: llamacppTimings(prompt, soFar) } : {},
      ),
    finish: (reason, usage) => {
      const timings = llamacppTimings(usage?.prompt ?? prompt, usage?.completion ?? 0);
      if (!usage) return [chunk([{ finish_reason: reason, index: 0, delta: {} }], { timings })];
      return [
        chunk([{ finish_reason: reason, index: 0, delta: {} }]),
        chunk([], {
          usage: {
            completion_tokens: usage.completion,
            prompt_tokens: usage.prompt,
            total_tokens: usage.prompt + usage.completion,
          },
          timings,
        }),
      ];
    },
    done: DONE,
  };
}

export function shapeFor(flavor: Flavor, options: ShapeOptions = {}): Shape {
  switch (flavor) {
    case 'openai':
      return openaiShape(options);
    case 'azure':
      return azureShape(options);
    case 'vllm':
      return vllmShape(options);
    case 'ollama':
      return ollamaShape(options);
    case 'llamacpp':
      return llamacppShape(options);
  }
}
