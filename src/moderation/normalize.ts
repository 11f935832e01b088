/**
 * Text normalisation run before moderation (DESIGN §10), so that trivial evasions of the word list
 * fail: full-width or stylised letters (`ｆｕｃｋ`, `𝐟𝐮𝐜𝐤`) and invisible characters typed inside a
 * word (`fu\u200Bck`) would otherwise slip past a filter that compares plain ASCII words.
 */

/**
 * Invisible characters that render as nothing but split a word for a matcher: ZERO WIDTH SPACE,
 * ZERO WIDTH NON-JOINER, WORD JOINER, ZERO WIDTH NO-BREAK SPACE (BOM), SOFT HYPHEN and MONGOLIAN
 * VOWEL SEPARATOR. NFKC keeps all of them, hence the explicit pass.
 */
const INVISIBLE = /[\u200B\u200C\u2060\uFEFF\u00AD\u180E]/g;

/**
 * A ZERO WIDTH JOINER is dropped unless it glues two emoji: the character before it must be a
 * pictographic code point (optionally followed by its skin-tone modifiers / emoji presentation
 * selector, as in 👩🏽‍💻 or ❤️‍🔥) and the one after it a pictographic code point. That keeps ZWJ
 * sequences such as 👨‍👩‍👧 or 🏳️‍🌈 intact (stripping would split them into several glyphs) while a
 * ZWJ between letters (`f\u200Duck`) is removed like the other invisibles.
 */
const STRAY_ZWJ =
  /(?<!\p{Extended_Pictographic}[\p{Emoji_Modifier}\uFE0F]*)\u200D|\u200D(?!\p{Extended_Pictographic})/gu;

/**
 * NFKC-normalises `s`, then removes zero-width / invisible characters (see {@link INVISIBLE}) and
 * every U+200D that is not part of an emoji ZWJ sequence.
 *
 * Removing a character can bring a base letter next to a combining mark it was separated from, so
 * after a removal the text is normalised and checked again until nothing changes. NFKC never creates
 * any of the stripped characters, so a later round can only drop a ZWJ whose neighbours changed, and
 * the loop ends (in practice after one round, two when something was stripped). The output is
 * therefore always NFKC and `normalizeText(normalizeText(s)) === normalizeText(s)`.
 *
 * ```ts
 * normalizeText('ｆｕ\u200Bｃｋ'); // 'fuck'
 * normalizeText('👨\u200D👩\u200D👧'); // unchanged: an emoji ZWJ sequence
 * ```
 */
export function normalizeText(s: string): string {
  let text = s.normalize('NFKC');
  for (;;) {
    const stripped = text.replace(INVISIBLE, '').replace(STRAY_ZWJ, '');
    if (stripped.length === text.length) return text;
    text = stripped.normalize('NFKC');
  }
}
