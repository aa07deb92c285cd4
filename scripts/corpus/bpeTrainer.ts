/**
 * Byte-level BPE training that scales to a corpus of tens of MB: words (GPT-2 pre-tokenizer pieces) are
 * counted once, then each merge updates only the words containing the merged pair, with pair counts kept
 * in a max-heap (stale entries skipped on pop). Same result as the textbook loop: the most frequent pair
 * wins, ties go to the pair whose token strings sort first, and the vocabulary grows by one per merge.
 */
import { byteToUnicode } from '../fixtures/bpe.ts';

/** GPT-2's pre-tokenizer regex, the split @huggingface/tokenizers' ByteLevel applies with use_regex. */
export const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export interface TrainedBpe {
  /** Token strings by id: the 256 byte symbols (id = byte value), then merge results in merge order. */
  vocab: string[];
  merges: [string, string][];
}

/** Counts pre-tokenized words (as byte symbols) over documents; call `add` per document. */
export class WordCounter {
  readonly counts = new Map<string, number>();
  private readonly bytesToChars = byteToUnicode();
  private readonly encoder = new TextEncoder();

  add(text: string): void {
    for (const match of text.matchAll(GPT2_SPLIT)) {
      const piece = match[0];
      // ASCII pieces map char by char; others go through UTF-8
      let word = '';
      let ascii = true;
      for (let i = 0; i < piece.length; i++) if (piece.charCodeAt(i) > 127) ascii = false;
      if (ascii) for (let i = 0; i < piece.length; i++) word += this.bytesToChars[piece.charCodeAt(i)]!;
      else for (const b of this.encoder.encode(piece)) word += this.bytesToChars[b]!;
      this.counts.set(word, (this.counts.get(word) ?? 0) + 1);
    }
  }
}

/** A max-heap of (count, pair) ordered by count, then by the pair's token strings ascending. */
class PairHeap {
  private readonly counts: number[] = [];
  private readonly pairs: number[] = [];
  private readonly before: (p: number, q: number) => boolean;

  constructor(before: (p: number, q: number) => boolean) {
    this.before = before;
  }

  get size(): number {
    return this.pairs.length;
  }

  private higher(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    return ci > cj || (ci === cj && this.before(this.pairs[i]!, this.pairs[j]!));
  }

  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j]!, this.counts[i]!];
    [this.pairs[i], this.pairs[j]] = [this.pairs[j]!, this.pairs[i]!];
  }

  push(count: number, pair: number): void {
    this.counts.push(count);
    this.pairs.push(pair);
    for (let i = this.pairs.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.higher(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { count: number; pair: number } {
    const top = { count: this.counts[0]!, pair: this.pairs[0]! };
    const lastCount = this.counts.pop()!;
    const lastPair = this.pairs.pop()!;
    if (this.pairs.length > 0) {
      this.counts[0] = lastCount;
      this.pairs[0] = lastPair;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < this.pairs.length && this.higher(l, best)) best = l;
        if (r < this.pairs.length && this.higher(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

const PAIR_BASE = 1 << 16;
const pairKey = (a: number, b: number) => a * PAIR_BASE + b;

/** Learns merges until the vocabulary holds `vocabSize` tokens (256 bytes + merges); words seen fewer than `minWordCount` times are ignored. */
export function trainBpe(wordCounts: ReadonlyMap<string, number>, vocabSize: number, minWordCount = 1): TrainedBpe {
  if (vocabSize > PAIR_BASE) throw new Error(`vocabulary size ${vocabSize} exceeds ${PAIR_BASE}`);
  const byteChars = byteToUnicode();
  const idOfChar = new Map(byteChars.map((c, i) => [c, i]));
  const vocab = [...byteChars];
  const idOfToken = new Map(vocab.map((t, i) => [t, i]));
  const sortedWords = [...wordCounts.entries()].filter(([, n]) => n >= minWordCount).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const words = sortedWords.map(([w]) => Int32Array.from([...w], (c) => idOfChar.get(c)!));
  const symbols: number[][] = words.map((w) => Array.from(w));
  const freq = sortedWords.map(([, n]) => n);
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPair = (key: number, word: number, n: number) => {
    pairCount.set(key, (pairCount.get(key) ?? 0) + n);
    let set = pairWords.get(key);
    if (!set) pairWords.set(key, (set = new Set()));
    set.add(word);
  };
  symbols.forEach((s, w) => {
    for (let i = 0; i + 1 < s.length; i++) addPair(pairKey(s[i]!, s[i + 1]!), w, freq[w]!);
  });
  const before = (p: number, q: number) => {
    const [pa, pb, qa, qb] = [vocab[Math.floor(p / PAIR_BASE)]!, vocab[p % PAIR_BASE]!, vocab[Math.floor(q / PAIR_BASE)]!, vocab[q % PAIR_BASE]!];
    return pa < qa || (pa === qa && pb < qb);
  };
  const heap = new PairHeap(before);
  for (const [key, n] of pairCount) heap.push(n, key);
  const merges: [string, string][] = [];
  while (vocab.length < vocabSize) {
    if (heap.size === 0) throw new Error(`the corpus supports only ${vocab.length} tokens, ${vocabSize} requested`);
    const { count, pair } = heap.pop();
    if (pairCount.get(pair) !== count || count <= 0) continue; // stale entry
    const a = Math.floor(pair / PAIR_BASE);
    const b = pair % PAIR_BASE;
    // two merge paths can spell the same token ("a"+"bc", "ab"+"c"): it keeps its first id
    const text = vocab[a]! + vocab[b]!;
    let merged = idOfToken.get(text);
    if (merged === undefined) {
      merged = vocab.length;
      vocab.push(text);
      idOfToken.set(text, merged);
    }
    merges.push([vocab[a]!, vocab[b]!]);
    const touched = new Set<number>();
    for (const w of [...pairWords.get(pair)!].sort((x, y) => x - y)) {
      const s = symbols[w]!;
      const n = freq[w]!;
      for (let i = 0; i + 1 < s.length; i++) {
        const key = pairKey(s[i]!, s[i + 1]!);
        pairCount.set(key, pairCount.get(key)! - n);
        touched.add(key);
      }
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(merged);
          i++;
        } else out.push(s[i]!);
      }
      symbols[w] = out;
      for (let i = 0; i + 1 < out.length; i++) {
        const key = pairKey(out[i]!, out[i + 1]!);
        addPair(key, w, n);
        touched.add(key);
      }
    }
    pairWords.delete(pair);
    pairCount.delete(pair);
    for (const key of touched) {
      const n = pairCount.get(key);
      if (n !== undefined && n > 0) heap.push(n, key);
    }
  }
  return { vocab, merges };
}
