/** Synthetic preference batches for the DPO tests, as graph feeds of src/dpo/trainingGraph.ts. */
import type { CheckInput } from '../autodiff/gradcheck.ts';

export interface PreferenceBatch {
  pairs: number;
  length: number;
  /** [2·pairs, length]: chosen rows, then rejected rows. */
  ids: number[];
  /** 1 where the next token belongs to the completion. */
  completionMask: number[];
  referenceChosen: number[];
  referenceRejected: number[];
}

/** The step/eval graph's data inputs (reference log-probs included unless `withReference` is false). */
export function batchFeeds(batch: PreferenceBatch, withReference = true): Record<string, CheckInput> {
  const { pairs: P, length: T } = batch;
  const rows = 2 * P;
  const feeds: Record<string, CheckInput> = {
    input_ids: { shape: [rows, T], data: batch.ids.map(BigInt), dtype: 'int64' },
    // next-token targets: position t predicts token t+1 (the last position's target is masked out)
    targets: { shape: [rows * T], data: batch.ids.map((_, i) => BigInt(i % T === T - 1 ? 0 : batch.ids[i + 1]!)), dtype: 'int64' },
    completion_mask: { shape: [rows, T], data: batch.completionMask },
  };
  if (withReference) {
    feeds.reference_chosen_logps = { shape: [P], data: batch.referenceChosen };
    feeds.reference_rejected_logps = { shape: [P], data: batch.referenceRejected };
  }
  return feeds;
}

/** A deterministic batch: prompt tokens shared by a pair, completions differing. */
export function syntheticBatch(vocab: number, pairs: number, length: number, promptLength: number, seed: number): PreferenceBatch {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s);
  const ids: number[] = [];
  const prompts = Array.from({ length: pairs }, () => Array.from({ length: promptLength }, () => next() % vocab));
  for (let side = 0; side < 2; side++) {
    for (let p = 0; p < pairs; p++) for (let t = 0; t < length; t++) ids.push(t < promptLength ? prompts[p]![t]! : next() % vocab);
  }
  const completionMask = Array.from({ length: 2 * pairs * length }, (_, i) => (i % length >= promptLength - 1 && i % length < length - 1 ? 1 : 0));
  const reference = () => Array.from({ length: pairs }, () => -(length - promptLength) * Math.log(vocab) + ((next() % 1000) / 1000 - 0.5));
  return { pairs, length, ids, completionMask, referenceChosen: reference(), referenceRejected: reference() };
}
