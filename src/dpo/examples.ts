/**
 * Preference pairs (and KTO's unpaired examples, below) as token ids, and batches of them in a (pairs, length)
 * bucket. The prompt is built exactly as the sampler builds it (FIM template when there is a suffix), and each
 * completion is encoded on its own, as the sampler's tokens followed the prompt.
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
  /** Pairs (two rows each), or for KTO's `packRows` examples (one row each). */
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
  const rows = [...examples.map((e) => [e.prompt, e.chosen] as const), ...examples.map((e) => [e.prompt, e.rejected] as const)];
  return { pairs: examples.length, length, ...packSequences(rows, length, padId) };
}

/** Rows of prompt then completion, right-padded to `length`, with next-token targets and the completion mask. */
function packSequences(rows: readonly (readonly [readonly number[], readonly number[]])[], length: number, padId: number) {
  const inputIds = new BigInt64Array(rows.length * length).fill(BigInt(padId));
  const targets = new BigInt64Array(rows.length * length).fill(BigInt(padId));
  const completionMask = new Float32Array(rows.length * length);
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
  return { inputIds, targets, completionMask };
}

/**
 * KTO's data: one completion with a label, desirable or not. A stored pair gives two (`unpairedFromPair`), and
 * feedback recorded on a single completion gives one.
 */
export interface FeedbackText {
  prefix: string;
  suffix: string;
  completion: string;
  desirable: boolean;
}

export interface UnpairedExample {
  prompt: number[];
  completion: number[];
  desirable: boolean;
}

/** A pair as KTO sees it: its chosen completion desirable, its rejected one undesirable. */
export function unpairedFromPair(pair: PairText): FeedbackText[] {
  const { prefix, suffix } = pair;
  return [
    { prefix, suffix, completion: pair.chosen, desirable: true },
    { prefix, suffix, completion: pair.rejected, desirable: false },
  ];
}

/** Tokenizes an unpaired example as `tokenizePair` does a pair. */
export function tokenizeFeedback(tokenizer: PromptTokenizer, feedback: FeedbackText, maxLength: number): UnpairedExample {
  const { prompt, chosen } = tokenizePair(tokenizer, { ...feedback, chosen: feedback.completion, rejected: feedback.completion }, maxLength);
  return { prompt, completion: chosen, desirable: feedback.desirable };
}

export const unpairedLength = (e: UnpairedExample): number => e.prompt.length + e.completion.length;

/**
 * The mismatched examples of KTO's KL estimate, as TRL builds them: within a batch, each prompt takes the
 * completion of the example before it (the first takes the last's), cut to `maxLength` tokens.
 */
export function mismatched(batch: readonly UnpairedExample[], maxLength: number): UnpairedExample[] {
  return batch.map((e, i) => {
    const other = batch[(i + batch.length - 1) % batch.length]!;
    return { prompt: e.prompt, completion: other.completion.slice(0, Math.max(1, maxLength - e.prompt.length)), desirable: e.desirable };
  });
}

/** Unpaired examples as rows in the layout of trainingGraph.ts's KTO graphs: one row each, right-padded. */
export function packRows(examples: readonly UnpairedExample[], length: number, padId: number): PackedBatch {
  return { pairs: examples.length, length, ...packSequences(examples.map((e) => [e.prompt, e.completion] as const), length, padId) };
}
