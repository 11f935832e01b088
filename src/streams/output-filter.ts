import { normalizeText } from '../moderation/normalize.js';

/**
 * Control characters an answer may not keep: the ones user content may not hold (tab and line
 * breaks stay). U+0000 among them cannot even be stored by Postgres: an upstream that sends it must
 * not fail the answer's commit.
 */
// eslint-disable-next-line no-control-regex
// Stryker disable next-line Regex: evaluated once at load, so the mutation runner never activates a mutant here; the control-character tests hold it
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g;

/**
 * A tool part (the model's input, a tool's result: JSON) as every storage can keep it: U+0000
 * dropped and unpaired surrogates made U+FFFD in every string and key — Postgres' jsonb refuses
 * both, and a tool's output must not fail the answer's commit. Other control characters stay: JSON
 * escapes them, and they are the tool's data, not text shown as the answer.
 */
export function storableJson(value: unknown): unknown {
  if (typeof value === 'string') return storableString(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, v]) => [storableString(key), storableJson(v)]));
  return value;
}

function storableString(text: string): string {
  const kept = text.includes('\u0000') ? text.replaceAll('\u0000', '') : text;
  return kept.isWellFormed() ? kept : kept.toWellFormed();
}

/** What the output filter needs of moderation (the engine's ModerationPipeline). */
export interface OutputModeration {
  /** Masks the profane words of normalised text. */
  mask(normalized: string): string;
  /** Whether a word beginning with `run` (ASCII letters and digits) could be masked once whole. */
  mayMask(run: string): boolean;
}

/**
 * Normalises and filters an LLM answer piece by piece, with the result of filtering whole words:
 * text goes out up to the last whitespace (whitespace never joins the words around it, for NFKC,
 * invisible-character stripping or the word split), and the trailing partial word goes out early
 * when no masked word can begin with it — then the rest of that word, when it comes, goes out
 * unmasked, since the whole word cannot be masked either. Only a partial word that could still
 * become a masked one (`sh…`) is held back until it is whole: most tokens are released as they come.
 *
 * What is released never changes: the concatenated output is the answer.
 */
export class StreamOutputFilter {
  /** Raw text not released yet: a partial word that may still grow into a masked one. */
  private tail = '';
  /** The last release ended inside a word that cannot be masked: its continuation passes as is. */
  private inSafeWord = false;

  constructor(private readonly moderation: OutputModeration) {}

  /** Takes the next piece of raw output; returns what can be released now (often all of it). */
  push(text: string): string {
    let tail = this.tail + text.replace(CONTROL_CHARS, '');
    let out = '';
    const cut = lastWhitespace(tail) + 1;
    if (cut > 0) {
      // Stryker disable next-line ConditionalExpression: slicing the whole text gives the text; the check only saves a copy
      out = this.release(normalize(cut === tail.length ? tail : tail.slice(0, cut)));
      this.inSafeWord = false;
      // Stryker disable next-line ConditionalExpression: slicing at the end gives '' too
      tail = cut === tail.length ? '' : tail.slice(cut);
    }
    // Early release only after an ASCII character, which nothing the next piece starts with joins
    // (a ZWJ or variation selector after it is stray either way; an emoji sequence or a non-ASCII
    // letter waits for its whitespace) — except a combining mark, which then stays apart from the
    // letter it follows, and a keycap's `#`, `*` or digit, whose emoji selector and keycap may come
    // next (1️⃣). The held text is kept raw: normalising it now could drop a ZWJ that the next piece
    // would keep.
    // Stryker disable next-line ConditionalExpression,StringLiteral: charCodeAt of an empty tail is NaN, which releasesEarly refuses too
    if (tail !== '' && releasesEarly(tail.charCodeAt(tail.length - 1))) {
      const normalized = normalize(tail);
      const start = trailingRunStart(normalized);
      const continues = this.inSafeWord && start === 0; // all of it extends a word already released
      if (continues || start === normalized.length || !this.moderation.mayMask(normalized.slice(start))) {
        out += this.release(normalized);
        this.inSafeWord = start < normalized.length;
        tail = '';
      }
    }
    this.tail = tail;
    return out;
  }

  /** The held-back rest, whole now (the answer ended). */
  end(): string {
    // Stryker disable next-line ConditionalExpression,StringLiteral: releasing an empty tail gives '' too
    const out = this.tail === '' ? '' : this.release(normalize(this.tail));
    this.tail = '';
    this.inSafeWord = false;
    return out;
  }

  private release(text: string): string {
    // A surrogate the upstream left unpaired cannot be stored (Postgres) nor shown: U+FFFD instead.
    // The tail holds non-ASCII text until whitespace, so a pair split across pieces is whole here.
    const normalized = text.isWellFormed() ? text : text.toWellFormed();
    if (!this.inSafeWord) return this.moderation.mask(normalized);
    // The leading run continues a word released unmasked: only what follows it is filtered.
    const n = leadingRunEnd(normalized);
    // Stryker disable next-line ConditionalExpression: with n = 0 the other branch masks the whole text too
    return n === 0 ? this.moderation.mask(normalized) : normalized.slice(0, n) + this.moderation.mask(normalized.slice(n));
  }
}

/** `normalizeText`, skipped for ASCII (which NFKC keeps, and which holds no invisible character): most pieces. */
function normalize(text: string): string {
  // Stryker disable next-line EqualityOperator,ConditionalExpression: normalizeText leaves ASCII as it is (control characters are gone by now); this only skips the work
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return normalizeText(text);
  return text;
}

/** An ASCII character other than a keycap's base (`#`, `*`, a digit): see `push`. */
function releasesEarly(c: number): boolean {
  // Stryker disable next-line EqualityOperator: U+0080 is a control character nothing joins: held back or not, the text is the same
  return c < 0x80 && c !== 35 && c !== 42 && !(c >= 48 && c <= 57);
}

/** ASCII letter or digit: what the profanity filter's word tokens are made of (`_` splits them too). */
function isRunCode(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
}

/** Start of the run of ASCII letters and digits that ends `text` (`text.length` when there is none). */
function trailingRunStart(text: string): number {
  let i = text.length;
  // Stryker disable next-line ConditionalExpression,EqualityOperator: charCodeAt(-1) is NaN, which is no run code
  while (i > 0 && isRunCode(text.charCodeAt(i - 1))) i--;
  return i;
}

function leadingRunEnd(text: string): number {
  let i = 0;
  // Stryker disable next-line ConditionalExpression,EqualityOperator: charCodeAt past the end is NaN, which is no run code
  while (i < text.length && isRunCode(text.charCodeAt(i))) i++;
  return i;
}

function lastWhitespace(text: string): number {
  // Stryker disable next-line ArithmeticOperator: starting past the end reads NaN, which is no whitespace
  for (let i = text.length - 1; i >= 0; i--) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 10 || c === 9 || c === 13 || c === 0x3000 || c === 0xa0) return i;
  }
  return -1;
}
