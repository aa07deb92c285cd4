/**
 * KTO in the trainer's terms (trainer.ts, `Objective`): one row per unpaired example, batches that mix desirable
 * and undesirable examples where the bucket allows, and the batch KL estimate of losses.ts (`ktoLoss`) from
 * mismatched rows (examples.ts, `mismatched`). The reference log-probs of the examples and of each batch's
 * mismatched rows are computed once per round (adapter off); the policy's log-probs of the mismatched rows are
 * computed before each run by a graph without gradients, as TRL computes them under no_grad.
 */
import * as ort from 'onnxruntime-node';
import { InputError } from '../inputError.ts';
import { type Batch, type BucketOptions, batchFeeds, bucketShape } from './batchRuns.ts';
import { type UnpairedExample, mismatched, packRows, unpairedLength } from './examples.ts';
import { KTO_METRIC_NAMES } from './losses.ts';
import type { Metrics, Objective, ObjectiveRuns } from './trainer.ts';
import { LOGIT_METRIC_NAMES, adaptedLogpsGraph, ktoGraph, referenceGraph } from './trainingGraph.ts';

/** KTO's reference point needs another example's completion in every batch. */
const MIN_BATCH = 2;

/** Throws one line when the round's examples or batch size cannot train KTO. */
export function checkUnpaired(examples: readonly UnpairedExample[], batch: number): void {
  if (batch < MIN_BATCH) throw new InputError(`--loss kto needs --batch ${MIN_BATCH} or more: its KL estimate pairs each prompt with another example's completion`);
  const desirable = examples.filter((e) => e.desirable).length;
  if (desirable === 0 || desirable === examples.length) {
    throw new InputError(`--loss kto needs desirable and undesirable examples; got ${desirable} desirable of ${examples.length}`);
  }
}

/** Alternates desirable and undesirable examples while both last, so that most batches hold both. */
function interleaved(indices: readonly number[], examples: readonly UnpairedExample[]): number[] {
  const [good, bad] = [indices.filter((i) => examples[i]!.desirable), indices.filter((i) => !examples[i]!.desirable)];
  return Array.from({ length: Math.max(good.length, bad.length) }, (_, k) => [good[k], bad[k]]).flat().filter((i) => i !== undefined);
}

/**
 * Batches of up to `pairsPerStep` examples of one bucket length; a batch left with one example joins the batch
 * before it (or after it), padded to the longer length of the two.
 */
export function unpairedBatches(examples: readonly UnpairedExample[], indices: readonly number[], options: BucketOptions): Batch[] {
  const buckets = new Map<number, number[]>();
  for (const i of indices) {
    const length = Math.min(options.maxLength, Math.ceil(unpairedLength(examples[i]!) / options.lengthStep) * options.lengthStep);
    buckets.set(length, [...(buckets.get(length) ?? []), i]);
  }
  const batches: Batch[] = [];
  for (const [length, members] of [...buckets].sort((a, b) => a[0] - b[0])) {
    const mixed = interleaved(members, examples);
    for (let k = 0; k < mixed.length; k += options.pairsPerStep) batches.push({ indices: mixed.slice(k, k + options.pairsPerStep), length });
  }
  for (let k = batches.length - 1; k >= 0 && batches.length > 1; k--) {
    const lone = batches[k]!;
    if (lone.indices.length >= MIN_BATCH) continue;
    const into = batches[k > 0 ? k - 1 : k + 1]!;
    into.indices.push(...lone.indices);
    into.length = Math.max(into.length, lone.length);
    batches.splice(k, 1);
  }
  if (batches.some((b) => b.indices.length < MIN_BATCH)) throw new InputError(`--loss kto: a batch of one example has no other completion for its KL estimate; give ${MIN_BATCH} examples or more`);
  return batches;
}

/** Where a side's metric counts: only over batches that hold that side (TRL logs nothing for a missing side). */
function sideOf(metric: keyof Metrics): 'chosen' | 'rejected' | 'both' | null {
  if (metric === 'rewards/margins') return 'both';
  if (metric.endsWith('/chosen')) return 'chosen';
  if (metric.endsWith('/rejected')) return 'rejected';
  return null;
}

export function ktoObjective(runs: ObjectiveRuns, examples: readonly UnpairedExample[]): Objective {
  const { config, weights, options, sessions, device } = runs;
  checkUnpaired(examples, options.pairsPerStep);
  const shapeOf = (b: Batch) => bucketShape(b, options, 1);
  const rowsOf = (b: Batch) => b.indices.map((i) => examples[i]!);
  const floats = (values: ArrayLike<number>) => new ort.Tensor('float32', Float32Array.from(values), [values.length]);
  /** The mismatched rows of a batch, and the bucket they fit. */
  const klBatch = (b: Batch) => {
    const rows = mismatched(rowsOf(b), options.maxLength);
    const longest = Math.max(...rows.map(unpairedLength));
    return { rows, batch: { indices: b.indices, length: Math.min(options.maxLength, Math.ceil(longest / options.lengthStep) * options.lengthStep) } };
  };
  const reference = new Float32Array(examples.length);
  const referenceKl = new Map<Batch, Float32Array>();
  const referenceRun = async (b: Batch, rows: readonly UnpairedExample[]) => {
    const session = await sessions.get('reference', b, () => referenceGraph(config, weights, shapeOf(b), options.loss));
    const out = await device.run(session, { ...device.baseFeeds, ...batchFeeds(packRows(rows, b.length, options.padId)) });
    return out.sequence_logps!.data as Float32Array;
  };
  const sides = (b: Batch) => ({ chosen: rowsOf(b).some((e) => e.desirable), rejected: rowsOf(b).some((e) => !e.desirable) });

  return {
    minBatch: MIN_BATCH,
    metrics: ['loss', ...KTO_METRIC_NAMES, ...LOGIT_METRIC_NAMES],
    batches: (indices) => unpairedBatches(examples, indices, options),
    async reference(batches) {
      for (const b of batches) {
        const logps = await referenceRun(b, rowsOf(b));
        b.indices.forEach((i, k) => (reference[i] = logps[k]!));
        const kl = klBatch(b);
        referenceKl.set(b, Float32Array.from(await referenceRun(kl.batch, kl.rows)));
      }
    },
    async feeds(b, params) {
      const kl = klBatch(b);
      const session = await sessions.get('kl', kl.batch, () => adaptedLogpsGraph(config, weights, shapeOf(kl.batch), options.lora));
      const out = await device.run(session, { ...device.baseFeeds, ...batchFeeds(packRows(kl.rows, kl.batch.length, options.padId)), ...Object.fromEntries(params) });
      const known = referenceKl.get(b);
      if (!known) throw new Error('training: a batch without reference log-probs of its mismatched rows');
      return {
        ...batchFeeds(packRows(rowsOf(b), b.length, options.padId)),
        desirable: floats(rowsOf(b).map((e) => (e.desirable ? 1 : 0))),
        reference_logps: floats(b.indices.map((i) => reference[i]!)),
        kl_logps: floats(out.sequence_logps!.data as Float32Array),
        reference_kl_logps: floats(known),
      };
    },
    graph: (b, optimizer, mode) => ktoGraph(config, weights, shapeOf(b), options.lora, options.loss, optimizer, mode),
    weight(metric, b) {
      const side = sideOf(metric);
      const has = sides(b);
      if (side === 'both') return has.chosen && has.rejected ? 1 : 0;
      return side === null || has[side] ? 1 : 0;
    },
  };
}
