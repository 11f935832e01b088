import { Filter } from 'bad-words';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeText } from '../../src/moderation/normalize.js';
import { ProfanityFilter } from '../../src/moderation/profanity-filter.js';
import { badWordsClean, reference } from '../support/bad-words-reference.js';

/** What the filter does, case by case; the generated comparison with bad-words is in profanity-filter-differential.test.ts. */

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

  it('an empty word masks every letter or digit run and no punctuation: each ASCII character in a token of its own', () => {
    // Each printable ASCII character starts a token: a letter or digit after a space, anything else after an 'x'.
    const ascii = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));
    const text = ascii.map((c) => (/\w/.test(c) ? ` ${c}` : `x${c}`)).join('');
    const opts = { emptyList: true, addWords: [''] };
    expect(new ProfanityFilter(opts).clean(text)).toBe(text.replace(/[A-Za-z0-9]/g, '*'));
    expect(new ProfanityFilter(opts).clean(text)).toBe(badWordsClean(reference(opts), text));
  });

  it('a word with a non-ASCII letter is found by isProfane, in any case, though clean cannot mask it (as in bad-words)', () => {
    const f = new ProfanityFilter({ emptyList: true, addWords: ['naïve'] });
    for (const t of ['a naïve idea', 'NAÏVE', 'Naïve!']) expect(f.isProfane(t), t).toBe(true);
    expect(f.isProfane('a naive idea')).toBe(false);
    // \b is ASCII-only, so ï splits the word into tokens none of which is a list word.
    expect(f.clean('a naïve idea')).toBe('a naïve idea');
    expect(f.clean('a naïve idea')).toBe(badWordsClean(reference({ emptyList: true, addWords: ['naïve'] }), 'a naïve idea'));
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

  it('non-ASCII words alone are not folded either (ANGSTROM SIGN is no å, whatever words share its first letter)', () => {
    // V8 folds /åä|åö|Å/i onto 'å' (Unicode case folding); bad-words' one RegExp per word does not.
    const opts = { emptyList: true, addWords: ['åä', 'åö', '\u212B'] };
    for (const t of ['å', 'xåy', 'Å', '\u212B', 'xåäy', 'xÅÖy']) expect(new ProfanityFilter(opts).isProfane(t), t).toBe(reference(opts).isProfane(t));
    expect(new ProfanityFilter(opts).isProfane('xåy')).toBe(false);
    // \b is ASCII-only: a word that starts and ends with non-ASCII letters is found between ASCII ones.
    expect(new ProfanityFilter(opts).isProfane('xÅÖy')).toBe(true);
  });

  it('a non-ASCII token that lower-cases to a list word is not masked (KELVIN SIGN)', () => {
    const opts = { emptyList: true, addWords: ['k'] };
    expect(new ProfanityFilter(opts).clean('\u212A k')).toBe('\u212A *');
    expect(new ProfanityFilter(opts).clean('\u212A k')).toBe(badWordsClean(reference(opts), '\u212A k'));
  });
});

describe('ProfanityFilter.mayMask (may a word still growing in a stream end up masked?)', () => {
  it('is true for every beginning of a list word, the whole word included, in any case', () => {
    const f = new ProfanityFilter();
    for (const run of ['f', 'fu', 'fuc', 'fuck', 'FUCK', 'Sh', 'sh1t']) expect(f.mayMask(run), run).toBe(true);
  });

  it('is false once no list word starts with it', () => {
    const f = new ProfanityFilter();
    for (const run of ['fuckz', 'hello', 'xyzzy', '42']) expect(f.mayMask(run), run).toBe(false);
    expect(new ProfanityFilter({ emptyList: true }).mayMask('f')).toBe(false);
  });

  it('follows addWords and removeWords', () => {
    const f = new ProfanityFilter({ emptyList: true, addWords: ['darn'] });
    expect(f.mayMask('da')).toBe(true);
    expect(f.mayMask('DARN')).toBe(true); // the whole word, which begins no longer one
    f.removeWords('darn');
    expect(f.mayMask('da')).toBe(false);
    f.addWords('Zap');
    expect(f.mayMask('zA')).toBe(true);
  });

  it('ignores list words clean can never mask (with punctuation or spaces)', () => {
    const f = new ProfanityFilter({ emptyList: true, addWords: ['a.b', 'c++', 'blow job'] });
    for (const run of ['a', 'c', 'blow']) expect(f.mayMask(run), run).toBe(false);
    expect(f.clean('a.b c++ blow job')).toBe('a.b c++ blow job');
  });

  it('is always true with an empty word in the list, as every word token is masked then', () => {
    const f = new ProfanityFilter({ emptyList: true, addWords: [''] });
    expect(f.mayMask('anything')).toBe(true);
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
