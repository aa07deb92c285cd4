/**
 * The inference graph: one graph serves prefill (seq = prompt length, past = 0) and decode (seq = 1) for a
 * batch of sequences. Inputs and outputs by name:
 *   input_ids       int64 [batch, seq]
 *   position_ids    int64 [batch, seq]            each token's position in its own sequence
 *   attention_bias  float [batch, seq, past+seq]  0 = may attend, MASKED = may not (causal + padding)
 *   past_key_<i>    float [batch, kvHeads, past, headDim], past_value_<i> likewise, for each layer i
 * → logits          float [batch, vocab]           next-token logits at the last position only
 *   present_key_<i> float [batch, kvHeads, past+seq, headDim], present_value_<i> likewise
 */
import type { ModelConfig, WeightSource } from '../hf/types.ts';
import { type DType, Graph } from '../graph/ir.ts';
import * as op from '../graph/ops.ts';
import { causalLM } from './index.ts';

export const BATCH = 'batch';
export const SEQ = 'seq';
export const PAST = 'past';

export function inferenceGraph(config: ModelConfig, weights: WeightSource, dtype: DType = 'float32'): Graph {
  const g = new Graph(`${config.modelType}_inference`);
  const lm = causalLM(g, config, weights, dtype);
  const inputIds = g.input('input_ids', 'int64', [BATCH, SEQ]);
  const positions = g.input('position_ids', 'int64', [BATCH, SEQ]);
  const attentionBias = g.input('attention_bias', dtype, [BATCH, SEQ, `${PAST}+${SEQ}`]);
  const past = Array.from({ length: config.numLayers }, (_, i) => ({
    key: g.input(`past_key_${i}`, dtype, [BATCH, config.numKvHeads, PAST, config.headDim]),
    value: g.input(`past_value_${i}`, dtype, [BATCH, config.numKvHeads, PAST, config.headDim]),
  }));
  const { hidden, present } = lm.forward({ inputIds, positions, attentionBias, past });
  // only the last position's logits are needed to sample: the LM head runs on one row per sequence
  const last = op.squeeze(op.slice(hidden, [-1], [Number.MAX_SAFE_INTEGER], [1]), [1]);
  g.output(lm.lmHead(last), 'logits');
  present.forEach((kv, i) => {
    g.output(kv.key, `present_key_${i}`);
    g.output(kv.value, `present_value_${i}`);
  });
  return g;
}
