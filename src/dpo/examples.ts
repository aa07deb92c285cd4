/**
 * Preference pairs as token ids, and batches of them in a (pairs, length) bucket. The prompt is built exactly
 * as the sampler builds it (FIM template when there is a suffix), and each completion is encoded on its own,
 * as the sampler's tokens followed the prompt.
 */
import { type PromptTokenizer, buildPrompt } from '../engine/sample/prompt.ts';

export interface PreferenceExample {
  prompt: number[];
  chosen: number[];
  rejected: number[];
}

export interface PairText {
  prefix: string;
  suffix: string;
  chosen: string;
  rejected: string;
}

/** A batch in the layout of trainingGraph.ts: chosen rows, then rejected rows, right-padded. */
export interface PackedBatch {
  pairs: number;
  length: number;
  inputIds: BigInt64Array;
  targets: BigInt64Array;
  completionMask: Float32Array;
}

/**
 * Tokenizes a pair within `maxLength` tokens per row: the prompt keeps its end (and the start of a suffix), the
 * completions keep their start. Completions get at least a quarter of the room.
 */
export function tokenizePair(tokenizer: PromptTokenizer, pair: PairText, maxLength: number): PreferenceExample {
  const chosen = tokenizer.encode(pair.chosen);
  const rejected = tokenizer.encode(pair.rejected);
  if (chosen.length === 0 || rejected.length === 0) throw new Error('pair: a completion has no tokens');
  const completionRoom = Math.min(Math.max(chosen.length, rejected.length), Math.max(1, Math.floor(maxLength * 0.75)));
  const prompt = buildPrompt(tokenizer, pair.prefix, pair.suffix, { maxTokens: Math.max(1, maxLength - completionRoom), suffixShare: 0.25 }).ids;
  const room = maxLength - prompt.length;
  if (room < 1) throw new Error(`pair: the prompt alone fills ${maxLength} tokens`);
  return { prompt, chosen: chosen.slice(0, room), rejected: rejected.slice(0, room) };
}

export function exampleLength(e: PreferenceExample): number {
  return e.prompt.length + Math.max(e.chosen.length, e.rejected.length);
}

/** The bucket length of an example: its longer row rounded up to a multiple of `step`, at most `maxLength`. */
export function bucketLength(e: PreferenceExample, step: number, maxLength: number): number {
  return Math.min(maxLength, Math.ceil(exampleLength(e) / step) * step);
}

export function packBatch(examples: readonly PreferenceExample[], length: number, padId: number): PackedBatch {
  const P = examples.length;
  const rows = [...examples.map((e) => [e.prompt, e.chosen] as const), ...examples.map((e) => [e.prompt, e.rejected] as const)];
  const inputIds = new BigInt64Array(2 * P * length).fill(BigInt(padId));
  const targets = new BigInt64Array(2 * P * length).fill(BigInt(padId));
  const completionMask = new Float32Array(2 * P * length);
  rows.forEach(([prompt, completion], r) => {
    const tokens = [...prompt, ...completion];
    if (tokens.length > length) throw new Error(`batch: a row of ${tokens.length} tokens does not fit length ${length}`);
    const base = r * length;
    tokens.forEach((t, i) => {
      inputIds[base + i] = BigInt(t);
      // position i predicts token i+1; it counts when that token is a completion token
      if (i + 1 < tokens.length) targets[base + i] = BigInt(tokens[i + 1]!);
      if (i + 1 >= prompt.length && i + 1 < tokens.length) completionMask[base + i] = 1;
    });
  });
  return { pairs: P, length, inputIds, targets, completionMask };
}
