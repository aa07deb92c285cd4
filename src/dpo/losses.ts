/**
 * DPO losses as graph builders over per-pair sequence log-probs of the policy (adapter on) and the reference
 * (adapter off), following TRL's DPOTrainer: with Δ = (π_chosen − π_rejected) − (ref_chosen − ref_rejected),
 *   sigmoid  −(1−ε)·logσ(βΔ) − ε·logσ(−βΔ)               (ε > 0: conservative DPO / label smoothing)
 *   robust   (−(1−ε)·logσ(βΔ) + ε·logσ(−βΔ)) / (1 − 2ε)   (unbiased under a flip rate ε)
 *   ipo      (Δ − 1/(2β))²                                 (on length-averaged log-probs, as TRL does)
 *   hinge    relu(1 − βΔ)
 * averaged over pairs, plus TRL's logged metrics under their names.
 */
import type { Value } from '../engine/graph/ir.ts';
import * as op from '../engine/graph/ops.ts';
import { greater, relu } from '../engine/graph/trainingOps.ts';

/** What the rest of Prefer knows of a loss: a new loss is one entry here and its case in `dpoLoss`. */
export interface DpoLossEntry {
  /** What the loss is, in a few words (the editor's loss picker shows it). */
  summary: string;
  /** ε the loss is offered with in the editor, or null where label smoothing does not apply. */
  labelSmoothing: number | null;
  /** Compares length-averaged log-probs (TRL divides by the completion length for IPO). */
  averageLogps: boolean;
}

export const DPO_LOSSES = {
  sigmoid: { summary: 'DPO', labelSmoothing: 0, averageLogps: false },
  robust: { summary: 'DPO robust to flipped labels', labelSmoothing: 0.1, averageLogps: false },
  ipo: { summary: 'IPO: squared loss on length-normalized log-ratios', labelSmoothing: null, averageLogps: true },
  hinge: { summary: 'SLiC hinge loss', labelSmoothing: null, averageLogps: false },
} as const satisfies Record<string, DpoLossEntry>;

export type DpoLossType = keyof typeof DPO_LOSSES;
export const DPO_LOSS_TYPES = Object.keys(DPO_LOSSES) as readonly DpoLossType[];

export interface DpoLossConfig {
  type: DpoLossType;
  beta: number;
  /** ε: the assumed fraction of flipped labels (sigmoid and robust only). */
  labelSmoothing?: number;
}

/** Sequence log-probs, one per pair: [pairs]. */
export interface PreferenceLogps {
  policyChosen: Value;
  policyRejected: Value;
  referenceChosen: Value;
  referenceRejected: Value;
}

export type DpoMetricName = 'rewards/chosen' | 'rewards/rejected' | 'rewards/margins' | 'rewards/accuracies' | 'logps/chosen' | 'logps/rejected';

export interface DpoLoss {
  /** Mean over pairs: the scalar to differentiate. */
  loss: Value;
  /** Per-pair losses [pairs]. */
  losses: Value;
  /** Scalars, means over pairs, named as TRL logs them. */
  metrics: Record<DpoMetricName, Value>;
}

export const usesAverageLogps = (type: DpoLossType): boolean => DPO_LOSSES[type].averageLogps;

export function checkDpoLossConfig(config: DpoLossConfig): void {
  const eps = config.labelSmoothing ?? 0;
  if (!DPO_LOSS_TYPES.includes(config.type)) throw new Error(`loss: unknown type ${config.type} (expected ${DPO_LOSS_TYPES.join(', ')})`);
  if (!(config.beta > 0) || !Number.isFinite(config.beta)) throw new Error(`loss: beta must be a positive number, got ${config.beta}`);
  if (!(eps >= 0 && eps < 0.5)) throw new Error(`loss: label smoothing must lie in [0, 0.5), got ${eps}`);
  if (eps > 0 && DPO_LOSSES[config.type].labelSmoothing === null) throw new Error(`loss: label smoothing does not apply to ${config.type}`);
}

/**
 * log σ(x) = min(x, 0) − log(1 + e^−|x|): exp never overflows, and the gradient is exact everywhere (at 0 the
 * two relu kinks cancel to ½ whatever subgradient Relu takes). Sigmoid-then-Log loses ~1e-10 at x = −15.
 */
export function logSigmoid(x: Value): Value {
  const positive = relu(x);
  const negative = op.sub(x, positive);
  const magnitude = op.sub(positive, negative);
  return op.sub(negative, op.log(op.add(op.exp(op.neg(magnitude)), 1)));
}

const mean = (v: Value) => op.reduceMean(v, [0], false);

export function dpoLoss(logps: PreferenceLogps, config: DpoLossConfig): DpoLoss {
  checkDpoLossConfig(config);
  const { beta } = config;
  const eps = config.labelSmoothing ?? 0;
  const chosenRatio = op.sub(logps.policyChosen, logps.referenceChosen);
  const rejectedRatio = op.sub(logps.policyRejected, logps.referenceRejected);
  const delta = op.sub(chosenRatio, rejectedRatio);
  const scaled = op.mul(delta, beta);

  let losses: Value;
  switch (config.type) {
    case 'sigmoid': {
      losses = op.neg(op.mul(logSigmoid(scaled), 1 - eps));
      if (eps > 0) losses = op.sub(losses, op.mul(logSigmoid(op.neg(scaled)), eps));
      break;
    }
    case 'robust': {
      losses = op.neg(op.mul(logSigmoid(scaled), 1 - eps));
      if (eps > 0) losses = op.add(losses, op.mul(logSigmoid(op.neg(scaled)), eps));
      losses = op.div(losses, 1 - 2 * eps);
      break;
    }
    case 'ipo': {
      const gap = op.sub(delta, 1 / (2 * beta));
      losses = op.mul(gap, gap);
      break;
    }
    case 'hinge':
      losses = relu(op.add(op.neg(scaled), 1));
      break;
  }

  const chosenRewards = op.mul(chosenRatio, beta);
  const rejectedRewards = op.mul(rejectedRatio, beta);
  return {
    loss: mean(losses),
    losses,
    metrics: {
      'rewards/chosen': mean(chosenRewards),
      'rewards/rejected': mean(rejectedRewards),
      'rewards/margins': mean(op.sub(chosenRewards, rejectedRewards)),
      'rewards/accuracies': mean(op.cast(greater(chosenRewards, rejectedRewards), chosenRewards.dtype)),
      'logps/chosen': mean(logps.policyChosen),
      'logps/rejected': mean(logps.policyRejected),
    },
  };
}

/**
 * Sequence log-probs from token log-probs [pairs, T] and a completion mask [pairs, T] (1 on completion tokens,
 * 0 on prompt and padding): the sum, or for IPO the mean over completion tokens.
 */
export function sequenceLogps(tokenLogps: Value, completionMask: Value, average: boolean): Value {
  const total = op.reduceSum(op.mul(tokenLogps, completionMask), [-1], false);
  return average ? op.div(total, op.reduceSum(completionMask, [-1], false)) : total;
}
