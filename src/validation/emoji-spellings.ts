/**
 * How the reaction-emoji pattern (emoji-pattern.ts) is made from Unicode's RGI emoji list: by
 * scripts/generate-emoji-pattern.ts, and again by the tests to prove the shipped one is this list's.
 */

const VARIATION_SELECTOR_16 = '\uFE0F';

/**
 * Every accepted spelling of the RGI emoji `rgi`: each one, and those ending in U+FE0F also
 * without it (a text-style ❤ for ❤️). No RGI emoji is another one plus U+FE0F, so the two kinds
 * never overlap.
 */
export function emojiSpellings(rgi: readonly string[]): string[] {
  const known = new Set(rgi);
  const withoutSelector = rgi
    .filter((e) => e.endsWith(VARIATION_SELECTOR_16))
    .map((e) => e.slice(0, -1))
    .filter((e) => !known.has(e));
  return [...rgi, ...withoutSelector];
}

interface TrieNode {
  end: boolean;
  next: Map<string, TrieNode>;
}

/**
 * A code point as validators with or without the `u` flag, and Python's `re`, all read it: ASCII
 * letters and digits as they are, astral code points as themselves, the rest of the BMP as `\uXXXX`.
 */
function literal(char: string): string {
  const code = char.codePointAt(0)!;
  if (/^[A-Za-z0-9]$/.test(char) || code > 0xffff) return char;
  return `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** One code point, or a character class of several (runs of three or more as ranges). */
function characterClass(chars: string[]): string {
  if (chars.length === 1) return literal(chars[0]!);
  const codes = chars.map((c) => c.codePointAt(0)!).sort((a, b) => a - b);
  let body = '';
  for (let i = 0; i < codes.length; ) {
    let j = i;
    while (j + 1 < codes.length && codes[j + 1] === codes[j]! + 1) j++;
    if (j - i >= 2) body += `${literal(String.fromCodePoint(codes[i]!))}-${literal(String.fromCodePoint(codes[j]!))}`;
    else for (let k = i; k <= j; k++) body += literal(String.fromCodePoint(codes[k]!));
    i = j + 1;
  }
  return `[${body}]`;
}

/** What may follow `node`, as a pattern ('' when nothing may). */
function continuation(node: TrieNode): string {
  if (node.next.size === 0) return '';
  const charsByRest = new Map<string, string[]>();
  for (const [char, child] of node.next) {
    const rest = continuation(child);
    const chars = charsByRest.get(rest);
    if (chars) chars.push(char);
    else charsByRest.set(rest, [char]);
  }
  const branches = [...charsByRest].map(([rest, chars]) => characterClass(chars) + rest);
  const oneAtom = branches.length === 1 && charsByRest.has('');
  if (!node.end) return branches.length === 1 ? branches[0]! : `(?:${branches.join('|')})`;
  return oneAtom ? `${branches[0]}?` : `(?:${branches.join('|')})?`;
}

/**
 * One regular-expression alternation matching exactly the strings of `words` (anchor it yourself),
 * factored as a trie of their code points: branches that continue alike share one character class.
 */
export function alternationOf(words: Iterable<string>): string {
  const root: TrieNode = { end: false, next: new Map() };
  for (const word of words) {
    let node = root;
    for (const char of word) {
      let child = node.next.get(char);
      if (!child) node.next.set(char, (child = { end: false, next: new Map() }));
      node = child;
    }
    node.end = true;
  }
  return continuation(root);
}
