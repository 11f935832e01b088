import { describe, expect, it } from 'vitest';
import { ModerationPipeline } from '../../src/moderation/pipeline.js';
import { StreamOutputFilter } from '../../src/streams/output-filter.js';

/** LLM output split into pieces wherever the upstream likes: a listed word is masked however it is cut. */

function feed(moderation: ModerationPipeline, pieces: readonly string[]): string {
  const filter = new StreamOutputFilter(moderation);
  return pieces.map((p) => filter.push(p)).join('') + filter.end();
}

describe('StreamOutputFilter: evasions across pieces', () => {
  const moderation = new ModerationPipeline({}, 100_000);

  it('masks a full-width listed word split across pieces', () => {
    expect(feed(moderation, ['well ｓｈ', 'ｉｔ happens'])).toBe('well **** happens');
    expect(feed(moderation, ['ＳＨＩ', 'Ｔ'])).toBe('****');
  });

  it('masks a listed word split by a zero-width character, on either side of the cut', () => {
    expect(feed(moderation, ['sh\u200b', 'it happens'])).toBe('**** happens');
    expect(feed(moderation, ['sh', '\u200bit happens'])).toBe('**** happens');
    expect(feed(moderation, ['s', '\u200dh', 'i\u2060t!'])).toBe('****!');
  });

  it('strips control characters an upstream sends, even the one Postgres cannot store', () => {
    expect(feed(moderation, ['a\u0000b', '\u0007c\td\u001b', 'e\u007f\n'])).toBe('abc\tde\n');
  });
});

describe('StreamOutputFilter: letters and digits at the edges of their ranges', () => {
  // Only these words are listed, so which partial words may still become one is known exactly.
  const moderation = new ModerationPipeline({ profanity: { emptyList: true, addWords: ['ass', 'zap', 'b9km', 'b0km'] } }, 100_000);

  const cases: [string, string[], string][] = [
    ['A, first of the capitals', ['A', 'ss '], '*** '],
    ['Z, last of the capitals', ['Z', 'ap '], '*** '],
    ['a, first of the small letters', ['a', 'ss '], '*** '],
    ['z, last of the small letters', ['z', 'ap '], '*** '],
    ['9 inside a word', ['b9k', 'm '], '**** '],
    ['0 inside a word', ['b0k', 'm '], '**** '],
  ];
  for (const [what, pieces, expected] of cases) {
    it(`holds a partial word back until it is whole: ${what}`, () => {
      expect(feed(moderation, pieces)).toBe(expected);
    });
  }

  // The characters just outside the ranges end a word: what follows them is a word of its own.
  for (const c of ['@', '[', '`', '{', '/', ':']) {
    it(`"${c}" is not part of the word after it`, () => {
      expect(feed(moderation, [`${c}a`, 'ss '])).toBe(`${c}*** `);
    });
  }

  it('releases a partial word at once when no listed word begins with it, digits included', () => {
    const filter = new StreamOutputFilter(moderation);
    expect(['Zebra', 's 9', 'x0a', 'b9kx', ' b0'].map((p) => filter.push(p))).toEqual(['Zebra', 's ', '9x0a', 'b9kx', ' ']);
    expect(filter.end()).toBe('b0');
  });
});
