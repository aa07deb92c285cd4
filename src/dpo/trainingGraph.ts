/**
 * The DPO graphs for one (pairs, length) bucket, built on a model family:
 *   reference  sequence log-probs with the adapter off (computed once per pair and cached by the trainer)
 *   step       policy log-probs with LoRA → DPO loss → gradients wrt LoRA only → AdamW update
 *   eval       the same loss and metrics without gradients
 * Rows are laid out chosen first, then rejected: row i and row pairs+i are one pair. Sequences are right-padded;
 * the causal mask alone keeps real tokens from seeing padding, and the completion mask drops padded targets.
 * Inputs by name:
 *   input_ids        int64 [rows, length]
 *   targets          int64 [rows·length]     the token after each input token
 *   completion_mask  float [rows, length]    1 where that target is a completion token
 *   reference_chosen_logps / reference_rejected_logps  float [pairs]  (step and eval)
 *   running_reward_mean  float []  BCO's δ, only for losses that use it (losses.ts)
 *   LoRA A/B by PEFT name; optimizer inputs (train/adamw.ts) for the step graph
 *   with gradient accumulation: `p`.grad_accum (the sum of earlier micro-batches' gradients) and
 *   accumulated_batches [] (how many micro-batches this optimizer step averages, this one included)
 * KTO's graphs (`ktoGraph`) take one row per example instead, with reference_logps, desirable, kl_logps and
 * reference_kl_logps [rows] (losses.ts, `ktoLoss`); `adaptedLogpsGraph` gives kl_logps: the adapter on, no gradients.
 * Outputs: sequence_logps (reference); loss and TRL's metric names, logits/chosen and logits/rejected included
 * (step, eval); next values (step);
 * `p`.grad_accum.next (accumulate).
 */
import type { ModelConfig, WeightSource } from '../engine/hf/types.ts';
import { InputError } from '../inputError.ts';
import type { WeightStorage } from '../engine/models/weights.ts';
import { type DType, Graph, type Value } from '../engine/graph/ir.ts';
import * as op from '../engine/graph/ops.ts';
import { gradients } from '../engine/graph/autodiff.ts';
import { gradientRules } from '../engine/graph/gradients.ts';
import { type LinearHook, type LinearSite, MASKED } from '../engine/models/family.ts';
import { causalLM } from '../engine/models/families.ts';
import { type DpoLossConfig, completionMean, dpoLoss, ktoLoss, maskedMean, sequenceLogps, usesAverageLogps, usesChosenNll, usesRunningRewardMean } from './losses.ts';
import { LoraAdapter, type LoraConfig } from './lora.ts';
import { type AdamWConfig, adamwStep, nextName } from '../train/adamw.ts';

/** What a step's backward pass computes again instead of keeping (`prefer train --recompute`; TrainOptions). */
export const RECOMPUTE_MODES = ['products', 'layers'] as const;
export type RecomputeMode = (typeof RECOMPUTE_MODES)[number];

export interface BucketShape {
  /** Rows of the reference graph; pairs (= rows / 2) of the step and eval graphs. */
  rows: number;
  length: number;
  dtype?: 'float32' | 'float64';
  /** LM-head vocabulary blocks: how many [rows·length, vocab / headChunks] logits (and head rows) are alive at once. */
  headChunks?: number;
  /**
   * Recompute each decoder layer's forward in the backward pass instead of keeping its activations
   * (default on): the step holds one layer's activations at a time, not every layer's.
   */
  recompute?: boolean;
  /**
   * With recompute: keep each layer's products with base weights (q/k/v/o, gate/up: most of its FLOPs, a
   * few [tokens, features] tensors) and its attention context, and recompute only what lies between them
   * (default on). Off: the least memory, a second forward pass of FLOPs.
   */
  keepProducts?: boolean;
  /** How the frozen base's linears are stored (default fp32): int8/int4 blocks are dequantized a layer at a time. */
  baseWeights?: WeightStorage;
}

interface PolicyLogps {
  sequences: Value;
  /** [rows, T] log p(target), and the completion mask it is summed under. */
  tokenLogps: Value;
  completionMask: Value;
  /** [rows, T] the mean logit over the vocabulary at each position (built on first call: only metrics read it). */
  logitMeans: () => Value;
  layerBoundaries: Value[];
}

/** Sequence log-probs of the rows, adapter on when `hook` is given. */
function policySequenceLogps(g: Graph, config: ModelConfig, weights: WeightSource, shape: BucketShape, average: boolean, hook?: LinearHook): PolicyLogps {
  const { rows: R, length: T } = shape;
  const dtype: DType = shape.dtype ?? 'float32';
  if (T > config.maxPositions) throw new Error(`training: length ${T} exceeds max_position_embeddings ${config.maxPositions}`);
  const lm = causalLM(g, config, weights, dtype);
  const inputIds = g.input('input_ids', 'int64', [R, T]);
  const targets = g.input('targets', 'int64', [R * T]);
  const completionMask = g.input('completion_mask', dtype, [R, T]);
  const positions = g.constant({ dtype: 'int64', shape: [R, T], data: BigInt64Array.from({ length: R * T }, (_, i) => BigInt(i % T)) }, 'positions');
  const causalData = dtype === 'float64' ? new Float64Array(T * T) : new Float32Array(T * T);
  for (let i = 0; i < T * T; i++) causalData[i] = i % T > Math.floor(i / T) ? MASKED : 0;
  const causal = g.constant({ dtype, shape: [1, T, T], data: causalData }, 'causal_bias');
  const weightStorage = shape.baseWeights ?? 'fp32';
  const { hidden, layerBoundaries } = lm.forward({ inputIds, positions, attentionBias: op.expand(causal, [R, T, T]), linearHook: hook, linearsAsStored: true, weightStorage });
  // a family that reads its linears through inference products (GPT-2's Conv1D) has no dequantized path to train through
  if (g.nodes.some((n) => n.opType === 'MatMulBlocks')) throw new InputError(`training over an ${weightStorage} base is not supported for ${config.architecture}: use --weights fp32`);
  const flat = op.reshape(hidden, [R * T, config.hiddenSize]);
  // the head's log-probs a vocabulary block at a time: never [tokens, vocab] logits at once
  const head = lm.frozenHead();
  const [logps] = op.frozenHeadTokenLogProbs(flat, targets, head.head(shape.headChunks ?? 1));
  const tokenLogps = op.reshape(logps, [R, T]);
  // the mean logit is hidden · (the table's mean row): no [tokens, vocab] logits for a metric
  const logitMeans = () => op.reshape(op.matmul(flat, op.reshape(head.meanRow(), [config.hiddenSize, 1])), [R, T]);
  return { sequences: sequenceLogps(tokenLogps, completionMask, average), tokenLogps, completionMask, logitMeans, layerBoundaries };
}

export function referenceGraph(config: ModelConfig, weights: WeightSource, shape: BucketShape, loss: DpoLossConfig): Graph {
  const g = new Graph('dpo_reference');
  g.output(policySequenceLogps(g, config, weights, shape, usesAverageLogps(loss)).sequences, 'sequence_logps');
  return g;
}

/**
 * The linears `lora` adapts on this model, from a one-token forward pass over a graph that is never run.
 * `baseWeights` should be the storage the round trains over: int8/int4 weights are quantized once per weight
 * source and shared with the round's graphs, where reading them as fp32 would convert a quantized file's whole
 * model to floats (6.2 GB at 1.5B) for nothing. Throws on a LoRA config or a target the model lacks.
 */
export function adaptedLinears(config: ModelConfig, weights: WeightSource, lora: LoraConfig, baseWeights?: WeightStorage): LinearSite[] {
  const g = new Graph('lora_sites');
  const adapter = new LoraAdapter(g, lora, 'float32');
  policySequenceLogps(g, config, weights, { rows: 2, length: 1, ...(baseWeights ? { baseWeights } : {}) }, false, adapter.hook);
  adapter.assertTargetsMatched();
  return adapter.layers.map((l) => l.site);
}

/** The graph input of BCO's δ, fed by the trainer (losses.ts says how it is kept). */
export const RUNNING_REWARD_MEAN = 'running_reward_mean';

/** TRL's logits/* metrics: the policy's mean logit (over the vocabulary) over the completion tokens of each side. */
export const LOGIT_METRIC_NAMES = ['logits/chosen', 'logits/rejected'] as const;
export type LogitMetricName = (typeof LOGIT_METRIC_NAMES)[number];

export interface DpoGraph {
  graph: Graph;
  adapter: LoraAdapter;
  loss: Value;
}

/**
 * Gradient accumulation: 'accumulate' adds this micro-batch's gradients to the running sums (no update);
 * 'apply' averages the sums with this micro-batch's gradients and takes the optimizer step.
 */
export type Accumulation = 'accumulate' | 'apply';

export const accumulatorName = (param: string) => `${param}.grad_accum`;

/**
 * The step graph when `optimizer` is given, else the eval graph; with `accumulation`, one of the two
 * micro-batch graphs of gradient accumulation. `shape.rows` counts both sides (2·pairs).
 */
export function dpoGraph(
  config: ModelConfig,
  weights: WeightSource,
  shape: BucketShape,
  lora: LoraConfig,
  lossConfig: DpoLossConfig,
  optimizer: AdamWConfig | null,
  accumulation?: Accumulation,
): DpoGraph {
  if (shape.rows % 2 !== 0) throw new Error(`training: rows ${shape.rows} must hold chosen and rejected rows (an even number)`);
  const P = shape.rows / 2;
  const dtype: DType = shape.dtype ?? 'float32';
  const g = new Graph(optimizer ? 'dpo_step' : 'dpo_eval');
  const adapter = new LoraAdapter(g, lora, dtype);
  const policy = policySequenceLogps(g, config, weights, shape, usesAverageLogps(lossConfig), adapter.hook);
  const { sequences } = policy;
  adapter.assertTargetsMatched();
  const side = (from: number) => (v: Value) => op.slice(v, [from], [from + P], [0]);
  const [chosen, rejected] = [side(0), side(P)];
  const { loss, metrics } = dpoLoss(
    {
      policyChosen: chosen(sequences),
      policyRejected: rejected(sequences),
      referenceChosen: g.input('reference_chosen_logps', dtype, [P]),
      referenceRejected: g.input('reference_rejected_logps', dtype, [P]),
      ...(usesChosenNll(lossConfig) ? { chosenNll: op.neg(completionMean(chosen(policy.tokenLogps), chosen(policy.completionMask))) } : {}),
      ...(usesRunningRewardMean(lossConfig) ? { runningRewardMean: g.input(RUNNING_REWARD_MEAN, dtype, []) } : {}),
    },
    lossConfig,
  );
  const logitMeans = policy.logitMeans();
  const logits = {
    'logits/chosen': completionMean(chosen(logitMeans), chosen(policy.completionMask)),
    'logits/rejected': completionMean(rejected(logitMeans), rejected(policy.completionMask)),
  };
  finishGraph(g, adapter, loss, { ...metrics, ...logits }, policy.layerBoundaries, shape, optimizer, accumulation);
  return { graph: g, adapter, loss };
}

/** The outputs of a step or eval graph, and with an optimizer the gradients wrt LoRA and the update. */
function finishGraph(
  g: Graph,
  adapter: LoraAdapter,
  loss: Value,
  metrics: Record<string, Value>,
  layerBoundaries: Value[],
  shape: BucketShape,
  optimizer: AdamWConfig | null,
  accumulation: Accumulation | undefined,
): void {
  const dtype: DType = shape.dtype ?? 'float32';
  g.output(loss, 'loss');
  for (const [name, value] of Object.entries(metrics)) g.output(value, name);
  const gradientOptions = { recompute: shape.recompute === false ? undefined : layerBoundaries, keepProducts: shape.keepProducts !== false };
  if (accumulation === 'accumulate') {
    const params = adapter.parameters();
    const grads = gradients(g, loss, params, gradientRules, gradientOptions);
    for (const p of params) g.output(op.add(g.input(accumulatorName(p.name), dtype, p.shape), grads.get(p)!), nextName(accumulatorName(p.name)));
  } else if (optimizer) {
    const params = adapter.parameters();
    let grads = gradients(g, loss, params, gradientRules, gradientOptions);
    if (accumulation === 'apply') {
      const batches = g.input('accumulated_batches', dtype, []);
      grads = new Map(params.map((p) => [p, op.div(op.add(g.input(accumulatorName(p.name), dtype, p.shape), grads.get(p)!), batches)]));
    }
    adamwStep(g, params, grads, optimizer);
  }
}

/** Sequence log-probs with the adapter on and no gradients: the policy side of KTO's KL estimate. */
export function adaptedLogpsGraph(config: ModelConfig, weights: WeightSource, shape: BucketShape, lora: LoraConfig): Graph {
  const g = new Graph('kto_kl');
  const adapter = new LoraAdapter(g, lora, shape.dtype ?? 'float32');
  g.output(policySequenceLogps(g, config, weights, shape, false, adapter.hook).sequences, 'sequence_logps');
  adapter.assertTargetsMatched();
  return g;
}

/** KTO's step graph when `optimizer` is given, else its eval graph: one row per example (`shape.rows` examples). */
export function ktoGraph(
  config: ModelConfig,
  weights: WeightSource,
  shape: BucketShape,
  lora: LoraConfig,
  lossConfig: DpoLossConfig,
  optimizer: AdamWConfig | null,
  accumulation?: Accumulation,
): DpoGraph {
  const R = shape.rows;
  const dtype: DType = shape.dtype ?? 'float32';
  const g = new Graph(optimizer ? 'kto_step' : 'kto_eval');
  const adapter = new LoraAdapter(g, lora, dtype);
  const policy = policySequenceLogps(g, config, weights, shape, false, adapter.hook);
  adapter.assertTargetsMatched();
  const desirable = g.input('desirable', dtype, [R]);
  const { loss, metrics } = ktoLoss(
    {
      policy: policy.sequences,
      reference: g.input('reference_logps', dtype, [R]),
      desirable,
      policyKl: g.input('kl_logps', dtype, [R]),
      referenceKl: g.input('reference_kl_logps', dtype, [R]),
    },
    lossConfig,
  );
  const logitMeans = policy.logitMeans();
  const side = (mask: Value) => op.mul(policy.completionMask, op.reshape(mask, [R, 1]));
  const logits = {
    'logits/chosen': maskedMean(logitMeans, side(desirable)),
    'logits/rejected': maskedMean(logitMeans, side(op.add(op.neg(desirable), 1))),
  };
  finishGraph(g, adapter, loss, { ...metrics, ...logits }, policy.layerBoundaries, shape, optimizer, accumulation);
  return { graph: g, adapter, loss };
}
