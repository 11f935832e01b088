import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModerationPipeline } from '../../src/moderation/pipeline.js';
import { storableJson, StreamOutputFilter } from '../../src/streams/output-filter.js';

/** The streaming output filter: whole-word results, released as early as possible. */

const moderation = new ModerationPipeline({}, 100_000);
const filter = () => new StreamOutputFilter(moderation);

/** Feeds the pieces; returns what each push released, then what `end` released. */
function feed(pieces: readonly string[]): { released: string[]; end: string } {
  const f = filter();
  const released = pieces.map((p) => f.push(p));
  return { released, end: f.end() };
}

describe('StreamOutputFilter', () => {
  it('releases a partial word at once when no masked word can begin with it', () => {
    const { released } = feed(['Hello', ' wor', 'ld']);
    expect(released).toEqual(['Hello', ' wor', 'ld']);
  });

  it('holds a partial word back while it may still become a masked one, then masks it whole', () => {
    const { released, end } = feed(['well sh', 'it hap', 'pens, ', 'shit']);
    expect(released).toEqual(['well ', '**** hap', 'pens, ', '']);
    expect(end).toBe('****');
  });

  it('never masks the rest of a word whose start was released (a split word is still one word)', () => {
    // "Han" cannot begin a masked word, so "Hancock" cannot be one: "cock" is not masked after it.
    const { released, end } = feed(['Han', 'cock', ' and a cock.']);
    expect(released.join('') + end).toBe('Hancock and a ****.');
    expect(released[0]).toBe('Han');
  });

  it('does not split an emoji ZWJ sequence across pieces', () => {
    const family = '👨\u200D👩\u200D👧';
    const { released, end } = feed(['look 👨', '\u200D', '👩\u200D👧', ' ok']);
    expect(released.join('') + end).toBe(`look ${family} ok`);
  });

  it('does not split a keycap across pieces: its base digit waits for what follows', () => {
    const { released, end } = feed(['step 1', '\uFE0F\u20E3 then 2', '024 then #', '\uFE0F\u20E3.']);
    expect(released.join('') + end).toBe('step 1\uFE0F\u20E3 then 2024 then #\uFE0F\u20E3.');
  });

  it('gives what filtering the whole ASCII text gives, however the text is split', () => {
    const word = fc.constantFrom('shit', 'sh', 'it', 'Han', 'cock', 'hello', 'hell', 'ass', 'assess', 'class', 'a', 'FUCK', 'fu', 'ck', 'b00b', 'x_y');
    const sep = fc.constantFrom(' ', '', ', ', '.', '\n', '_', '-', '!');
    const text = fc.array(fc.tuple(word, sep), { maxLength: 25 }).map((parts) => parts.map(([w, s]) => w + s).join(''));
    fc.assert(
      fc.property(text, fc.array(fc.nat({ max: 200 }), { maxLength: 12 }), (whole, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
        const pieces: string[] = [];
        let from = 0;
        for (const at of points) {
          pieces.push(whole.slice(from, at));
          from = at;
        }
        pieces.push(whole.slice(from));
        const { released, end } = feed(pieces);
        expect(released.join('') + end).toBe(moderation.clean(whole));
      }),
      { numRuns: 500 },
    );
  });
});

describe('storableJson (tool parts)', () => {
  it('drops U+0000 and makes unpaired surrogates U+FFFD in every string and key, at any depth; keeps everything else', () => {
    const value = { 'a\u0000b': ['x\u0000', { deep: 'lone \ud800 and \udc00', pair: '😀', tab: '\t\u0001' }], n: 1.5, t: true, z: null };
    expect(storableJson(value)).toEqual({ ab: ['x', { deep: 'lone \ufffd and \ufffd', pair: '😀', tab: '\t\u0001' }], n: 1.5, t: true, z: null });
    expect(storableJson('\u0000\u0000')).toBe('');
    expect(storableJson(7)).toBe(7);
    expect(storableJson(null)).toBeNull();
  });

  it('gives back JSON Postgres accepts for any JSON value: no \\u0000, no escaped (unpaired) surrogate', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: fc.constantFrom('a', '\u0000', '\ud800', '\udc00', '😀', '\t'), minLength: 1 }), (value, text) => {
        // JSON.stringify escapes exactly the unpaired surrogates; a well-formed pair is written as is.
        const out = JSON.stringify(storableJson({ value, text, [text]: text }));
        expect(out).not.toMatch(/\\u0000|\\ud[89a-f]/i);
      }),
    );
  });
});
