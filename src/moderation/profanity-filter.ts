import { Filter } from 'bad-words';

/**
 * Options of {@link ProfanityFilter}. `addWords` is applied before `removeWords`, so a word named in
 * both ends up allowed (as with `filter.addWords(...a); filter.removeWords(...r)` on bad-words).
 */
export interface ProfanityFilterOptions {
  /** Extra words to block, as bad-words' `addWords` (also takes them off the allow list). */
  addWords?: string[];
  /** Words to allow, as bad-words' `removeWords` (lower-cased into its `exclude` list). */
  removeWords?: string[];
  /** Masking string, once per letter or digit of a masked word; `''` falls back to `'*'` like bad-words. */
  placeHolder?: string;
  /** Start from an empty block list instead of bad-words' built-in one. */
  emptyList?: boolean;
}

/**
 * bad-words' default `splitRegex` (`/\b|_/g`) without the `g` flag. The flag makes no difference to
 * `String.prototype.split` (it compiles its own sticky copy) and without it `test` keeps no state.
 * As in bad-words there is no `u` flag, so `\b` only knows the ASCII word characters [A-Za-z0-9_].
 */
const SPLIT = /\b|_/;

/**
 * Code unit of an ASCII letter or digit: `\w` without the `u` flag, but for `_`, which `clean` has
 * split the text on before any token gets here.
 */
function isWordCode(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
}

/** bad-words' escaping of a list word before it goes into `\b…\b` (every non-word code unit). */
function escapeWord(word: string): string {
  return word.replace(/(\W)/g, '\\$1');
}

/**
 * The profanity filter: bad-words' word list, allow list and masking, with the per-message cost of
 * a `Set` lookup per token instead of one freshly compiled RegExp per list word per token.
 *
 * The output of {@link ProfanityFilter.clean} is exactly that of `new Filter(sameOptions).clean()`
 * (the first call on a fresh bad-words filter, see `clean`), and {@link ProfanityFilter.isProfane}
 * answers exactly like bad-words' `isProfane`. A bad-words `Filter` is kept inside as the source of
 * truth for the lists and the masking; the lookup structures are rebuilt from it after
 * `addWords` / `removeWords`. Run `normalizeText` (./normalize.ts) on the input first.
 *
 * ```ts
 * const filter = new ProfanityFilter({ placeHolder: 'x', addWords: ['darn'] });
 * filter.clean('Darn it, you ash0le!'); // 'xxxx it, you xxxxxx!'
 * filter.isProfane('what the hell'); // true
 * filter.removeWords('hell');
 * filter.isProfane('what the hell'); // false
 * ```
 */
export class ProfanityFilter {
  readonly #filter: Filter;
  /** Built from the wrapped filter's lists on first use, dropped when they change. */
  #index: WordIndex | null = null;

  constructor(options: ProfanityFilterOptions = {}) {
    this.#filter = new Filter({ placeHolder: options.placeHolder, emptyList: options.emptyList });
    if (options.addWords) this.#filter.addWords(...options.addWords);
    if (options.removeWords) this.#filter.removeWords(...options.removeWords);
  }

  /** The masking string actually used (bad-words turns `''` into `'*'`). */
  get placeHolder(): string {
    return this.#filter.placeHolder;
  }

  /**
   * Masks every profane word of `text`, with the same result as bad-words' `clean`:
   *
   * - bad-words splits the text with `/\b|_/` and re-joins it with the first delimiter its global
   *   `splitRegex.exec` found. On a fresh filter that delimiter is always `''` (the first match is the
   *   `\b` before the first word character), so underscores consumed by the split disappear from the
   *   output (`'a_b'` becomes `'ab'`). A reused bad-words filter continues that `exec` from the last
   *   call's `lastIndex` and can skip texts or join with `'_'`; we reproduce the fresh behaviour.
   * - Text without any ASCII word character is returned unchanged.
   * - A token is masked when bad-words' `isProfane(token)` holds. Every token is a run of only word
   *   characters or only non-word characters (the split cuts at every `\b`), so `\b${word}\b` can only
   *   match a word-character token, and then only a whole one: the token is profane exactly when it
   *   equals an active list word case-insensitively, or when an empty word is active. Words containing
   *   anything else (`'blow job'`, `'sh!t'`, `'s.o.b.'`) never match a token, as in bad-words.
   * - The masking itself is bad-words' `replaceWord` (drop `_` and other characters outside
   *   `[a-zA-Z0-9|$@]`, then one placeholder per remaining character, placeholder used as a
   *   `String.replace` pattern).
   */
  clean(text: string): string {
    // bad-words splits on `_` as well and joins the pieces with nothing, so every underscore in a
    // message would vanish (snake_case, URLs, code). We keep its masking decisions but not that:
    // each underscore-separated segment is cleaned exactly as bad-words cleans it, and the
    // underscores are put back.
    return text
      .split('_')
      .map((segment) => this.#cleanSegment(segment))
      .join('_');
  }

  #cleanSegment(text: string): string {
    const index = this.#words();
    let out = '';
    for (const token of text.split(SPLIT)) out += isProfaneToken(index, token) ? this.#filter.replaceWord(token) : token;
    return out;
  }

  /**
   * Whether `text` contains an active list word between `\b` boundaries, case-insensitively: the
   * same answer as bad-words' `isProfane(text)`. Unlike `clean`, this sees words with spaces or
   * punctuation (`'blow job'`), so it can be true for a text that `clean` leaves unchanged.
   */
  isProfane(text: string): boolean {
    const { anyAsciiWord, nonAsciiWords } = this.#words();
    if (anyAsciiWord?.test(text)) return true;
    return nonAsciiWords.some((re) => re.test(text));
  }

  /**
   * Whether a word token that begins with `run` (ASCII letters and digits, a word still growing)
   * could be masked by `clean` once whole: some active word starts with it case-insensitively (or
   * the empty word is active). A streaming caller releases a trailing partial word early when it
   * cannot, instead of waiting for the next whitespace.
   */
  mayMask(run: string): boolean {
    const { emptyWordActive, tokenPrefixes } = this.#words();
    return emptyWordActive || tokenPrefixes.has(run.toLowerCase());
  }

  /** Blocks `words` (and takes each one off the allow list once), as bad-words' `addWords`. */
  addWords(...words: string[]): void {
    this.#filter.addWords(...words);
    this.#index = null;
  }

  /** Allows `words` again (compared lower-cased), as bad-words' `removeWords`. */
  removeWords(...words: string[]): void {
    this.#filter.removeWords(...words);
    this.#index = null;
  }

  #words(): WordIndex {
    return (this.#index ??= indexWords(this.#filter));
  }
}

/** What `clean`, `isProfane` and `mayMask` look words up in, from a bad-words filter's lists. */
interface WordIndex {
  /** Lower-cased active (listed, not excluded) words made only of ASCII word characters. */
  tokenWords: Set<string>;
  /** Every non-empty prefix of `tokenWords`: what a growing word may still become (see `mayMask`). */
  tokenPrefixes: Set<string>;
  /** An active empty word: bad-words' `\b\b` then matches every token containing a word character. */
  emptyWordActive: boolean;
  /** The active ASCII words as one `\b(?:w1|w2|…)\b` alternation, for `isProfane` on whole texts. */
  anyAsciiWord: RegExp | null;
  /** bad-words' own `\b…\b` RegExp for each active word with a non-ASCII character (see `indexWords`). */
  nonAsciiWords: RegExp[];
}

function isProfaneToken(index: WordIndex, token: string): boolean {
  // Tokens are homogeneous, so the first code unit tells a word token; charCodeAt('') is NaN. The
  // check also keeps a non-word token that lower-cases to ASCII (KELVIN SIGN → 'k') from matching.
  if (!isWordCode(token.charCodeAt(0))) return false;
  return index.emptyWordActive || index.tokenWords.has(token.toLowerCase());
}

function indexWords({ list, exclude }: Filter): WordIndex {
  const tokenWords = new Set<string>();
  const asciiAlternatives = new Set<string>();
  const nonAscii = new Set<string>();
  let emptyWordActive = false;
  for (const word of list) {
    // bad-words checks the allow list per list word, against the word lower-cased.
    if (exclude.includes(word.toLowerCase())) continue;
    (/[^\x00-\x7f]/.test(word) ? nonAscii : asciiAlternatives).add(escapeWord(word));
    if (word === '') emptyWordActive = true;
    // Without the `u` flag, `i` never folds a non-ASCII character onto an ASCII one, so only words
    // made of [A-Za-z0-9_] can equal a word token; for those, lower-casing is that case folding.
    else if (/^\w+$/.test(word)) tokenWords.add(word.toLowerCase());
  }
  const tokenPrefixes = new Set<string>();
  for (const word of tokenWords) for (let i = 1; i <= word.length; i++) tokenPrefixes.add(word.slice(0, i));
  // `test` on an alternation is true iff one alternative matches somewhere (backtracking tries each
  // one at each position), so by the spec this is the OR of bad-words' per-word `\b…\b` tests.
  // V8 does not quite follow the spec here: it merges alternatives sharing a first character using
  // Unicode case folding, so /sa|sb|ſ/i matches 's' although /ſ/i does not (non-`u` `i` never folds
  // ſ U+017F or K U+212A onto ASCII, nor Å U+212B onto å). Hence only ASCII words go into the
  // alternation; the rare non-ASCII words (none in the default list) keep bad-words' own per-word
  // RegExp, compiled once. No `g` flag, so no `lastIndex` state between calls (bad-words' `gi`
  // RegExps are fresh, so `g` is moot there).
  const anyAsciiWord = asciiAlternatives.size === 0 ? null : new RegExp(`\\b(?:${[...asciiAlternatives].join('|')})\\b`, 'i');
  const nonAsciiWords = [...nonAscii].map((escaped) => new RegExp(`\\b${escaped}\\b`, 'i'));
  return { tokenWords, tokenPrefixes, emptyWordActive, anyAsciiWord, nonAsciiWords };
}
