/**
 * The pretraining graph: mean next-token negative log-likelihood over a [batch, seq] block of tokens, and
 * (optionally) its gradient with respect to EVERY model weight. Weights are the family's weight initializers,
 * written as graph inputs (placement 'inputs'), so the trainer feeds the current values each step and reads
 * one gradient output per weight. Inputs / outputs by name:
 *   input_ids  int64 [batch, seq]
 *   targets    int64 [batch·seq]   the token after each input token
 *   <weight>   float, graph layout (linears [in, out], as GraphWeights stores them)
 * → loss       float [1]           mean NLL in nats/token
 *   grad.<weight>                  same shape as the weight
 */
import type { ModelConfig, WeightSource } from '../engine/hf/types.ts';
import { Graph, type Value } from '../engine/graph/ir.ts';
import * as op from '../engine/graph/ops.ts';
import { gradients } from '../engine/graph/autodiff.ts';
import { MASKED } from '../engine/models/family.ts';
import { causalLM, expectedWeights, familyOf } from '../engine/models/families.ts';

export interface LossGraphOptions {
  batch: number;
  seq: number;
  /** emit gradients of the loss wrt all weights */
  withGradients: boolean;
  /** LM-head row blocks: bounds the [rows, vocab] logits alive at once */
  headChunks?: number;
}

export interface TrainableWeight {
  /** HF tensor name; also the graph input's name */
  name: string;
  /** shape in the graph (linears transposed to [in, out]) */
  shape: number[];
  /** stored transposed relative to the HF checkpoint */
  transposed: boolean;
  initial: Float32Array;
}

export interface LossGraph {
  graph: Graph;
  weights: TrainableWeight[];
}

export const gradientName = (weight: string) => `grad.${weight}`;

/** llama-family nn.Linear weights: GraphWeights stores them [in, out]. */
export const isLinearWeight = (name: string) => /_proj\.weight$/.test(name) || name === 'lm_head.weight';

export function lossGraph(config: ModelConfig, source: WeightSource, options: LossGraphOptions): LossGraph {
  if (!familyOf(config).pretraining) throw new Error(`pretraining: only the llama family is supported, got ${config.family}`);
  const { batch: B, seq: T } = options;
  if (T > config.maxPositions) throw new Error(`pretraining: sequence length ${T} exceeds max_position_embeddings ${config.maxPositions}`);
  const g = new Graph(options.withGradients ? 'pretrain_step' : 'pretrain_loss');
  const lm = causalLM(g, config, source, 'float32');
  const inputIds = g.input('input_ids', 'int64', [B, T]);
  const targets = g.input('targets', 'int64', [B * T]);
  const positions = g.constant({ dtype: 'int64', shape: [B, T], data: BigInt64Array.from({ length: B * T }, (_, i) => BigInt(i % T)) }, 'positions');
  // packed sequences: one causal block per row (documents inside a row see their predecessors, as in GPT pretraining)
  const causal = Float32Array.from({ length: T * T }, (_, i) => (i % T > Math.floor(i / T) ? MASKED : 0));
  const attentionBias = op.expand(g.constant({ dtype: 'float32', shape: [1, T, T], data: causal }, 'causal_bias'), [B, T, T]);
  const { hidden } = lm.forward({ inputIds, positions, attentionBias });
  const head = headWeight(g, config);
  const logps = op.headTokenLogProbs(op.reshape(hidden, [B * T, config.hiddenSize]), head, targets, options.headChunks ?? 1);
  const loss = op.neg(op.reduceMean(logps, [0], true));
  g.output(loss, 'loss');

  const weights: TrainableWeight[] = [];
  const hfNames = expectedWeights(config);
  for (const [value, init] of g.initializers) {
    if (!init.weight) continue;
    // checkpoints are saved under these names: a fused or renamed weight would not load as an HF checkpoint
    if (!hfNames.has(value.name)) throw new Error(`pretraining: graph weight ${value.name} is not an HF tensor of this config (fused projections?)`);
    if (init.tensor.dtype !== 'float32') throw new Error(`pretraining: weight ${value.name} is ${init.tensor.dtype}, float32 expected`);
    weights.push({ name: value.name, shape: init.tensor.shape, transposed: isLinearWeight(value.name), initial: init.tensor.data as Float32Array });
  }
  if (options.withGradients) {
    const values = weights.map((w) => g.find(w.name)!);
    const grads = gradients(g, loss, values);
    values.forEach((v) => g.output(grads.get(v)!, gradientName(v.name)));
  }
  return { graph: g, weights };
}

/** The tied LM head is the embedding table, already in the graph after the forward pass. */
function headWeight(g: Graph, config: ModelConfig): Value {
  if (!config.tieWordEmbeddings) throw new Error('pretraining: only tied word embeddings are supported');
  const head = g.find('model.embed_tokens.weight');
  if (!head) throw new Error('pretraining: the model has no model.embed_tokens.weight');
  return head;
}
