/**
 * AdamW inside the training graph, as torch.optim.AdamW computes it (decoupled weight decay, bias-corrected
 * moments), after global-norm gradient clipping as Hugging Face's Trainer does it. The optimizer state comes
 * in as graph inputs and goes out as graph outputs, so a runtime can keep it where the graph runs (on the GPU
 * between steps) and the host only feeds the learning rate and the step number.
 *
 * Names, for a trainable input `p`:
 *   inputs   learning_rate [], step [] (1-based), `p`.exp_avg, `p`.exp_avg_sq
 *   outputs  `p`.next, `p`.exp_avg.next, `p`.exp_avg_sq.next, grad_norm [] (before clipping)
 */
import type { Graph, Value } from '../engine/graph/ir.ts';
import * as op from '../engine/graph/ops.ts';
import { less } from '../engine/graph/trainingOps.ts';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  /** Clip the global gradient norm to this; null: no clipping. */
  maxGradNorm: number | null;
}

/** torch.optim.AdamW's and TrainingArguments' defaults. */
export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, maxGradNorm: 1 };

export const optimizerStateNames = (param: string) => ({ expAvg: `${param}.exp_avg`, expAvgSq: `${param}.exp_avg_sq` });
export const nextName = (name: string) => `${name}.next`;

export interface AdamWStep {
  learningRate: Value;
  step: Value;
  gradNorm: Value;
}

const allAxes = (v: Value) => v.shape.map((_, i) => i);
const total = (v: Value) => (v.rank === 0 ? v : op.reduceSum(v, allAxes(v), false));

/** Appends one AdamW step for `params` (graph inputs) given their gradients, and marks its outputs. */
export function adamwStep(graph: Graph, params: readonly Value[], grads: ReadonlyMap<Value, Value>, config: AdamWConfig = ADAMW_DEFAULTS): AdamWStep {
  if (params.length === 0) throw new Error('optimizer: no trainable parameters');
  const dtype = params[0]!.dtype;
  const learningRate = graph.input('learning_rate', dtype, []);
  const step = graph.input('step', dtype, []);
  const gradOf = (p: Value) => {
    const g = grads.get(p);
    if (!g) throw new Error(`optimizer: no gradient for ${p.name}`);
    return g;
  };

  const gradNorm = op.sqrt(params.map((p) => total(op.mul(gradOf(p), gradOf(p)))).reduce((a, b) => op.add(a, b)));
  let clip: Value | null = null;
  if (config.maxGradNorm !== null) {
    // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1
    const coefficient = op.div(graph.scalar(config.maxGradNorm, dtype), op.add(gradNorm, 1e-6));
    clip = op.where(less(coefficient, 1), coefficient, graph.scalar(1, dtype));
  }

  // bias corrections 1 − β^t
  const correction = (beta: number) => op.sub(graph.scalar(1, dtype), op.pow(graph.scalar(beta, dtype), step));
  const [correction1, correction2] = [correction(config.beta1), correction(config.beta2)];
  const decay = op.sub(graph.scalar(1, dtype), op.mul(learningRate, config.weightDecay));

  for (const p of params) {
    const names = optimizerStateNames(p.name);
    const g = clip ? op.mul(gradOf(p), clip) : gradOf(p);
    const expAvg = op.add(op.mul(graph.input(names.expAvg, dtype, p.shape), config.beta1), op.mul(g, 1 - config.beta1));
    const expAvgSq = op.add(op.mul(graph.input(names.expAvgSq, dtype, p.shape), config.beta2), op.mul(op.mul(g, g), 1 - config.beta2));
    const denominator = op.add(op.sqrt(op.div(expAvgSq, correction2)), config.epsilon);
    const update = op.div(op.div(op.mul(expAvg, learningRate), correction1), denominator);
    graph.output(op.sub(op.mul(p, decay), update), nextName(p.name));
    graph.output(expAvg, nextName(names.expAvg));
    graph.output(expAvgSq, nextName(names.expAvgSq));
  }
  graph.output(gradNorm, 'grad_norm');
  return { learningRate, step, gradNorm };
}
