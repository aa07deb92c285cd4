/**
 * DPO losses as graph builders over per-pair sequence log-probs of the policy (adapter on) and the reference
 * (adapter off), following TRL's DPOTrainer (`dpo_loss`, `loss_type`). With the log-ratios c = π_chosen − ref_chosen,
 * r = π_rejected − ref_rejected and Δ = c − r (TRL's `logits`):
 *   sigmoid       −(1−ε)·logσ(βΔ) − ε·logσ(−βΔ)               (ε > 0: conservative DPO / label smoothing)
 *   robust        (−(1−ε)·logσ(βΔ) + ε·logσ(−βΔ)) / (1 − 2ε)   (unbiased under a flip rate ε)
 *   ipo           (Δ − 1/(2β))²                                 (on length-averaged log-probs, as TRL does)
 *   hinge         relu(1 − βΔ)
 *   sigmoid_norm  the sigmoid loss on length-averaged log-probs
 *   apo_zero      (1 − σ(βc)) + σ(βr)                           (chosen better than the model's own output)
 *   apo_down      σ(βc) + (1 − σ(βΔ))                           (chosen worse than the model's own output)
 *   exo_pair      σ(βΔ)·(logσ(βΔ) − log(1−ε)) + σ(−βΔ)·(logσ(−βΔ) − log ε)   (ε = 0 taken as 1e-3, as TRL does)
 *   nca_pair      −logσ(βc) − ½·logσ(−βc) − ½·logσ(−βr)
 *   bco_pair      −logσ(βc − δ) − logσ(−(βr − δ))               δ: the running mean of the rewards, below
 *   sppo_hard     (c − 1/(2β))² + (r + 1/(2β))²
 *   discopop      with x = βΔ, m = σ(x/τ): (1 − m)·(−logσ(x)) + m·e^(−x)   (τ = discopop_tau, default 0.05)
 *   sft           the NLL of the chosen completions: −Σ log p / Σ tokens over the batch's chosen completion tokens
 *   kto           unpaired (TRL's KTOTrainer, `ktoLoss` below): each example is desirable or not, on its own
 * averaged over pairs. Several losses combine as TRL's `loss_type` list does: Σ wᵢ·lossᵢ (`loss_weights`, 1 each by
 * default); when any of them compares length-averaged log-probs, all of them do (TRL averages for every loss of the
 * list when it holds ipo). The metrics are TRL's, under its names; rewards are β·c and β·r whatever the losses.
 * BCO's δ: TRL keeps a running mean of each batch's mean reward (mean of β·c and β·r, detached) and folds the
 * current batch in before using it. Our graph has no stop-gradient, so δ comes in as the input
 * `running_reward_mean`: the mean over the earlier batches (micro-batches) of this round, 0 before the first,
 * which the trainer updates on the host after each run. The first batch sees 0 either way (the adapter starts
 * at zero, so every reward is 0); after that, δ lags TRL's by the current batch.
 */
import type { Value } from '../engine/graph/ir.ts';
import * as op from '../engine/graph/ops.ts';
import { greater, relu } from '../engine/graph/trainingOps.ts';

/** What the rest of Prefer knows of a loss: a new loss is one entry here and its case in `lossTerm`. */
export interface DpoLossEntry {
  /** What the loss is, in a few words (the editor's loss picker shows it). */
  summary: string;
  /** ε the loss is offered with in the editor, or null where label smoothing does not apply. */
  labelSmoothing: number | null;
  /** Compares length-averaged log-probs (TRL divides by the completion length for IPO). */
  averageLogps: boolean;
  /** Needs the NLL of the chosen completions (`PreferenceLogps.chosenNll`). */
  chosenNll: boolean;
  /** Needs BCO's δ (`PreferenceLogps.runningRewardMean`), fed by the trainer. */
  runningRewardMean: boolean;
  /** Trains on unpaired examples (`ktoLoss`), so it cannot be listed with the paired losses. */
  unpaired: boolean;
}

const entry = (summary: string, more: Partial<DpoLossEntry> = {}): DpoLossEntry => ({
  summary,
  labelSmoothing: null,
  averageLogps: false,
  chosenNll: false,
  runningRewardMean: false,
  unpaired: false,
  ...more,
});

export const DPO_LOSSES = {
  sigmoid: entry('DPO', { labelSmoothing: 0 }),
  robust: entry('DPO robust to flipped labels', { labelSmoothing: 0.1 }),
  ipo: entry('IPO: squared loss on length-normalized log-ratios', { averageLogps: true }),
  hinge: entry('SLiC hinge loss'),
  sigmoid_norm: entry('DPO on length-normalized log-ratios', { labelSmoothing: 0, averageLogps: true }),
  apo_zero: entry('APO-zero: chosen up, rejected down (chosen better than the model)'),
  apo_down: entry('APO-down: both down, rejected more (chosen worse than the model)'),
  exo_pair: entry('EXO: reverse-KL preference matching', { labelSmoothing: 1e-3 }),
  nca_pair: entry('NCA: noise-contrastive alignment'),
  bco_pair: entry('BCO: rewards classified around their running mean', { runningRewardMean: true }),
  sppo_hard: entry('SPPO with hard labels'),
  discopop: entry('DiscoPOP: log-ratio modulated loss'),
  sft: entry('SFT: NLL of the chosen completions', { chosenNll: true }),
  kto: entry('KTO: unpaired desirable and undesirable examples', { unpaired: true }),
} as const satisfies Record<string, DpoLossEntry>;

export type DpoLossType = keyof typeof DPO_LOSSES;
export const DPO_LOSS_TYPES = Object.keys(DPO_LOSSES) as readonly DpoLossType[];

/** DiscoPOP's temperature τ when none is given (TRL's `discopop_tau`). */
export const DISCOPOP_TAU = 0.05;
/** The ε EXO takes when label smoothing is 0 (TRL's: its log ε would be −∞). */
const EXO_EPSILON = 1e-3;

export interface DpoLossConfig {
  /** One loss, or several summed (TRL's `loss_type` list). */
  type: DpoLossType | readonly DpoLossType[];
  /** One weight per loss, 1 each when absent (TRL's `loss_weights`). */
  weights?: readonly number[];
  beta: number;
  /** ε: the assumed fraction of flipped labels (the losses whose entry has one). */
  labelSmoothing?: number;
  /** DiscoPOP's τ (default DISCOPOP_TAU). */
  discopopTau?: number;
  /** KTO's weights of the desirable and the undesirable examples' losses (TRL's, 1 each by default). */
  desirableWeight?: number;
  undesirableWeight?: number;
}

export interface LossTerm {
  type: DpoLossType;
  weight: number;
}

/** The losses of `config` with their weights. */
export function lossTerms(config: DpoLossConfig): LossTerm[] {
  const types: readonly DpoLossType[] = typeof config.type === 'string' ? [config.type] : config.type;
  return types.map((type, i) => ({ type, weight: config.weights?.[i] ?? 1 }));
}

/** Sequence log-probs, one per pair: [pairs]. */
export interface PreferenceLogps {
  policyChosen: Value;
  policyRejected: Value;
  referenceChosen: Value;
  referenceRejected: Value;
  /** [] the policy's NLL per chosen completion token over the batch (losses whose entry says `chosenNll`). */
  chosenNll?: Value;
  /** [] BCO's δ (losses whose entry says `runningRewardMean`). */
  runningRewardMean?: Value;
}

export const DPO_METRIC_NAMES = ['rewards/chosen', 'rewards/rejected', 'rewards/margins', 'rewards/accuracies', 'logps/chosen', 'logps/rejected'] as const;
export type DpoMetricName = (typeof DPO_METRIC_NAMES)[number];

export interface DpoLoss {
  /** Mean over pairs: the scalar to differentiate. */
  loss: Value;
  /** Per-pair losses [pairs]. */
  losses: Value;
  /** Scalars, means over pairs, named as TRL logs them. */
  metrics: Record<DpoMetricName, Value>;
}

const needs = (config: DpoLossConfig, what: 'averageLogps' | 'chosenNll' | 'runningRewardMean' | 'unpaired') =>
  lossTerms(config).some((t) => DPO_LOSSES[t.type]?.[what]);

/** Whether the losses compare length-averaged log-probs: all of them do when one does. */
export const usesAverageLogps = (config: DpoLossConfig): boolean => needs(config, 'averageLogps');
export const usesChosenNll = (config: DpoLossConfig): boolean => needs(config, 'chosenNll');
export const usesRunningRewardMean = (config: DpoLossConfig): boolean => needs(config, 'runningRewardMean');
/** Whether the round trains on unpaired examples (KTO) rather than pairs. */
export const trainsUnpaired = (config: DpoLossConfig): boolean => needs(config, 'unpaired');

/** What a round on this loss counts in its messages: preference pairs, or completions judged on their own. */
export type ExampleUnit = 'pair' | 'example';
export const exampleUnit = (config: DpoLossConfig): ExampleUnit => (trainsUnpaired(config) ? 'example' : 'pair');

export function checkDpoLossConfig(config: DpoLossConfig): void {
  const eps = config.labelSmoothing ?? 0;
  const terms = lossTerms(config);
  const types = terms.map((t) => t.type);
  if (types.length === 0) throw new Error('loss: no loss type given');
  for (const type of types) {
    if (!DPO_LOSS_TYPES.includes(type)) throw new Error(`loss: unknown type ${type} (expected ${DPO_LOSS_TYPES.join(', ')})`);
  }
  const twice = types.find((t, i) => types.indexOf(t) !== i);
  if (twice) throw new Error(`loss: ${twice} is listed twice`);
  if (config.weights && config.weights.length !== types.length) throw new Error(`loss: ${config.weights.length} weights for ${types.length} losses`);
  for (const { weight } of terms) if (!(weight > 0) || !Number.isFinite(weight)) throw new Error(`loss: weights must be positive numbers, got ${weight}`);
  if (!(config.beta > 0) || !Number.isFinite(config.beta)) throw new Error(`loss: beta must be a positive number, got ${config.beta}`);
  if (!(eps >= 0 && eps < 0.5)) throw new Error(`loss: label smoothing must lie in [0, 0.5), got ${eps}`);
  if (eps > 0 && types.every((t) => DPO_LOSSES[t].labelSmoothing === null)) throw new Error(`loss: label smoothing does not apply to ${types.join(', ')}`);
  if (types.length > 1 && types.some((t) => DPO_LOSSES[t].unpaired)) throw new Error(`loss: kto trains on unpaired examples and cannot be combined with ${types.filter((t) => t !== 'kto').join(', ')}`);
  for (const [name, w] of [['desirable', config.desirableWeight], ['undesirable', config.undesirableWeight]] as const) {
    if (w !== undefined && !(w > 0 && Number.isFinite(w))) throw new Error(`loss: the ${name} weight must be a positive number, got ${w}`);
  }
  const tau = config.discopopTau ?? DISCOPOP_TAU;
  if (!(tau > 0) || !Number.isFinite(tau)) throw new Error(`loss: discopop tau must be a positive number, got ${tau}`);
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
/** 1 − v */
const oneMinus = (v: Value) => op.add(op.neg(v), 1);

/** What every loss is a function of: the log-ratios c, r, Δ = c − r and the batch's extra inputs. */
interface LossInputs {
  logps: PreferenceLogps;
  chosenRatio: Value;
  rejectedRatio: Value;
  delta: Value;
  config: DpoLossConfig;
}

function required(value: Value | undefined, type: DpoLossType, what: string): Value {
  if (!value) throw new Error(`loss: ${type} needs ${what}`);
  return value;
}

/** One loss's per-pair values [pairs]. */
function lossTerm(type: DpoLossType, { logps, chosenRatio: c, rejectedRatio: r, delta, config }: LossInputs): Value {
  const { beta } = config;
  const eps = config.labelSmoothing ?? 0;
  const scaled = op.mul(delta, beta);
  const sigmoidLoss = () => {
    const losses = op.neg(op.mul(logSigmoid(scaled), 1 - eps));
    return eps > 0 ? op.sub(losses, op.mul(logSigmoid(op.neg(scaled)), eps)) : losses;
  };
  switch (type) {
    case 'sigmoid':
    case 'sigmoid_norm':
      return sigmoidLoss();
    case 'robust': {
      let losses = op.neg(op.mul(logSigmoid(scaled), 1 - eps));
      if (eps > 0) losses = op.add(losses, op.mul(logSigmoid(op.neg(scaled)), eps));
      return op.div(losses, 1 - 2 * eps);
    }
    case 'ipo': {
      const gap = op.sub(delta, 1 / (2 * beta));
      return op.mul(gap, gap);
    }
    case 'hinge':
      return relu(op.add(op.neg(scaled), 1));
    case 'apo_zero':
      return op.add(oneMinus(op.sigmoid(op.mul(c, beta))), op.sigmoid(op.mul(r, beta)));
    case 'apo_down':
      return op.add(op.sigmoid(op.mul(c, beta)), oneMinus(op.sigmoid(scaled)));
    case 'exo_pair': {
      const e = eps === 0 ? EXO_EPSILON : eps;
      const side = (x: Value, p: number) => op.mul(op.sigmoid(x), op.sub(logSigmoid(x), Math.log(p)));
      return op.add(side(scaled, 1 - e), side(op.neg(scaled), e));
    }
    case 'nca_pair': {
      const chosen = op.mul(c, beta);
      const halfLogSigmoidNeg = (x: Value) => op.mul(logSigmoid(op.neg(x)), 0.5);
      return op.neg(op.add(op.add(logSigmoid(chosen), halfLogSigmoidNeg(chosen)), halfLogSigmoidNeg(op.mul(r, beta))));
    }
    case 'bco_pair': {
      const d = required(logps.runningRewardMean, type, 'the running reward mean');
      return op.neg(op.add(logSigmoid(op.sub(op.mul(c, beta), d)), logSigmoid(op.neg(op.sub(op.mul(r, beta), d)))));
    }
    case 'sppo_hard': {
      const up = op.sub(c, 0.5 / beta);
      const down = op.add(r, 0.5 / beta);
      return op.add(op.mul(up, up), op.mul(down, down));
    }
    case 'discopop': {
      const modulation = op.sigmoid(op.div(scaled, config.discopopTau ?? DISCOPOP_TAU));
      return op.add(op.mul(op.neg(logSigmoid(scaled)), oneMinus(modulation)), op.mul(op.exp(op.neg(scaled)), modulation));
    }
    case 'sft':
      return op.expand(required(logps.chosenNll, type, 'the chosen NLL'), c.shape as number[]);
    case 'kto':
      throw new Error('loss: kto trains on unpaired examples (ktoLoss), not on pairs');
  }
}

export function dpoLoss(logps: PreferenceLogps, config: DpoLossConfig): DpoLoss {
  checkDpoLossConfig(config);
  const { beta } = config;
  const chosenRatio = op.sub(logps.policyChosen, logps.referenceChosen);
  const rejectedRatio = op.sub(logps.policyRejected, logps.referenceRejected);
  const inputs: LossInputs = { logps, chosenRatio, rejectedRatio, delta: op.sub(chosenRatio, rejectedRatio), config };
  const weighted = lossTerms(config).map(({ type, weight }) => {
    const losses = lossTerm(type, inputs);
    return weight === 1 ? losses : op.mul(losses, weight);
  });
  const losses = weighted.reduce((sum, l) => op.add(sum, l));

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
 * KTO, as TRL's KTOTrainer computes it. Each row is one example: a completion the user wants (desirable) or not.
 * With the log-ratio ρ = π − ref of each row and the reference point z0 = max(0, mean(π_KL − ref_KL)), the batch's
 * KL estimate from mismatched rows (each prompt with the completion of another example of the batch):
 *   desirable    w_D·(1 − σ(β(ρ − z0)))
 *   undesirable  w_U·(1 − σ(β(z0 − ρ)))
 * averaged over the rows. z0 carries no gradient: its log-probs come from a run without one (TRL's no_grad).
 * Metrics are means over the rows of each side (0 for a side the batch lacks; the trainer weighs them by count);
 * `rewards/accuracies` is the share of rows whose reward β·ρ has their label's sign.
 */
export interface UnpairedLogps {
  /** [rows] sequence log-probs of the policy and the reference. */
  policy: Value;
  reference: Value;
  /** [rows] 1 for a desirable example, 0 for an undesirable one. */
  desirable: Value;
  /** [rows] the policy's and the reference's log-probs of the batch's mismatched rows. */
  policyKl: Value;
  referenceKl: Value;
}

export const KTO_METRIC_NAMES = [...DPO_METRIC_NAMES, 'kl'] as const;
export type KtoMetricName = (typeof KTO_METRIC_NAMES)[number];

export interface KtoLoss {
  loss: Value;
  losses: Value;
  metrics: Record<KtoMetricName, Value>;
}

/** Σ values·mask / max(Σ mask, 1) over every axis: the mean where the mask is 1, 0 where it is nowhere. */
export function maskedMean(values: Value, mask: Value): Value {
  const all = values.shape.map((_, i) => i);
  const count = op.reduceSum(mask, all, false);
  return op.div(op.reduceSum(op.mul(values, mask), all, false), op.add(relu(op.sub(count, 1)), 1));
}

export function ktoLoss(logps: UnpairedLogps, config: DpoLossConfig): KtoLoss {
  checkDpoLossConfig(config);
  if (config.type !== 'kto') throw new Error(`loss: ktoLoss takes the kto loss, not ${lossTerms(config).map((t) => t.type).join(', ')}`);
  const { beta } = config;
  const desirable = logps.desirable;
  const undesirable = oneMinus(desirable);
  const kl = relu(mean(op.sub(logps.policyKl, logps.referenceKl)));
  const ratio = op.sub(logps.policy, logps.reference);
  const chosenLosses = oneMinus(op.sigmoid(op.mul(op.sub(ratio, kl), beta)));
  const rejectedLosses = oneMinus(op.sigmoid(op.mul(op.sub(kl, ratio), beta)));
  const losses = op.add(
    op.mul(op.mul(chosenLosses, desirable), config.desirableWeight ?? 1),
    op.mul(op.mul(rejectedLosses, undesirable), config.undesirableWeight ?? 1),
  );
  const rewards = op.mul(ratio, beta);
  const chosenRewards = maskedMean(rewards, desirable);
  const rejectedRewards = maskedMean(rewards, undesirable);
  const positive = op.cast(greater(rewards, 0), rewards.dtype);
  const rightSide = op.add(op.mul(positive, desirable), op.mul(oneMinus(positive), undesirable));
  return {
    loss: mean(losses),
    losses,
    metrics: {
      'rewards/chosen': chosenRewards,
      'rewards/rejected': rejectedRewards,
      'rewards/margins': op.sub(chosenRewards, rejectedRewards),
      'rewards/accuracies': mean(rightSide),
      'logps/chosen': maskedMean(logps.policy, desirable),
      'logps/rejected': maskedMean(logps.policy, undesirable),
      kl,
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

/** The mean of per-token values [rows, T] over all the completion tokens of the rows: a scalar []. */
export function completionMean(values: Value, completionMask: Value): Value {
  const all = values.shape.map((_, i) => i);
  return op.div(op.reduceSum(op.mul(values, completionMask), all, false), op.reduceSum(completionMask, all, false));
}
