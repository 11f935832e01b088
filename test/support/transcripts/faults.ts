/**
 * Fault transcripts: HTTP errors before the first byte, error events inside the stream, dropped connections,
 * streams that end without saying they finished, stalls. Error bodies are the servers' own shapes (OpenAI's
 * `{"error":{message,type,param,code}}`, Ollama's `openai.NewError`, vLLM's `json.dumps(ErrorResponse)`, llama.cpp's
 * `format_error_response`).
 */
import { openaiError, type Transcript, type TranscriptStep } from '../fake-openai.js';
import { DONE, delay, frame, head, llamacppShape, openaiShape, pyJson, vllmShape, write, type Shape } from './shapes.js';

function tokens(shape: Shape, list: string[]): TranscriptStep[] {
  return [write(shape.start().join('')), ...list.flatMap((t, i) => [delay(1), write(shape.token(t, i + 1))])];
}

const partial = ['The', ' answer', ' is'];

export const http500: Transcript = {
  name: 'fault-http-500',
  source: 'OpenAI 500 server_error before any byte',
  steps: [
    {
      type: 'status',
      status: 500,
      headers: { 'content-type': 'application/json', 'x-request-id': 'req_500a' },
      body: `${openaiError('The server had an error while processing your request. Sorry about that!', 'server_error')}\n`,
    },
  ],
  expected: { text: '', error: { retryable: true, status: 500, message: /The server had an error while processing your request/ } },
};

export const http429: Transcript = {
  name: 'fault-http-429',
  source: 'OpenAI 429 rate_limit_exceeded with Retry-After',
  steps: [
    {
      type: 'status',
      status: 429,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'retry-after': '20',
        'x-ratelimit-limit-requests': '3',
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-reset-requests': '20s',
      },
      body: openaiError(
        'Rate limit reached for gpt-4o-mini in organization org-parley on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.',
        'requests',
        'rate_limit_exceeded',
      ),
    },
  ],
  expected: { text: '', error: { retryable: true, status: 429, message: /Rate limit reached.*\(retry after 20 s\)$/ } },
};

export const http400: Transcript = {
  name: 'fault-http-400',
  source: 'OpenAI 400 context_length_exceeded',
  steps: [
    {
      type: 'status',
      status: 400,
      headers: { 'content-type': 'application/json' },
      body: openaiError(
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages.",
        'invalid_request_error',
        'context_length_exceeded',
        'messages',
      ),
    },
  ],
  expected: { text: '', error: { retryable: false, status: 400, message: /maximum context length/ } },
};

export const http503Html: Transcript = {
  name: 'fault-http-503-html',
  source: 'a reverse proxy (nginx) in front of the model server, upstream down',
  steps: [
    {
      type: 'status',
      status: 503,
      headers: { 'content-type': 'text/html', server: 'nginx/1.27.0' },
      body: '<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx/1.27.0</center>\r\n</body>\r\n</html>\r\n',
    },
  ],
  expected: { text: '', error: { retryable: true, status: 503, message: /503 Service Temporarily Unavailable/ } },
};

export const ollamaModelNotFound: Transcript = {
  name: 'fault-ollama-404',
  source: 'Ollama /v1 404 for a model that is not pulled (openai.NewError)',
  steps: [
    {
      type: 'status',
      status: 404,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: '{"error":{"message":"model \\"llama9\\" not found, try pulling it first","type":"not_found_error","param":null,"code":null}}\n',
    },
  ],
  expected: { text: '', error: { retryable: false, status: 404, message: /model "llama9" not found/ } },
};

/** OpenAI: a server_error object after some tokens (transient: retryable). */
export const openaiErrorMidStream: Transcript = (() => {
  const shape = openaiShape({ includeUsage: true, id: 'chatcmpl-ERR0000000000000000000000000' });
  return {
    name: 'fault-openai-error-mid-stream',
    source: 'OpenAI error object inside a 200 stream',
    steps: [
      head(shape.headers),
      ...tokens(shape, partial),
      write(frame(openaiError('The server had an error while processing your request. Sorry about that!', 'server_error'))),
    ],
    expected: { text: partial.join(''), error: { retryable: true, message: /server had an error/ } },
  };
})();

/** vLLM: GenerationError mid-stream → `{"error": {...}}` (Python json.dumps) then [DONE]. */
export const vllmErrorMidStream: Transcript = (() => {
  const shape = vllmShape({ id: 'chatcmpl-ERRvllm0000000000000000000000' });
  return {
    name: 'fault-vllm-error-mid-stream',
    source: 'vLLM serving.py: _convert_generation_error_to_streaming_response, then data: [DONE]',
    steps: [
      head(shape.headers),
      ...tokens(shape, partial),
      write(frame(pyJson({ error: { message: 'Internal server error', type: 'InternalServerError', param: null, code: 500 } }))),
      write(DONE),
    ],
    expected: { text: partial.join(''), error: { retryable: true, message: /Internal server error/ } },
  };
})();

/** An in-stream error that retrying cannot fix (a 400-class error object; llama.cpp, context exceeded). */
export const llamacppErrorInStream: Transcript = (() => {
  const shape = llamacppShape({ id: 'chatcmpl-ERRllama000000000000000' });
  return {
    name: 'fault-llamacpp-error-in-stream',
    source: 'llama.cpp server: data: {"error": format_error_response(...)} after a 200 head, no [DONE]',
    steps: [
      head(shape.headers),
      write(
        frame(
          JSON.stringify({
            error: {
              code: 400,
              message: 'the request exceeds the available context size, try increasing it',
              type: 'exceed_context_size_error',
              n_prompt_tokens: 4713,
              n_ctx: 4096,
            },
          }),
        ),
      ),
    ],
    expected: { text: '', error: { retryable: false, message: /exceeds the available context size/ } },
  };
})();

/** Older llama.cpp builds wrote `error: {json}` lines (not `data:`). */
export const llamacppLegacyErrorLine: Transcript = (() => {
  const shape = llamacppShape({ id: 'chatcmpl-ERRllamaOld0000000000000' });
  return {
    name: 'fault-llamacpp-legacy-error-line',
    source: 'older llama.cpp server: "error: {...}" SSE line',
    steps: [
      head(shape.headers),
      ...tokens(shape, partial),
      write(`error: ${JSON.stringify({ code: 503, message: 'Loading model', type: 'unavailable_error' })}\n\n`),
    ],
    expected: { text: partial.join(''), error: { retryable: true, message: /Loading model/ } },
  };
})();

export const dropMidStream: Transcript = (() => {
  const shape = openaiShape({ includeUsage: true, id: 'chatcmpl-DROP000000000000000000000000' });
  return {
    name: 'fault-drop-mid-stream',
    source: 'connection destroyed after three tokens (no finish_reason, no [DONE])',
    steps: [head(shape.headers), ...tokens(shape, partial), delay(5), { type: 'drop' }],
    expected: { text: partial.join(''), error: { retryable: true } },
  };
})();

export const dropBeforeResponse: Transcript = {
  name: 'fault-drop-before-response',
  source: 'connection destroyed before any byte of the response',
  steps: [{ type: 'drop' }],
  expected: { text: '', error: { retryable: true } },
};

/** The body ends cleanly (chunked terminator) without finish_reason or [DONE]: still not a complete answer. */
export const endWithoutFinish: Transcript = (() => {
  const shape = openaiShape({ includeUsage: true, id: 'chatcmpl-END0000000000000000000000000' });
  return {
    name: 'fault-end-without-finish',
    source: 'clean end of body with no finish_reason and no [DONE] (e.g. a proxy timeout)',
    steps: [head(shape.headers), ...tokens(shape, partial), { type: 'end' }],
    expected: { text: partial.join(''), error: { retryable: true, message: /before the answer finished/ } },
  };
})();

/** finish_reason arrived, then the connection dropped before the usage chunk and [DONE]: the answer is complete. */
export const finishThenDrop: Transcript = (() => {
  const shape = openaiShape({ includeUsage: true, id: 'chatcmpl-FIN0000000000000000000000000' });
  return {
    name: 'finish-then-drop',
    source: 'finish chunk then a dropped connection (usage and [DONE] lost)',
    steps: [
      head(shape.headers),
      ...tokens(shape, partial),
      write((shape.finish('stop', undefined)[0] as string)),
      delay(5),
      { type: 'drop' },
    ],
    expected: { text: partial.join(''), finishReason: 'stop' },
  };
})();

/** Three tokens, then nothing: the idle timeout must fire. */
export const stallMidStream: Transcript = (() => {
  const shape = openaiShape({ includeUsage: true, id: 'chatcmpl-STALL00000000000000000000000' });
  return {
    name: 'fault-stall-mid-stream',
    source: 'stream stops sending after three tokens, connection kept open',
    steps: [head(shape.headers), ...tokens(shape, partial), { type: 'stall' }],
    expected: { text: partial.join(''), error: { retryable: true, message: /stalled/ } },
  };
})();

/** Nothing at all (no head): the connect/first-byte timeout must fire. */
export const stallBeforeResponse: Transcript = {
  name: 'fault-stall-before-response',
  source: 'request accepted, no response head ever sent',
  steps: [{ type: 'stall' }],
  expected: { text: '', error: { retryable: true, message: /no answer from the upstream/ } },
};

/** Head sent, then nothing: also the first-byte timeout (the body never starts). */
export const stallAfterHead: Transcript = (() => {
  const shape = openaiShape();
  return {
    name: 'fault-stall-after-head',
    source: 'response head flushed, no body byte ever sent',
    steps: [head(shape.headers), { type: 'stall' }],
    expected: { text: '', error: { retryable: true, message: /no answer from the upstream/ } },
  };
})();

/** Faults that resolve without timeouts (the stalls need short timeouts set by the test). */
export const immediateFaults: Transcript[] = [
  http500,
  http429,
  http400,
  http503Html,
  ollamaModelNotFound,
  openaiErrorMidStream,
  vllmErrorMidStream,
  llamacppErrorInStream,
  llamacppLegacyErrorLine,
  dropMidStream,
  dropBeforeResponse,
  endWithoutFinish,
  finishThenDrop,
];

export const stallFaults: Transcript[] = [stallMidStream, stallBeforeResponse, stallAfterHead];
