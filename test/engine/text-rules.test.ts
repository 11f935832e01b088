import fc from 'fast-check';
import { schemas } from 'parley-chat';
import { searchTerms } from '../../src/engine.js';
import { normalizeText } from '../../src/moderation/normalize.js';
import { describe, expect, it } from 'vitest';
import { HTTP_URL } from '../../src/validation/http-url.js';
import { VISIBLE_CHARACTER, WORD_CHARACTER } from '../../src/validation/text.js';

/**
 * The text rules are patterns a JSON Schema validator can run, standing in for what the engine does
 * after them (normalisation, word splitting, URL parsing). These prove the stand-ins never accept
 * what the engine would then refuse, so a request the OpenAPI document calls valid is never a 400.
 */

function* codePoints(): Generator<string> {
  for (let code = 0x20; code <= 0x10ffff; code++) {
    if (code >= 0xd800 && code <= 0xdfff) continue; // unpaired surrogates are refused before
    yield String.fromCodePoint(code);
  }
}

describe('text rules', () => {
  it('content with a visible character is never blank once normalised', () => {
    const blank: string[] = [];
    for (const char of codePoints()) {
      if (VISIBLE_CHARACTER.test(char) && normalizeText(char).trim() === '') blank.push(char);
    }
    expect(blank).toEqual([]);
    // around invisible characters too
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(' ', '\u200B', '\u200D', '\uFE0F', '\u2060', '\u00AD', '\t', 'a', '\u{1F44D}') }), (text) => {
        const accepted = schemas.content.safeParse(text).success;
        if (accepted) expect(normalizeText(text).trim()).not.toBe('');
      }),
      { seed: 7, numRuns: 500 },
    );
  });

  it('a search query with a word character always has a word to search for', () => {
    const wordless: string[] = [];
    for (const char of codePoints()) {
      if (WORD_CHARACTER.test(char) && searchTerms(char).length === 0) wordless.push(char);
    }
    expect(wordless).toEqual([]);
    for (const query of ['!!!', '***', ' ', '\u3164', '\u037A', '\uFF9E']) expect(schemas.searchQuery.safeParse(query).success).toBe(false);
    for (const query of ['a', '7', 'é', '\u4E2D', 'hello!!!']) expect(schemas.searchQuery.safeParse(query).success).toBe(true);
  });

  it('every attachment URL it accepts is an absolute http(s) URL that a browser parses', () => {
    fc.assert(
      fc.property(fc.stringMatching(HTTP_URL), (url) => {
        // IDNA's xn-- labels are host names like any other here; only a parser that decodes them can tell a bad one
        fc.pre(!/(?:^|[/.@])xn--/i.test(url));
        const parsed = new URL(url);
        expect(['http:', 'https:']).toContain(parsed.protocol);
        expect(parsed.hostname).not.toBe('');
      }),
      { seed: 11, numRuns: 3000 },
    );
    for (const url of ['https://cdn.example.com/a b.png?x=é#top', 'http://127.0.0.1:8080/', 'https://[2001:db8::1]/f', 'HTTPS://CDN.EXAMPLE.COM']) {
      expect(HTTP_URL.test(url), url).toBe(true);
    }
    for (const url of ['', 'https://', 'https:///a', 'https://1.2.3.999/', 'https://a.com:65536/', 'ftp://a.com/', 'javascript:alert(1)', '//a.com/x', 'https://a.com/\n']) {
      expect(HTTP_URL.test(url), url).toBe(false);
    }
  });
});
