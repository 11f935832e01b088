import { Filter } from 'bad-words';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeText } from '../../src/moderation/normalize.js';
import { ProfanityFilter, type ProfanityFilterOptions } from '../../src/moderation/profanity-filter.js';

/**
 * What we promise: bad-words' `clean()` of each underscore-separated segment, underscores kept.
 * (bad-words itself deletes every `_`; for text without one this is exactly its `clean()`.) Each
 * segment is cleaned as by a fresh filter: bad-words keeps `splitRegex` state between calls.
 */
function badWordsClean(filter: Filter, text: string): string {
  return text
    .split('_')
    .map((segment) => {
      (filter as unknown as { splitRegex: RegExp }).splitRegex.lastIndex = 0;
      return filter.clean(segment);
    })
    .join('_');
}

/** The reference: a FRESH bad-words filter with the same options (it keeps `splitRegex` state between calls). */
function reference(opts: ProfanityFilterOptions): Filter {
  const filter = new Filter({ placeHolder: opts.placeHolder, emptyList: opts.emptyList });
  if (opts.addWords) filter.addWords(...opts.addWords);
  if (opts.removeWords) filter.removeWords(...opts.removeWords);
  return filter;
}

const LIST = new Filter().list;
/** `FUZZ_SCALE=10 npx vitest run test/moderation` for a deeper (slower) run. */
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const runs = (n: number) => ({ numRuns: Math.round(n * SCALE) });
const ENGLISH = [
  'hello', 'world', 'the', 'class', 'assassin', 'bass', 'passage', 'scunthorpe', 'cockpit', 'shell',
  'hello_world', 'analysis', 'therapist', 'grape', 'button', 'Dickens', 'cumulative', 'sextant', 'hell',
  'shitake', 'I', 'a', 'ok', 'x', '42', 'snake_case', '_private', 'trailing_',
];
const EMOJI = ['😀', '👨\u200D👩\u200D👧', '🏳️\u200D🌈', '👩🏽\u200D💻', '❤️\u200D🔥', '🙈', '1️⃣', '🇫🇷', '©'];
const SPACES = [' ', '  ', '\t', '\n', ' \n ', '\u00A0', '\u3000', ''];
const PUNCT = ['.', ',', '!', '?', '...', '-', '_', '__', '*', '@', '$', '|', '^', "'", '"', '(', ')', '#', ':)', '\\', '/'];
/** Leet-ish separators put between the letters of a word (`f.u.c.k`, `f_u_c_k`, `fu\u200Bck`, …). */
const SEPARATORS = ['', '.', '_', '-', ' ', '*', '\u200B', '\u200D', '\u00AD', '1', '$', '@'];
/** Words with regex-special, non-word, non-ASCII or empty content, fed to `addWords`. */
const SPECIAL_WORDS = [
  'c++', 'a.b', 'x|y', '(z)', '[k]', '$money', 'foo_bar', '_x', 'x_', 'a b', '^up', 'back\\slash', 'q?',
  'dots...', 'ünï', '\u212A', 'ǅ', 'ab\ncd', '🙈', 'sh!t', '.*', '\\b', 'darn', 'HeCk', 'h3ck', '$1', 'ſ',
  'ſhit', '\u212Aill', 'ß', 'ẞ', 'å', '\u212B', 'sa', 'sb',
];

const casing = (words: readonly string[]) => fc.mixedCase(fc.constantFrom(...words));
/** A word spelled out with separators between its characters. */
const separated = fc
  .tuple(fc.constantFrom(...LIST), fc.constantFrom(...SEPARATORS))
  .map(([w, sep]) => [...w].join(sep));
const embedded = fc
  .tuple(fc.constantFrom('', 'x', 'mega', '_', '9', 'é'), casing(LIST), fc.constantFrom('', 's', 'er', '_', 'z', 'ü'))
  .map(([a, w, b]) => a + w + b);
const fullWidth = fc.constantFrom(...LIST).map((w) => [...w].map((c) => (c >= '!' && c <= '~' ? String.fromCharCode(c.charCodeAt(0) + 0xfee0) : c)).join(''));

/** "Realistic" chat text from a pool of pieces, optionally including the custom words. */
function realistic(extraWords: readonly string[] = []) {
  const pieces = [
    { arbitrary: casing(LIST), weight: 5 },
    { arbitrary: casing(ENGLISH), weight: 5 },
    { arbitrary: fc.constantFrom(...EMOJI), weight: 1 },
    { arbitrary: fc.constantFrom(...PUNCT), weight: 2 },
    { arbitrary: separated, weight: 1 },
    { arbitrary: embedded, weight: 2 },
    { arbitrary: fullWidth, weight: 1 },
  ];
  if (extraWords.length > 0) pieces.push({ arbitrary: casing(extraWords), weight: 4 });
  const piece = fc.oneof(...pieces);
  return fc
    .array(fc.tuple(piece, fc.constantFrom(...SPACES)), { maxLength: 12 })
    .map((parts) => parts.map(([p, s]) => p + s).join(''));
}

const optionsArb: fc.Arbitrary<ProfanityFilterOptions> = fc.record(
  {
    // An empty list makes the bad-words side ~100x cheaper, so it gets more of the runs.
    emptyList: fc.oneof({ arbitrary: fc.constant(true), weight: 2 }, { arbitrary: fc.constant(false), weight: 1 }),
    placeHolder: fc.constantFrom('*', 'x', '#', '', '-=', '$&', '$$', '🙈'),
    addWords: fc.array(
      fc.oneof(
        { arbitrary: fc.constantFrom(...SPECIAL_WORDS), weight: 4 },
        { arbitrary: casing(ENGLISH), weight: 2 },
        { arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 5 }), weight: 2 },
        { arbitrary: fc.constant(''), weight: 1 },
      ),
      { maxLength: 6 },
    ),
    removeWords: fc.array(fc.oneof(casing(LIST), casing(ENGLISH), fc.constantFrom(...SPECIAL_WORDS)), { maxLength: 6 }),
  },
  { requiredKeys: [] },
);

/** Options and a text that uses their words. */
const optionsAndText = optionsArb.chain((opts) =>
  fc.tuple(fc.constant(opts), fc.oneof(realistic([...(opts.addWords ?? []), ...(opts.removeWords ?? [])]), fc.string({ unit: 'binary-ascii', maxLength: 30 }))),
);

function checkSame(opts: ProfanityFilterOptions, raw: string): void {
  const text = normalizeText(raw);
  expect(new ProfanityFilter(opts).clean(text)).toBe(badWordsClean(reference(opts), text));
  expect(new ProfanityFilter(opts).isProfane(text)).toBe(reference(opts).isProfane(text));
}

describe('ProfanityFilter ≡ bad-words (differential)', () => {
  // bad-words costs ~0.4 ms per token with its default list, hence the modest lengths and run counts.
  it('full unicode strings, default list', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (t) => checkSame({}, t)), runs(800));
  });

  it('full unicode strings, raw (not normalised) input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (t) => {
        expect(new ProfanityFilter().clean(t)).toBe(badWordsClean(new Filter(), t));
        expect(new ProfanityFilter().isProfane(t)).toBe(new Filter().isProfane(t));
      }),
      runs(400),
    );
  });

  it('ascii with punctuation, default list', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary-ascii', maxLength: 24 }), (t) => checkSame({}, t)), runs(500));
  });

  it('realistic text, default list', () => {
    fc.assert(fc.property(realistic(), (t) => checkSame({}, t)), runs(700));
  });

  // Builds a bad-words filter per case (its options differ each time): the slowest property here,
  // so it gets more time than the default on a busy machine.
  it('random options (placeholder, emptyList, addWords with special characters, removeWords)', () => {
    fc.assert(fc.property(optionsAndText, ([opts, t]) => checkSame(opts, t)), runs(1200));
  }, 90_000);

  it('isProfane on every list word, with variants, raw and case-folding look-alikes', () => {
    const mine = new ProfanityFilter();
    const ref = new Filter(); // isProfane keeps no state between calls
    let checked = 0;
    for (const w of new Set(LIST)) {
      for (const t of [w, w.toUpperCase(), `x${w}`, `${w}_`, ` ${w}!`, w.replace(/s/g, 'ſ').replace(/k/g, '\u212A')]) {
        expect(mine.isProfane(t), t).toBe(ref.isProfane(t));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(4000);
  });

  it('addWords / removeWords after construction', () => {
    const op = fc.oneof(
      fc.tuple(fc.constant('add' as const), fc.array(fc.oneof(fc.constantFrom(...SPECIAL_WORDS), casing(ENGLISH)), { maxLength: 3 })),
      fc.tuple(fc.constant('remove' as const), fc.array(fc.oneof(casing(LIST), casing(ENGLISH), fc.constantFrom(...SPECIAL_WORDS)), { maxLength: 3 })),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 5 }), realistic([...SPECIAL_WORDS, ...ENGLISH]), fc.boolean(), (ops, raw, emptyList) => {
        const text = normalizeText(raw);
        const mine = new ProfanityFilter({ emptyList });
        const ref = new Filter({ emptyList });
        for (const [kind, words] of ops) {
          mine.clean(text); // interleave uses so a stale index would show
          if (kind === 'add') (mine.addWords(...words), ref.addWords(...words));
          else (mine.removeWords(...words), ref.removeWords(...words));
        }
        expect(mine.clean(text)).toBe(badWordsClean(ref, text));
      }),
      runs(300),
    );
  });
});

describe('ProfanityFilter', () => {
  it('does what its JSDoc example says', () => {
    const filter = new ProfanityFilter({ placeHolder: 'x', addWords: ['darn'] });
    expect(filter.clean('Darn it, you ash0le!')).toBe('xxxx it, you xxxxxx!');
    expect(filter.isProfane('what the hell')).toBe(true);
    filter.removeWords('hell');
    expect(filter.isProfane('what the hell')).toBe(false);
  });

  it('masks list words case-insensitively, whole tokens only', () => {
    const f = new ProfanityFilter();
    expect(f.clean("Don't be an ash0le")).toBe("Don't be an ******");
    expect(f.clean('FuCk you, ASS-hat')).toBe('**** you, ***-hat');
    expect(f.clean('a classic bass passage')).toBe('a classic bass passage');
    expect(f.clean('café fuckér')).toBe('café ****ér'); // \b is ASCII-only: é splits the word
  });

  it('placeholder: repeated once per alphanumeric character, "" means "*", used as a replace pattern', () => {
    expect(new ProfanityFilter({ placeHolder: 'x' }).clean('shit happens')).toBe('xxxx happens');
    expect(new ProfanityFilter({ placeHolder: '-=' }).clean('shit')).toBe('-=-=-=-=');
    expect(new ProfanityFilter({ placeHolder: '' }).clean('shit')).toBe('****');
    expect(new ProfanityFilter({ placeHolder: '' }).placeHolder).toBe('*');
    // bad-words passes the placeholder to String.replace, so `$&` re-inserts each character.
    expect(new ProfanityFilter({ placeHolder: '$&' }).clean('shit')).toBe(badWordsClean(reference({ placeHolder: '$&' }), 'shit'));
    expect(new ProfanityFilter({ placeHolder: '$&' }).clean('shit')).toBe('shit');
    // The mask length counts [a-zA-Z0-9|$@] only: a leading underscore kept in a token is dropped.
    expect(new ProfanityFilter({ emptyList: true, addWords: ['_x'] }).clean('_x y')).toBe(badWordsClean(reference({ emptyList: true, addWords: ['_x'] }), '_x y'));
  });

  it('bad-words splitting: underscores are kept (bad-words drops them), text without word characters is untouched', () => {
    const f = new ProfanityFilter();
    // bad-words alone would give 'helloworld' and '****you': we keep the underscores (see clean()).
    expect(new Filter().clean('hello_world')).toBe('helloworld');
    expect(f.clean('hello_world')).toBe('hello_world');
    expect(f.clean('fuck_you')).toBe('****_you');
    expect(f.clean('https://example.com/a_b?OPENAI_BASE_URL=1 snake_case_name')).toBe('https://example.com/a_b?OPENAI_BASE_URL=1 snake_case_name');
    expect(f.clean('a _b')).toBe('a _b');
    expect(f.clean('!!! ¿¿ 😀')).toBe('!!! ¿¿ 😀');
    expect(f.clean('')).toBe('');
    for (const t of ['hello_world', 'fuck_you', 'a _b', '!!! ¿¿ 😀']) expect(f.clean(t)).toBe(badWordsClean(new Filter(), t));
  });

  it('reproduces a fresh bad-words filter, not a reused one', () => {
    const reused = new Filter();
    expect(reused.clean('      hello fuck')).toBe('      hello ****');
    // Its global splitRegex now has lastIndex 6: the next exec starts past the end of 'fuck', finds no
    // delimiter and bad-words returns the text untouched (then lastIndex is back to 0).
    expect(reused.clean('fuck')).toBe('fuck');
    expect(reused.clean('fuck')).toBe('****');
    const mine = new ProfanityFilter();
    expect(mine.clean('      hello fuck')).toBe('      hello ****');
    expect(mine.clean('fuck')).toBe('****');
  });

  it('addWords / removeWords, including bad-words allow-list bookkeeping', () => {
    const f = new ProfanityFilter();
    f.addWords('darn', 'A.B');
    expect(f.clean('darn it')).toBe('**** it');
    expect(f.isProfane('x a.b y')).toBe(true); // isProfane sees words with non-word characters…
    expect(f.clean('x a.b y')).toBe('x a.b y'); // …clean's tokens never contain them
    f.removeWords('HELL', 'darn');
    expect(f.clean('hell, darn')).toBe('hell, darn');
    f.addWords('Hell');
    expect(f.clean('hell')).toBe('****');
    // removeWords twice, addWords once: bad-words removes one allow-list entry, the word stays allowed.
    const g = new ProfanityFilter({ removeWords: ['shit', 'shit'] });
    g.addWords('shit');
    expect(g.clean('shit')).toBe('shit');
    expect(new ProfanityFilter({ addWords: ['zap'], removeWords: ['zap'] }).clean('zap')).toBe('zap');
    expect(new ProfanityFilter({ emptyList: true }).clean('fuck shit')).toBe('fuck shit');
    expect(new ProfanityFilter({ emptyList: true, addWords: ['zap'] }).clean('ZAP zapper')).toBe('*** zapper');
  });

  it('an empty word in the list matches every token with a word character, as in bad-words', () => {
    const opts = { emptyList: true, addWords: [''] };
    const t = 'hi, there_you !!';
    expect(new ProfanityFilter(opts).clean(t)).toBe(badWordsClean(reference(opts), t));
    expect(new ProfanityFilter(opts).clean(t)).toBe('**, *****_*** !!'); // 'there_you' → 'there', 'you'; the '_' is kept
  });

  it('isProfane matches bad-words on whole texts', () => {
    const f = new ProfanityFilter();
    const cases = ['what the hell', 'hello', 'bass', 'ASS', 'a blow job', 'blow-job', 's.o.b.x', 'sh!t', 'shit_head', '', '💩'];
    for (const t of cases) expect(f.isProfane(t), t).toBe(new Filter().isProfane(t));
    expect(f.isProfane('a blow job')).toBe(true);
    expect(f.isProfane('a classic')).toBe(false);
    expect(new ProfanityFilter({ emptyList: true }).isProfane('fuck')).toBe(false);
  });

  it('non-ASCII words are not folded onto ASCII, even where V8 alternations would (/sa|sb|ſ/i.test("s"))', () => {
    const opts = { emptyList: true, addWords: ['sa', 'sb', 'ſ', '\u212A'] };
    for (const t of ['s', 'k', 'S K', 'ſ', 'sa']) {
      expect(new ProfanityFilter(opts).isProfane(t), t).toBe(reference(opts).isProfane(t));
      expect(new ProfanityFilter(opts).clean(t), t).toBe(badWordsClean(reference(opts), t));
    }
    expect(new ProfanityFilter(opts).isProfane('s')).toBe(false);
  });

  it('a non-ASCII token that lower-cases to a list word is not masked (KELVIN SIGN)', () => {
    const opts = { emptyList: true, addWords: ['k'] };
    expect(new ProfanityFilter(opts).clean('\u212A k')).toBe('\u212A *');
    expect(new ProfanityFilter(opts).clean('\u212A k')).toBe(badWordsClean(reference(opts), '\u212A k'));
  });
});

describe('normalizeText', () => {
  it('applies NFKC: full-width and stylised letters become ASCII', () => {
    expect(normalizeText('ｆｕｃｋ')).toBe('fuck');
    expect(normalizeText('𝐟𝐮𝐜𝐤 ﬁne')).toBe('fuck fine');
    expect(new ProfanityFilter().clean(normalizeText('ｆｕｃｋ you'))).toBe('**** you');
  });

  it('strips zero-width and invisible characters so a split bad word is caught', () => {
    for (const ch of ['\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF', '\u00AD', '\u180E']) {
      const text = `fu${ch}ck you`;
      expect(normalizeText(text)).toBe('fuck you');
      expect(new ProfanityFilter().clean(normalizeText(text))).toBe('**** you');
    }
    expect(new ProfanityFilter().clean('fu\u200Bck')).toBe('fu\u200Bck'); // why normalisation comes first
  });

  it('keeps emoji ZWJ sequences', () => {
    for (const e of ['👨\u200D👩\u200D👧', '🏳️\u200D🌈', '👩🏽\u200D💻', '❤️\u200D🔥', '🧑\u200D🤝\u200D🧑']) {
      expect(normalizeText(`hi ${e}!`)).toBe(`hi ${e}!`);
    }
    expect(normalizeText('😀\u200Da')).toBe('😀a');
    expect(normalizeText('a\u200D😀')).toBe('a😀');
    expect(normalizeText('👨\u200B\u200D👩')).toBe('👨\u200D👩');
  });

  it('re-normalises after stripping, and is idempotent', () => {
    expect(normalizeText('e\u200B\u0301')).toBe('é');
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), fc.constantFrom('\u200B', '\u200D', '\u0301', '👨', '🏽', '\uFE0F', 'e')) }), (s) => {
        const once = normalizeText(s);
        expect(normalizeText(once)).toBe(once);
        expect(once.normalize('NFKC')).toBe(once);
      }),
      { numRuns: 1000 },
    );
  });
});
