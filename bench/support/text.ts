/**
 * Realistic chat text for the storage benches: a seeded PRNG, a 20,000-word vocabulary (the most
 * common English and chat words first, then a long tail of pronounceable made-up words) drawn
 * with a Zipf distribution (word of rank r has weight 1/r, as in natural language), and messages
 * of exponentially distributed length (mean ≈ 13 words, ≈ 75 characters).
 *
 * With these numbers the top word ("the") is in ≈ 75% of messages, rank 20 in ≈ 7%, rank 400 in
 * ≈ 0.35% and rank 8,000 in ≈ 0.02%: search terms of every selectivity a chat really sees.
 */

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Common English and chat words, roughly by frequency (the head of the Zipf distribution). */
const HEAD = `
the i to a and you it of is that in for this we on be have do not are with my so but just can what
at will if me your was get it's all they like know about there one up no out think yes now good
ok okay time how some from them our here when well would want then see go going need did which
also make more thanks thank really people could right as by us got back new let's sure today an
work look because should way only day maybe or first much still yeah help any been very had even
where their use why who these great tomorrow things other take over team check after before
said he she his her him than into those were too never again something anything everything
meeting please call send sent later done fix fixed bug issue release deploy build test tests
code review branch merge main change changes update updated plan week next last morning night
lunch coffee home office remote link file doc docs email message chat channel thread question
answer idea ideas problem problems thing nice cool awesome happy sorry hey hi hello bye love
friday monday tuesday wednesday thursday weekend hour hours minutes minute soon early late long
short small big little lot lots few many same different best better worse bad easy hard quick
slow fast ready wait waiting working works worked start started finish finished open close
closed free busy around through down off while since though until both each every most such
own between under again once already always often sometimes usually probably actually
basically literally honestly seems seem feel felt sounds sound looks looked guess mean means
meant tell told ask asked show showed give gave find found try tried keep kept put bring
brought run ran read write wrote talk talked say says saying come came move moved turn
customer client user users server database data api app page site screen design product
sprint ticket tickets story estimate deadline demo slides report numbers budget cost price
money sales market contract invoice account login password access error errors crash logs
staging production prod config setting settings version feature features pull request
approve approved comment comments note notes list table chart query queries cache memory disk
network latency timeout retry queue job jobs worker workers service services cluster node
phone video audio mic camera share shared screen calendar invite room train flight hotel trip
travel holiday vacation sick doctor kids family dinner breakfast pizza beer tea water walk
gym run weather rain sun snow cold hot warm summer winter spring autumn birthday party game
music movie show book books news story photo photos picture pictures
`.trim().split(/\s+/);

const ONSETS = ['b', 'br', 'c', 'ch', 'd', 'dr', 'f', 'fl', 'g', 'gr', 'h', 'j', 'k', 'l', 'm', 'n', 'p', 'pl', 'qu', 'r', 's', 'sh', 'st', 't', 'tr', 'v', 'w', 'z'];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ea', 'io', 'ou', 'y'];
const CODAS = ['', '', '', 'n', 'r', 'l', 's', 'm', 'nd', 'st', 'x', 'ck'];

export interface Vocabulary {
  /** Words by rank (index 0 = most frequent). */
  words: readonly string[];
  /** A word drawn with weight 1/(rank+1). */
  pick(random: () => number): string;
  /** Expected share of messages containing the word of this rank (0-based), for mean length `meanWords`. */
  expectedShare(rank: number, meanWords?: number): number;
}

export function vocabulary(size = 20_000): Vocabulary {
  const seen = new Set<string>();
  const words: string[] = [];
  for (const w of HEAD) if (!seen.has(w)) (seen.add(w), words.push(w));
  const next = rng(0x70c4b);
  const pickOf = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!;
  while (words.length < size) {
    const syllables = next() < 0.5 ? 2 : 3;
    let w = '';
    for (let s = 0; s < syllables; s++) w += pickOf(ONSETS) + pickOf(VOWELS);
    w += pickOf(CODAS);
    if (!seen.has(w)) (seen.add(w), words.push(w));
  }
  const cumulative = new Float64Array(size);
  let sum = 0;
  for (let r = 0; r < size; r++) cumulative[r] = sum += 1 / (r + 1);
  const total = sum;
  return {
    words,
    pick(random) {
      const u = random() * total;
      let lo = 0;
      let hi = size - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cumulative[mid]! < u) lo = mid + 1;
        else hi = mid;
      }
      return words[lo]!;
    },
    expectedShare(rank, meanWords = MEAN_WORDS) {
      const p = 1 / ((rank + 1) * total);
      return 1 - Math.pow(1 - p, meanWords);
    },
  };
}

const MEAN_WORDS = 13;
const PUNCT = ['.', '.', '?', '!', '', '', '', ' :)', '...'];

/** One chat message: 1–60 words (exponential, mean ≈ 13), sentence case, some punctuation. */
export function chatMessage(vocab: Vocabulary, random: () => number): string {
  const n = Math.min(60, 1 + Math.floor(-Math.log(1 - random()) * (MEAN_WORDS - 1)));
  let text = '';
  for (let i = 0; i < n; i++) {
    let w = vocab.pick(random);
    if (i === 0) w = w[0]!.toUpperCase() + w.slice(1);
    text += i === 0 ? w : (random() < 0.06 ? ', ' : ' ') + w;
  }
  return text + PUNCT[Math.floor(random() * PUNCT.length)]!;
}
