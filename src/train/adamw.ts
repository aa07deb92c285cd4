/**
 * AdamW as torch.optim.AdamW computes it (decoupled weight decay, bias-corrected moments), after global-norm
 * gradient clipping as torch's clip_grad_norm_ does it, built into a graph: the one optimizer of DPO and of
 * pretraining. The optimizer state comes in as graph inputs and goes out as graph outputs, so a runtime can keep
 * it where the graph runs (on the GPU between steps) and the host only feeds the learning rate and the step.
 * DPO appends it to its step graph; pretraining runs it as a graph of its own over host arrays (`AdamW`).
 *
 * Names, for a trainable input `p`:
 *   inputs   learning_rate [], step [] (1-based), `p`.exp_avg, `p`.exp_avg_sq
 *   outputs  `p`.next, `p`.exp_avg.next, `p`.exp_avg_sq.next, grad_norm [] (before clipping)
 */
import type * as ort from 'onnxruntime-node';
import { Graph, type Value } from '../engine/graph/ir.ts';
import * as op from '../engine/graph/ops.ts';
import { less } from '../engine/graph/trainingOps.ts';
import { float32Feed, openGraphSession, scalarFeed, scalarOf } from './session.ts';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  /** Clip the global gradient norm to this; null: no clipping. */
  maxGradNorm: number | null;
}

/** DPO: torch.optim.AdamW's and TrainingArguments' defaults. */
export const ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, maxGradNorm: 1 };

/** Pretraining: GPT-style β2 0.95 and weight decay 0.1 on matrices. */
export const PRETRAIN_ADAMW_DEFAULTS: AdamWConfig = { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1, maxGradNorm: 1 };

export const optimizerStateNames = (param: string) => ({ expAvg: `${param}.exp_avg`, expAvgSq: `${param}.exp_avg_sq` });
export const nextName = (name: string) => `${name}.next`;

export interface AdamWStep {
  learningRate: Value;
  step: Value;
  gradNorm: Value;
}

const allAxes = (v: Value) => v.shape.map((_, i) => i);
const total = (v: Value) => (v.rank === 0 ? v : op.reduceSum(v, allAxes(v), false));

/**
 * Appends one AdamW step for `params` (graph inputs) given their gradients, and marks its outputs. Weight decay
 * applies to the parameters `decays` accepts (all by default, as torch does for one parameter group).
 */
export function adamwStep(
  graph: Graph,
  params: readonly Value[],
  grads: ReadonlyMap<Value, Value>,
  config: AdamWConfig = ADAMW_DEFAULTS,
  decays: (param: Value) => boolean = () => true,
): AdamWStep {
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
    graph.output(op.sub(decays(p) ? op.mul(p, decay) : p, update), nextName(p.name));
    graph.output(expAvg, nextName(names.expAvg));
    graph.output(expAvgSq, nextName(names.expAvgSq));
  }
  graph.output(gradNorm, 'grad_norm');
  return { learningRate, step, gradNorm };
}

export interface AdamWParameter {
  name: string;
  value: Float32Array;
  /** matrices decay; norm gains do not */
  decay: boolean;
}

export interface MomentState {
  m: Float32Array;
  v: Float32Array;
}

const gradientInput = (param: string) => `${param}.grad`;

/**
 * AdamW over Float32Array parameters held by the host (pretraining): the graph above with the gradients as
 * inputs, run on the CPU in a session of its own; the weights are updated in place.
 */
export class AdamW {
  readonly config: AdamWConfig;
  readonly moments = new Map<string, MomentState>();
  /** updates applied so far (bias correction uses it) */
  steps = 0;
  private readonly threads: number;
  private session: { key: string; run: ort.InferenceSession } | undefined;

  constructor(config: AdamWConfig = PRETRAIN_ADAMW_DEFAULTS, threads = 0) {
    this.config = config;
    this.threads = threads;
  }

  /** One update of every parameter from its gradient; returns the gradient norm before clipping. */
  async update(params: readonly AdamWParameter[], grads: ReadonlyMap<string, Float32Array>, lr: number): Promise<number> {
    const feeds: Record<string, ort.Tensor> = { learning_rate: scalarFeed(lr), step: scalarFeed(this.steps + 1) };
    for (const p of params) {
      const g = grads.get(p.name);
      if (!g || g.length !== p.value.length) throw new Error(`AdamW: gradient of ${p.name} has ${g?.length ?? 0} values, the weight ${p.value.length}`);
      const state = this.moments.get(p.name) ?? { m: new Float32Array(g.length), v: new Float32Array(g.length) };
      const names = optimizerStateNames(p.name);
      const shape = [p.value.length];
      Object.assign(feeds, { [p.name]: float32Feed(p.value, shape), [gradientInput(p.name)]: float32Feed(g, shape), [names.expAvg]: float32Feed(state.m, shape), [names.expAvgSq]: float32Feed(state.v, shape) });
    }
    const out = await (await this.sessionFor(params)).run(feeds);
    const norm = scalarOf(out.grad_norm);
    if (!Number.isFinite(norm)) throw new Error(`AdamW: gradient norm is ${norm}; the step is skipped and nothing is updated`);
    this.steps++;
    const next = (name: string) => out[nextName(name)]!.data as Float32Array;
    for (const p of params) {
      const names = optimizerStateNames(p.name);
      p.value.set(next(p.name));
      this.moments.set(p.name, { m: next(names.expAvg), v: next(names.expAvgSq) });
    }
    return norm;
  }

  async release(): Promise<void> {
    await this.session?.run.release();
    this.session = undefined;
  }

  /** The update graph's session for these parameters (built on the first update). */
  private async sessionFor(params: readonly AdamWParameter[]): Promise<ort.InferenceSession> {
    const key = params.map((p) => `${p.name}:${p.value.length}:${p.decay}`).join(',');
    if (this.session?.key === key) return this.session.run;
    await this.release();
    const g = new Graph('adamw');
    const values = params.map((p) => g.input(p.name, 'float32', [p.value.length]));
    const grads = new Map(values.map((v) => [v, g.input(gradientInput(v.name), 'float32', v.shape as number[])]));
    const decayed = new Set(values.filter((_, i) => params[i]!.decay));
    adamwStep(g, values, grads, this.config, (v) => decayed.has(v));
    this.session = { key, run: await openGraphSession(g, { device: 'cpu', threads: this.threads }) };
    return this.session.run;
  }
}
