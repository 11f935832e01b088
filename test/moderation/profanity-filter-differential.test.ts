import { Filter } from 'bad-words';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeText } from '../../src/moderation/normalize.js';
import { ProfanityFilter, type ProfanityFilterOptions } from '../../src/moderation/profanity-filter.js';
import { badWordsClean, reference } from '../support/bad-words-reference.js';

/**
 * ProfanityFilter against bad-words itself on generated texts and options: minutes of bad-words'
 * per-token RegExps, so it lives apart from the unit tests (profanity-filter.test.ts), which are
 * what mutation testing runs.
 */

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
