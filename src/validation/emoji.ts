import { EMOJI_SPELLINGS } from './emoji-pattern.js';

/**
 * Reaction emoji: one RGI emoji (👍, 👍🏽, 👨‍👩‍👧, 🇫🇷), the same spelled without its final U+FE0F
 * (a text-style ❤ for ❤️), or a `:shortcode:`.
 *
 * The set is Unicode's list (emoji-pattern.ts, generated) rather than the runtime's
 * `/\p{RGI_Emoji}/v`, whose answer depends on the ICU inside each Node version: every node of a
 * cluster accepts the same reactions, and the OpenAPI document states exactly that set as one
 * `u`-flag pattern (a JSON Schema `pattern` has no `v` flag, which `\p{RGI_Emoji}` needs). The
 * pattern is a trie of the ~4,900 spellings, under 10 KB in the document; an `enum` of them would
 * add ~70 KB and turn every generated client type into a union of 5,000 strings.
 */

const VARIATION_SELECTOR_16 = '\uFE0F';

/** One accepted reaction emoji or `:shortcode:`, and nothing else. */
export const EMOJI = new RegExp(`^(?::[a-z0-9_+\\-]{1,62}:|${EMOJI_SPELLINGS})$`, 'u');

/**
 * The stored form of an accepted emoji: fully qualified (❤ becomes ❤️), so both spellings are one
 * reaction. A spelling is the short one exactly when it is accepted with U+FE0F added.
 */
export function canonicalEmoji(emoji: string): string {
  return EMOJI.test(emoji + VARIATION_SELECTOR_16) ? emoji + VARIATION_SELECTOR_16 : emoji;
}
