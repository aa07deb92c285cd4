/**
 * A whole DPO loss graph for the tests: a family's forward over chosen and rejected rows with LoRA on its
 * linears, the LM head, fused token log-probs, masked sequence sums, and a DPO loss against fixed reference
 * log-probs. Token data are constants; only the LoRA matrices are graph inputs.
 */
import type { ModelConfig, WeightSource } from '../../../src/engine/hf/types.ts';
import { Graph, type Value } from '../../../src/engine/graph/ir.ts';
import * as op from '../../../src/engine/graph/ops.ts';
import { MASKED } from '../../../src/engine/models/family.ts';
import { causalLM } from '../../../src/engine/models/index.ts';
import { type DpoLossConfig, dpoLoss, sequenceLogps, usesAverageLogps } from '../../../src/dpo/losses.ts';
import { LoraAdapter, type LoraConfig } from '../../../src/dpo/lora.ts';

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

export function buildDpoGraph(config: ModelConfig, weights: WeightSource, dtype: 'float32' | 'float64', lora: LoraConfig, loss: DpoLossConfig, batch: PreferenceBatch) {
  const { pairs: P, length: T } = batch;
  const N = 2 * P;
  const g = new Graph('dpo_test');
  const lm = causalLM(g, config, weights, dtype);
  const adapter = new LoraAdapter(g, lora, dtype);
  const Arr = dtype === 'float64' ? Float64Array : Float32Array;
  const ints = (data: number[], shape: number[]) => g.constant({ dtype: 'int64', shape, data: BigInt64Array.from(data, BigInt) });
  const floats = (data: number[], shape: number[]) => g.constant({ dtype, shape, data: Arr.from(data) });

  const inputIds = ints(batch.ids, [N, T]);
  // next-token targets: position t predicts token t+1 (the last position's target is masked out)
  const targets = ints(Array.from({ length: N * T }, (_, i) => (i % T === T - 1 ? 0 : batch.ids[i + 1]!)), [N, T]);
  const positions = ints(Array.from({ length: N * T }, (_, i) => i % T), [N, T]);
  const causal = Array.from({ length: N * T * T }, (_, i) => (i % T > Math.floor(i / T) % T ? MASKED : 0));
  const { hidden } = lm.forward({ inputIds, positions, attentionBias: floats(causal, [N, T, T]), linearHook: adapter.hook });
  adapter.assertTargetsMatched();

  const tokenLogps = op.tokenLogProbs(lm.lmHead(hidden), targets);
  const sequences = sequenceLogps(tokenLogps, floats(batch.completionMask, [N, T]), usesAverageLogps(loss.type));
  const rows = (from: number): Value => op.slice(sequences, [from], [from + P], [0]);
  const result = dpoLoss(
    { policyChosen: rows(0), policyRejected: rows(P), referenceChosen: floats(batch.referenceChosen, [P]), referenceRejected: floats(batch.referenceRejected, [P]) },
    loss,
  );
  return { graph: g, adapter, ...result };
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
