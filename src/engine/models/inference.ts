/**
 * The inference graph: one graph serves prefill (seq = prompt length) and decode (seq = 1) for a batch of
 * sequences. The KV cache stays with the caller in preallocated slots: the graph reads it in place and
 * returns only this step's keys/values, so no step copies the cache. Inputs and outputs by name:
 *   input_ids         int64 [batch, seq]
 *   position_ids      int64 [batch, seq]             each token's position in its own sequence
 *   attention_bias    float [batch, seq, seq]        among these tokens: 0 = may attend, MASKED = not (causal, padding)
 *   past_bias         float [batch, seq, slots]      against the cache: MASKED for empty slots and padding
 *   past_key_<i>      float [batch, kvHeads, headDim, slots]   keys stored transposed (scores need no Transpose)
 *   past_value_<i>    float [batch, kvHeads, slots, headDim]   for each layer i
 * → logits            float [batch, vocab]                      next-token logits at the last position only
 *   new_key_<i>       float [batch, kvHeads, headDim, seq], new_value_<i> float [batch, kvHeads, seq, headDim]
 */
import type { ModelConfig, WeightSource } from '../hf/types.ts';
import { type DType, Graph } from '../graph/ir.ts';
import * as op from '../graph/ops.ts';
import { causalLM } from './families.ts';
import type { WeightStorage } from './weights.ts';

export const BATCH = 'batch';
export const SEQ = 'seq';
export const SLOTS = 'slots';

export function inferenceGraph(config: ModelConfig, weights: WeightSource, dtype: DType = 'float32', weightStorage: WeightStorage = 'fp32'): Graph {
  const g = new Graph(`${config.modelType}_inference`);
  const lm = causalLM(g, config, weights, dtype);
  const inputIds = g.input('input_ids', 'int64', [BATCH, SEQ]);
  const positions = g.input('position_ids', 'int64', [BATCH, SEQ]);
  const attentionBias = g.input('attention_bias', dtype, [BATCH, SEQ, SEQ]);
  const pastBias = g.input('past_bias', dtype, [BATCH, SEQ, SLOTS]);
  const layers = Array.from({ length: config.numLayers }, (_, i) => ({
    keysT: g.input(`past_key_${i}`, dtype, [BATCH, config.numKvHeads, config.headDim, SLOTS]),
    values: g.input(`past_value_${i}`, dtype, [BATCH, config.numKvHeads, SLOTS, config.headDim]),
  }));
  const { hidden, newKv } = lm.forward({ inputIds, positions, attentionBias, past: { layers, bias: pastBias }, groupProjections: true, weightStorage });
  // only the last position's logits are needed to sample: the LM head runs on one row per sequence
  const last = op.squeeze(op.slice(hidden, [-1], [Number.MAX_SAFE_INTEGER], [1]), [1]);
  g.output(lm.lmHead(last), 'logits');
  newKv.forEach((kv, i) => {
    g.output(op.transpose(kv.key, [0, 1, 3, 2]), `new_key_${i}`);
    g.output(kv.value, `new_value_${i}`);
  });
  return g;
}
