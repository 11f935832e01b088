import fc from 'fast-check';
import { schemas } from 'parley-chat';
import { describe, expect, it } from 'vitest';
import { EMOJI_SPELLINGS, EMOJI_VERSION } from '../../src/validation/emoji-pattern.js';
import { alternationOf, emojiSpellings } from '../../src/validation/emoji-spellings.js';
import { RGI_EMOJI, RGI_EMOJI_VERSION } from '../support/rgi-emoji.js';

/**
 * Reactions take one RGI emoji (from Unicode's list, the same on every Node version), the same
 * without its final U+FE0F (stored with it), or a :shortcode: — and nothing else.
 */

const RUNTIME_RGI = /^\p{RGI_Emoji}$/v;
const spellings = emojiSpellings(RGI_EMOJI);
const accepted = new Set(spellings);
const parse = (emoji: string) => schemas.emoji.safeParse(emoji);

function runtimeKnows(version: string): boolean {
  const [major = 0, minor = 0] = process.versions.unicode!.split('.').map(Number);
  const [wantMajor = 0, wantMinor = 0] = version.split('.').map(Number);
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}

describe('reaction emoji', () => {
  it('the shipped pattern is the one made from the RGI list', () => {
    expect(EMOJI_VERSION).toBe(RGI_EMOJI_VERSION);
    expect(EMOJI_SPELLINGS).toBe(alternationOf(spellings));
  });

  it('accepts every RGI emoji as it is, and the short spelling as the RGI one', () => {
    for (const emoji of RGI_EMOJI) expect(parse(emoji)).toEqual({ success: true, data: emoji });
    const short = spellings.slice(RGI_EMOJI.length);
    expect(short.length).toBeGreaterThan(900);
    for (const emoji of short) expect(parse(emoji)).toEqual({ success: true, data: `${emoji}\uFE0F` });
    expect(parse('\u2764')).toEqual({ success: true, data: '\u2764\uFE0F' });
    expect(parse(':thumbs_up:')).toEqual({ success: true, data: ':thumbs_up:' });
  });

  it("is this Node's own RGI set, when this Node knows the list's Unicode version", () => {
    // Every RGI emoji of the runtime that can be enumerated (single code points with or without
    // U+FE0F, keycaps, flags, skin tones) is in the list...
    const missing: string[] = [];
    const check = (candidate: string) => {
      if (RUNTIME_RGI.test(candidate) && !accepted.has(candidate)) missing.push(candidate);
    };
    for (let code = 0x20; code <= 0x1ffff; code++) {
      if (code >= 0xd800 && code <= 0xdfff) continue;
      const char = String.fromCodePoint(code);
      check(char);
      check(`${char}\uFE0F`);
      for (const tone of [0x1f3fb, 0x1f3fc, 0x1f3fd, 0x1f3fe, 0x1f3ff]) check(char + String.fromCodePoint(tone));
    }
    for (let a = 0x1f1e6; a <= 0x1f1ff; a++) for (let b = 0x1f1e6; b <= 0x1f1ff; b++) check(String.fromCodePoint(a, b));
    expect(missing).toEqual([]);
    // ...and, on a Node as recent as the list, every listed one is RGI to it.
    if (runtimeKnows(RGI_EMOJI_VERSION)) expect(RGI_EMOJI.filter((e) => !RUNTIME_RGI.test(e))).toEqual([]);
  });

  it('refuses everything else: pieces, pairs, text and near misses', () => {
    for (const emoji of ['', '0', '#', 'a', '\uFE0F', '\u200D', '\u{1F44D}\u{1F44D}', '\u{1F1E6}\u{1F1E6}', ':A:', '::', ':a b:', `:${'a'.repeat(63)}:`]) {
      expect(parse(emoji).success, JSON.stringify(emoji)).toBe(false);
    }
    const listed = fc.constantFrom(...RGI_EMOJI);
    const nearMiss = fc.oneof(
      fc.tuple(listed, listed).map(([a, b]) => a + b),
      fc.tuple(listed, fc.nat()).map(([e, n]) => [...e].slice(0, 1 + (n % [...e].length)).join('')),
      fc.tuple(listed, fc.constantFrom('\u200D', '\uFE0F', '\u{1F3FB}', 'a', ' ')).map(([e, extra]) => e + extra),
      fc.string({ unit: 'grapheme', maxLength: 3 }),
    );
    fc.assert(
      fc.property(nearMiss, (text) => {
        expect(parse(text).success).toBe(accepted.has(text) || /^:[a-z0-9_+-]{1,62}:$/.test(text));
      }),
      { seed: 3, numRuns: 3000 },
    );
  });
});
