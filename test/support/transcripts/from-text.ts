import type { Transcript, TranscriptStep } from '../fake-openai.js';
import { delay, head, shapeFor, toLlmUsage, write, type Flavor } from './shapes.js';

export interface FromTextOptions {
  /** The transcript's name (the `model` that selects it on the fake server). Default `from-text`. */
  name?: string;
  /** Whose chunk shapes to use. Default `openai`. */
  flavor?: Flavor;
  /** Tokens per second (delay between tokens = 1000 / tokensPerSecond ms). Default 100; `Infinity` for no delay. */
  tokensPerSecond?: number;
  /** The tokens (their concatenation should be `text`). Default {@link tokenize}(text). */
  tokens?: string[];
  /** Delay before the first token (after the response head). Default: one token interval. */
  firstTokenDelayMs?: number;
  /** Default `stop`. */
  finishReason?: string;
  /** Send a usage chunk (as servers do for `include_usage`). Default true. */
  usage?: boolean;
  /** Prompt tokens reported in the usage. Default 12. */
  promptTokens?: number;
  /** The `model` written in the chunks. */
  model?: string;
  /** Send `data: [DONE]`. Default true. */
  done?: boolean;
}

/** Splits text into word-ish tokens that keep their leading whitespace; they concatenate back to `text`. */
export function tokenize(text: string): string[] {
  return text.match(/\s*\S+|\s+/gu) ?? [];
}

/**
 * A transcript that streams `text` at a steady rate in a real server's chunk shapes: head, role chunk, one event
 * per token, finish chunk, usage chunk, `[DONE]`. `expected` is filled in.
 *
 * ```ts
 * const answer = transcriptFromText('Hello there, how are you?', { name: 'slow', tokensPerSecond: 20 });
 * const fake = await startFakeOpenAI({ transcripts: [answer] });
 * ```
 */
export function transcriptFromText(text: string, options: FromTextOptions = {}): Transcript {
  const tokens = options.tokens ?? tokenize(text);
  if (tokens.join('') !== text) throw new Error('transcriptFromText: the tokens do not concatenate to the text');
  const tps = options.tokensPerSecond ?? 100;
  const interval = Number.isFinite(tps) && tps > 0 ? 1000 / tps : 0;
  const promptTokens = options.promptTokens ?? 12;
  const finishReason = options.finishReason ?? 'stop';
  const withUsage = options.usage ?? true;
  const shape = shapeFor(options.flavor ?? 'openai', {
    ...(options.model === undefined ? {} : { model: options.model }),
    includeUsage: withUsage,
    promptTokens,
  });
  const usage = withUsage ? { prompt: promptTokens, completion: tokens.length } : undefined;

  const steps: TranscriptStep[] = [head(shape.headers)];
  const start = shape.start();
  const firstDelay = options.firstTokenDelayMs ?? interval;
  tokens.forEach((token, i) => {
    const wait = i === 0 ? firstDelay : interval;
    if (wait > 0) steps.push(delay(wait));
    const frame = shape.token(token, i + 1);
    steps.push(write(i === 0 ? start.join('') + frame : frame));
  });
  if (tokens.length === 0 && start.length > 0) steps.push(write(start.join('')));
  steps.push(write(shape.finish(finishReason, usage).join('')));
  if (options.done ?? true) steps.push(write(shape.done));

  return {
    name: options.name ?? 'from-text',
    source: `transcriptFromText (${options.flavor ?? 'openai'} shapes, ${tps} tokens/s)`,
    steps,
    expected: { text, finishReason, ...(usage ? { usage: toLlmUsage(usage) } : {}) },
  };
}
