/**
 * The rules on free text, each one regular expression. Their sources are valid JSON Schema
 * `pattern`s (ECMA-262 with the `u` flag, no flags of their own), so the OpenAPI document carries
 * the very check the engine runs: a client validating against the document gets the same answer.
 */

/**
 * No U+0000 and no unpaired surrogate. Postgres cannot store U+0000 in text or jsonb nor an
 * unpaired surrogate in jsonb, and UTF-8 drivers turn an unpaired surrogate into U+FFFD: no storage
 * would keep such text as it was sent, so every storage refuses it alike. The second alternative
 * reads a surrogate pair one UTF-16 unit at a time, for a validator that ignores the `u` flag.
 */
// eslint-disable-next-line no-control-regex
export const STORABLE_TEXT = /^(?:[^\u0000\uD800-\uDFFF]|[\uD800-\uDBFF][\uDC00-\uDFFF])*$/u;
export const STORABLE_TEXT_MESSAGE = 'must not contain U+0000 or an unpaired surrogate';

/** No C0 control character other than tab, newline and carriage return, and no DEL. */
// eslint-disable-next-line no-control-regex
export const NO_CONTROL_CHARACTERS = /^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$/u;

/** Not only whitespace (what `String.prototype.trim` removes). */
export const NOT_BLANK = /\S/u;

/**
 * A character that survives text normalisation and is not whitespace: neither whitespace nor a
 * default-ignorable code point (zero-width characters, joiners, variation selectors, bidi controls,
 * fillers, tags) nor an interlinear annotation control (U+FFF9-FFFB), the only characters
 * normalisation removes. Message text without one would be empty once normalised.
 */
export const VISIBLE_CHARACTER = /[^\s\p{Default_Ignorable_Code_Point}\uFFF9-\uFFFB]/u;

/**
 * A letter or digit that yields a search word once normalised: not a default-ignorable filler, nor
 * one of the spacing forms of combining marks (U+037A, U+FC5E-FC63, U+FE70-FE7E even, U+FF9E,
 * U+FF9F), which NFKC turns into a space and a combining mark.
 */
export const WORD_CHARACTER =
  /(?![\p{Default_Ignorable_Code_Point}\u037A\uFC5E-\uFC63\uFE70\uFE72\uFE74\uFE76\uFE78\uFE7A\uFE7C\uFE7E\uFF9E\uFF9F])[\p{L}\p{N}]/u;

/** One line of plain text (a file name, a display name): no control character at all, storable. */
// eslint-disable-next-line no-control-regex
export const PLAIN_LINE = /^(?:[^\u0000-\u001F\u007F\uD800-\uDFFF]|[\uD800-\uDBFF][\uDC00-\uDFFF])+$/u;
