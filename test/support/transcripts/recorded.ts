/**
 * Recorded-shape transcripts of successful answers, one or more per server. See `shapes.ts` for where each shape
 * comes from. Writes are split the way each server flushes (one event per write for OpenAI/vLLM, bursts for
 * llama.cpp and Ollama's final events).
 */
import type { Transcript, TranscriptStep } from '../fake-openai.js';
import {
  DONE,
  azureShape,
  delay,
  head,
  llamacppShape,
  ollamaShape,
  openaiShape,
  toLlmUsage,
  vllmShape,
  write,
  type Shape,
} from './shapes.js';

function stream(shape: Shape, tokens: string[], tokenDelay: number): TranscriptStep[] {
  const steps: TranscriptStep[] = [];
  tokens.forEach((t, i) => {
    steps.push(delay(tokenDelay), write(shape.token(t, i + 1)));
  });
  return steps;
}

// --- OpenAI ------------------------------------------------------------------------------------------------------

const openaiTokens = ['Hello', '!', ' How', ' can', ' I', ' help', ' you', ' today', '?'];

export const openaiChat: Transcript = (() => {
  const shape = openaiShape({ includeUsage: true });
  const usage = { prompt: 19, completion: openaiTokens.length };
  return {
    name: 'openai-chat',
    source: 'api.openai.com /v1/chat/completions, gpt-4o-mini, stream_options.include_usage (obfuscation, usage:null)',
    steps: [
      head(shape.headers),
      delay(15),
      write(shape.start()[0] as string),
      ...stream(shape, openaiTokens, 2),
      ...shape.finish('stop', usage).map(write),
      write(DONE),
    ],
    expected: { text: openaiTokens.join(''), finishReason: 'stop', usage: toLlmUsage(usage) },
  };
})();

/** 2023-era chunks: no usage, no system_fingerprint, no stream_options support. */
export const openaiLegacy: Transcript = (() => {
  const base = '{"id":"chatcmpl-7xFhD3YpLqKJ2vNnW8sTbRcE1aZ0m","object":"chat.completion.chunk","created":1694268190,"model":"gpt-3.5-turbo-0613","choices":';
  const tokens = ['Sure', ',', ' here', ' it', ' is', '.'];
  return {
    name: 'openai-legacy',
    source: 'api.openai.com 2023 chunk shape (no usage, no system_fingerprint)',
    steps: [
      head({ 'content-type': 'text/event-stream', 'openai-model': 'gpt-3.5-turbo-0613' }),
      write(`data: ${base}[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n`),
      ...tokens.map((t) => write(`data: ${base}[{"index":0,"delta":{"content":${JSON.stringify(t)}},"finish_reason":null}]}\n\n`)),
      write(`data: ${base}[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n`),
      write(DONE),
    ],
    expected: { text: tokens.join(''), finishReason: 'stop' },
  };
})();

/** Cut by `max_tokens`: finish_reason "length"; multi-byte text. */
export const openaiLength: Transcript = (() => {
  const shape = openaiShape({ includeUsage: true, id: 'chatcmpl-BkXA0r1s2t3u4v5w6x7y8z9AbCdE' });
  const tokens = ['Voil', 'à', ' :', ' 日本', '語', 'の', 'テ', 'キ', 'スト', ' 🎌', ',', ' und', ' dann', ' –', ' «', 'ça', '»', ' …'];
  const usage = { prompt: 31, completion: tokens.length };
  return {
    name: 'openai-length',
    source: 'api.openai.com, max_tokens reached (finish_reason "length")',
    steps: [
      head(shape.headers),
      write(shape.start()[0] as string),
      ...stream(shape, tokens, 1),
      ...shape.finish('length', usage).map(write),
      write(DONE),
    ],
    expected: { text: tokens.join(''), finishReason: 'length', usage: toLlmUsage(usage) },
  };
})();

// --- Azure OpenAI ------------------------------------------------------------------------------------------------

export const azureChat: Transcript = (() => {
  const shape = azureShape();
  const tokens = ['Hallo', '!', ' Wie', ' kann', ' ich', ' Ihnen', ' heute', ' helfen', '?'];
  const usage = { prompt: 23, completion: tokens.length };
  return {
    name: 'azure-chat',
    source: 'Azure OpenAI (prompt_filter_results chunk first, content_filter_results, alphabetical keys)',
    steps: [
      head(shape.headers),
      ...shape.start().map(write),
      ...stream(shape, tokens, 2),
      ...shape.finish('stop', usage).map(write),
      write(DONE),
    ],
    expected: { text: tokens.join(''), finishReason: 'stop', usage: toLlmUsage(usage) },
  };
})();

// --- vLLM --------------------------------------------------------------------------------------------------------

/** The last piece of text rides on the finish chunk; usage in a separate empty-choices chunk. */
export const vllmChat: Transcript = (() => {
  const shape = vllmShape();
  const tokens = ['The', ' capital', ' of', ' France', ' is', ' Paris'];
  const usage = { prompt: 42, completion: tokens.length + 1 };
  return {
    name: 'vllm-chat',
    source: 'vLLM OpenAI server (serving.py chat_completion_stream_generator, include_usage)',
    steps: [
      head(shape.headers),
      write(shape.start()[0] as string),
      ...stream(shape, tokens, 2),
      ...shape.finish('stop', usage, '.').map(write),
      write(DONE),
    ],
    expected: { text: `${tokens.join('')}.`, finishReason: 'stop', usage: toLlmUsage(usage) },
  };
})();

/** `stream_options.continuous_usage_stats`: usage on every chunk, the last one on the finish chunk. */
export const vllmContinuousUsage: Transcript = (() => {
  const shape = vllmShape({ continuousUsage: true, promptTokens: 42, id: 'chatcmpl-0b7e3c1d5a9f4e2c8d6b4a2f0e8c6a4d' });
  const tokens = ['Bon', 'jour', ' !', ' Ça', ' va', ' très', ' bien', ' 😊'];
  return {
    name: 'vllm-continuous-usage',
    source: 'vLLM with stream_options.continuous_usage_stats (usage on every chunk, none separate)',
    steps: [
      head(shape.headers),
      write(shape.start()[0] as string),
      ...stream(shape, tokens, 2),
      ...shape.finish('stop', undefined).map(write),
      write(DONE),
    ],
    expected: {
      text: tokens.join(''),
      finishReason: 'stop',
      usage: { promptTokens: 42, completionTokens: tokens.length, totalTokens: 42 + tokens.length },
    },
  };
})();

// --- Ollama ------------------------------------------------------------------------------------------------------

const ollamaTokens = ['Use', ' <b>', 'bold', '</b>', ' &', ' "', 'quotes', '"', ' —', ' ça', ' marche', '.'];

/** Every chunk carries role + content; Go escapes `<`, `>` and `&`; the final events come in one burst. */
export const ollamaChat: Transcript = (() => {
  const shape = ollamaShape();
  const usage = { prompt: 26, completion: ollamaTokens.length };
  return {
    name: 'ollama-chat',
    source: 'Ollama /v1/chat/completions (openai/openai.go ToChunk, middleware/openai.go ChatWriter, include_usage)',
    steps: [
      head(shape.headers),
      ...stream(shape, ollamaTokens, 2),
      write(shape.finish('stop', usage).join('') + DONE),
    ],
    expected: { text: ollamaTokens.join(''), finishReason: 'stop', usage: toLlmUsage(usage) },
  };
})();

/** Ollama before stream_options support: no usage chunk. */
export const ollamaNoUsage: Transcript = (() => {
  const shape = ollamaShape({ id: 'chatcmpl-88', model: 'qwen2.5:7b' });
  const tokens = ['Hi', ' there', '!'];
  return {
    name: 'ollama-no-usage',
    source: 'Ollama /v1 without include_usage support (older versions)',
    steps: [head(shape.headers), ...stream(shape, tokens, 2), write(shape.finish('stop', undefined).join('') + DONE)],
    expected: { text: tokens.join(''), finishReason: 'stop' },
  };
})();

// --- llama.cpp server --------------------------------------------------------------------------------------------

const llamaTokens = ['Sure', ' —', ' here', "'s", ' a', ' haiku', ':\n', 'Silent', ' pond', ' at', ' dawn', '\n', 'A', ' frog', ' leaps', '…'];

/** Role delta and first token in one write; finish + usage (+ timings) in one write; then [DONE]. */
export const llamacppChat: Transcript = (() => {
  const shape = llamacppShape({ promptTokens: 17 });
  const usage = { prompt: 17, completion: llamaTokens.length };
  const [first, ...rest] = llamaTokens as [string, ...string[]];
  return {
    name: 'llamacpp-chat',
    source: 'llama.cpp server (tools/server/server-task.cpp to_json_oaicompat_chat*, format_oai_sse), include_usage',
    steps: [
      head(shape.headers),
      delay(10),
      write((shape.start()[0] as string) + shape.token(first, 1)),
      ...rest.flatMap((t, i) => [delay(2), write(shape.token(t, i + 2))]),
      write(shape.finish('stop', usage).join('')),
      write(DONE),
    ],
    expected: { text: llamaTokens.join(''), finishReason: 'stop', usage: toLlmUsage(usage) },
  };
})();

/** `timings_per_token: true` and a build without include_usage: timings everywhere, no usage. */
export const llamacppTimingsPerToken: Transcript = (() => {
  const shape = llamacppShape({ promptTokens: 9, timingsPerToken: true, id: 'chatcmpl-Zr8pW2kF6mJ0tB4xN7cQ1sLd' });
  const tokens = ['4', '2', '.'];
  const [first, ...rest] = tokens as [string, ...string[]];
  return {
    name: 'llamacpp-timings',
    source: 'llama.cpp server with timings_per_token, no usage chunk (finish chunk carries timings)',
    steps: [
      head(shape.headers),
      write((shape.start()[0] as string) + shape.token(first, 1)),
      ...rest.flatMap((t, i) => [delay(1), write(shape.token(t, i + 2))]),
      write(shape.finish('stop', undefined).join('')),
      write(DONE),
    ],
    expected: { text: tokens.join(''), finishReason: 'stop' },
  };
})();

// --- Other OpenAI-compatible behaviours --------------------------------------------------------------------------

/** SSE comments as keep-alives before the first token (OpenRouter's `: OPENROUTER PROCESSING`). */
export const keepAliveComments: Transcript = (() => {
  const shape = openaiShape({ includeUsage: true, id: 'gen-1750419226-Xk2mQ8rT4vWz', model: 'openai/gpt-4o-mini' });
  const tokens = ['Still', ' here', '.'];
  const usage = { prompt: 8, completion: 3 };
  const comments: TranscriptStep[] = [];
  for (let i = 0; i < 6; i++) comments.push(write(': OPENROUTER PROCESSING\n\n'), delay(100));
  return {
    name: 'keepalive-comments',
    source: 'OpenRouter-style SSE comments while the model queues (600 ms of comments, 100 ms apart)',
    steps: [
      head(shape.headers),
      ...comments,
      write(shape.start()[0] as string),
      ...stream(shape, tokens, 1),
      ...shape.finish('stop', usage).map(write),
      write(DONE),
    ],
    expected: { text: tokens.join(''), finishReason: 'stop', usage: toLlmUsage(usage) },
  };
})();

/** A server that ignores `stream: true` and answers with one chat.completion JSON object. */
export const nonStreamingJson: Transcript = {
  name: 'non-streaming-json',
  source: 'OpenAI chat.completion object (non-streamed answer)',
  steps: [
    {
      type: 'status',
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'chatcmpl-BkXC9d8e7f6g5h4i3j2k1l0mNoPq',
        object: 'chat.completion',
        created: 1_750_419_300,
        model: 'gpt-4o-mini-2024-07-18',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'One answer, all at once.', refusal: null, annotations: [] },
            logprobs: null,
            finish_reason: 'stop',
          },
        ],
        usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
        service_tier: 'default',
        system_fingerprint: 'fp_34a54ae93c',
      }),
    },
  ],
  expected: {
    text: 'One answer, all at once.',
    finishReason: 'stop',
    usage: { promptTokens: 11, completionTokens: 7, totalTokens: 18 },
  },
};

/** Every event framed with CRLF line endings (allowed by the SSE spec; some proxies rewrite to it). */
export const crlfFraming: Transcript = (() => {
  const shape = openaiShape({ includeUsage: true, id: 'chatcmpl-CRLF0000000000000000000000' });
  const tokens = ['Line', ' endings', ' differ', '.'];
  const usage = { prompt: 5, completion: 4 };
  const crlf = (f: string) => write(f.replace(/\n/g, '\r\n'));
  return {
    name: 'crlf-framing',
    source: 'OpenAI shapes re-framed with \\r\\n line endings',
    steps: [
      head(shape.headers),
      crlf(shape.start()[0] as string),
      ...tokens.map((t, i) => crlf(shape.token(t, i + 1))),
      ...shape.finish('stop', usage).map(crlf),
      crlf(DONE),
    ],
    expected: { text: tokens.join(''), finishReason: 'stop', usage: toLlmUsage(usage) },
  };
})();

export const recordedTranscripts: Transcript[] = [
  openaiChat,
  openaiLegacy,
  openaiLength,
  azureChat,
  vllmChat,
  vllmContinuousUsage,
  ollamaChat,
  ollamaNoUsage,
  llamacppChat,
  llamacppTimingsPerToken,
  keepAliveComments,
  nonStreamingJson,
  crlfFraming,
];
