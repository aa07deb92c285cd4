/**
 * Training batches from a tokenized corpus (uint16 ids, documents separated by <|endoftext|>): each row is
 * packed from random document chunks, and each chunk becomes a fill-in-the-middle example with probability
 * `fimRate`, in PSM order as Qwen2.5-Coder writes it:
 *   <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|> middle <|endoftext|>
 * A share `lineFimRate` of the FIM examples cut whole lines instead of two random points: the middle runs
 * from just after a newline-carrying token to just after another, 1 to `fimMaxLines` (default 8) lines later, which is what a completion
 * at a statement boundary looks like (a few lines, then <|endoftext|>).
 * The draws of batch k depend only on (seed, k), so a resumed run sees exactly the batches it would have.
 */
import { readFileSync } from 'node:fs';

export interface FimIds {
  prefix: number;
  suffix: number;
  middle: number;
  endOfText: number;
  /** <|fim_pad|>: the config's pad token (never trained on) */
  pad: number;
  /** by token id: 1 where the token's text contains a newline (needed for line-aligned FIM) */
  lineEnds?: Uint8Array;
}

export interface TokenCorpus {
  tokens: Uint16Array;
  /** [start, end) of each document, its <|endoftext|> excluded */
  documents: [number, number][];
}

export function readTokenCorpus(path: string, endOfText: number): TokenCorpus {
  const bytes = readFileSync(path);
  if (bytes.byteLength % 2 !== 0) throw new Error(`${path}: odd byte length ${bytes.byteLength}, not uint16 token ids`);
  const tokens = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  return { tokens, documents: documentsOf(tokens, endOfText) };
}

export function documentsOf(tokens: Uint16Array, endOfText: number): [number, number][] {
  const documents: [number, number][] = [];
  let start = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] !== endOfText) continue;
    if (i > start) documents.push([start, i]);
    start = i + 1;
  }
  if (start < tokens.length) documents.push([start, tokens.length]);
  return documents;
}

/** A seeded 32-bit generator (mulberry32) giving uniform floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BatchSettings {
  batch: number;
  seq: number;
  /** share of chunks written as FIM examples */
  fimRate: number;
  /** share of FIM examples whose middle is whole lines (default 0) */
  lineFimRate?: number;
  /** longest whole-line middle, in lines (default 8) */
  fimMaxLines?: number;
  /** share of row pieces that are whole prepared examples (e.g. statement middles), when examples are given */
  exampleRate?: number;
  seed: number;
}

export interface Batch {
  /** [batch·seq] */
  inputIds: BigInt64Array;
  /** [batch·seq]: the next token of each input */
  targets: BigInt64Array;
}

/** A FIM example of a chunk: prefix / middle / suffix cut at two uniform points, written PSM. */
export function fimExample(chunk: ArrayLike<number>, random: () => number, ids: FimIds, wholeLines = false, maxLines = 8): number[] {
  const n = chunk.length;
  let i = Math.floor(random() * (n + 1));
  let j = Math.floor(random() * (n + 1));
  if (i > j) [i, j] = [j, i];
  if (wholeLines && ids.lineEnds) {
    // cut points just after newline-carrying tokens (indentation included), and the chunk's end
    const cuts: number[] = [0];
    for (let k = 0; k < n; k++) if (ids.lineEnds[chunk[k]!] === 1) cuts.push(k + 1);
    if (cuts[cuts.length - 1] !== n) cuts.push(n);
    if (cuts.length >= 2) {
      const a = Math.floor(random() * (cuts.length - 1));
      const lines = 1 + Math.floor(random() * maxLines);
      i = cuts[a]!;
      j = cuts[Math.min(a + lines, cuts.length - 1)]!;
    }
  }
  const part = (a: number, b: number) => Array.from({ length: b - a }, (_, k) => chunk[a + k]!);
  return [ids.prefix, ...part(0, i), ids.suffix, ...part(j, n), ids.middle, ...part(i, j), ids.endOfText];
}

/**
 * Batch `index` of a run: rows of seq+1 tokens packed from random chunks (inputs = row[:-1], targets = row[1:]).
 * With `examples` (prepared examples, each ending in <|endoftext|>), a share `exampleRate` of the pieces is a
 * whole example instead of a chunk.
 */
export function makeBatch(corpus: TokenCorpus, settings: BatchSettings, index: number, ids: FimIds, examples?: TokenCorpus): Batch {
  const { batch: B, seq: T, fimRate } = settings;
  if (corpus.documents.length === 0) throw new Error('training corpus: no documents');
  const exampleRate = examples && examples.documents.length > 0 ? (settings.exampleRate ?? 0) : 0;
  const random = mulberry32((Math.imul(settings.seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  const inputIds = new BigInt64Array(B * T);
  const targets = new BigInt64Array(B * T);
  for (let b = 0; b < B; b++) {
    const row: number[] = [];
    while (row.length < T + 1) {
      if (exampleRate > 0 && random() < exampleRate) {
        const [start, end] = examples!.documents[Math.floor(random() * examples!.documents.length)]!;
        row.push(...examples!.tokens.subarray(start, end), ids.endOfText);
        continue;
      }
      const [start, end] = corpus.documents[Math.floor(random() * corpus.documents.length)]!;
      // a chunk short enough that FIM markers and a following document still fit often
      const length = Math.min(end - start, T);
      const offset = start + Math.floor(random() * (end - start - length + 1));
      const chunk = corpus.tokens.subarray(offset, offset + length);
      if (random() < fimRate) row.push(...fimExample(chunk, random, ids, random() < (settings.lineFimRate ?? 0), settings.fimMaxLines));
      else row.push(...chunk, ids.endOfText);
    }
    for (let t = 0; t < T; t++) {
      inputIds[b * T + t] = BigInt(row[t]!);
      targets[b * T + t] = BigInt(row[t + 1]!);
    }
  }
  return { inputIds, targets };
}

/** Consecutive non-overlapping windows of the held-out stream, for a deterministic evaluation loss. */
export function evaluationBatches(corpus: TokenCorpus, batch: number, seq: number, maxBatches: number): Batch[] {
  const out: Batch[] = [];
  const stride = seq + 1;
  const rows = Math.floor(corpus.tokens.length / stride);
  for (let k = 0; k < maxBatches && (k + 1) * batch <= rows; k++) {
    const inputIds = new BigInt64Array(batch * seq);
    const targets = new BigInt64Array(batch * seq);
    for (let b = 0; b < batch; b++) {
      const at = (k * batch + b) * stride;
      for (let t = 0; t < seq; t++) {
        inputIds[b * seq + t] = BigInt(corpus.tokens[at + t]!);
        targets[b * seq + t] = BigInt(corpus.tokens[at + t + 1]!);
      }
    }
    out.push({ inputIds, targets });
  }
  return out;
}
