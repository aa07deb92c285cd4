/**
 * The options of a training round, in one table: `prefer train`'s flags, usage text and checks, the editor's
 * quick picks and `defaultTraining` are all made from it. A new option is one entry here and its place in
 * `trainingFrom`.
 */
import { DISCOPOP_TAU, DPO_LOSSES, DPO_LOSS_TYPES, type DpoLossConfig, type DpoLossType } from '../dpo/losses.ts';
import { InputError } from '../inputError.ts';
import { ADAMW_DEFAULTS } from '../train/adamw.ts';
import type { TrainOptions } from '../dpo/trainer.ts';
import { TRAINING_WEIGHT_STORAGES } from '../engine/models/weights.ts';
import { RECOMPUTE_MODES, type RecomputeMode } from '../dpo/trainingGraph.ts';

/** `--recompute`: a mode, or auto. */
export const RECOMPUTE_CHOICES = ['auto', ...RECOMPUTE_MODES] as const;
export type RecomputeChoice = (typeof RECOMPUTE_CHOICES)[number];

/**
 * The recompute mode a round runs in. auto: layers over a base held in less than fp32 (that storage was picked to
 * save memory, and layers saves the most: Qwen2.5-1.5B over int4 at 512 tokens peaks at 2.9 instead of 5.4 GB, for
 * a step about 30 % slower), products over fp32.
 */
export function recomputeFor(choice: RecomputeChoice, weights: (typeof TRAINING_WEIGHT_STORAGES)[number]): RecomputeMode {
  if (choice !== 'auto') return choice;
  return weights === 'fp32' ? 'products' : 'layers';
}

/** A round's trainer options: everything but padId, which comes from the model's tokenizer. */
export type RoundTraining = Omit<TrainOptions, 'padId'>;

/** A number typed by the user, with what it may be. */
export interface NumberOption {
  kind: 'number';
  /** Stands for the value in the usage text. */
  placeholder: string;
  help: string;
  /** Undefined where the default follows from another option (said in `help`). */
  default: number | undefined;
  accepts(n: number): boolean;
  /** What `accepts` takes, in words, for error messages: "a positive integer". */
  what: string;
  /** How the editor asks for it; options without one keep their default there. */
  picker?: { title: string; choices?: readonly number[] };
}

export interface ChoiceOption<T extends string> {
  kind: 'choice';
  choices: readonly T[];
  default: T;
  help: string;
  what: string;
  picker?: { title: string };
}

/** Given or not. */
export interface SwitchOption {
  kind: 'switch';
  help: string;
}

/** A comma-separated list. */
export interface ListOption {
  kind: 'list';
  placeholder: string;
  help: string;
  /** The names it takes, where only known names are taken (checked by `trainingFrom`). */
  choices?: readonly string[];
  default?: readonly string[];
  picker?: { title: string };
}

/** The values of a round's options, named by their flags. */
export interface TrainingValues {
  /** Loss names as given: `trainingFrom` checks them. */
  loss: string[];
  'loss-weights'?: string[] | undefined;
  beta: number;
  'label-smoothing': number;
  'discopop-tau': number;
  'desirable-weight': number;
  'undesirable-weight': number;
  lr: number;
  epochs: number;
  batch: number;
  'lora-r': number;
  'lora-alpha'?: number | undefined;
  rslora: boolean;
  'target-modules'?: string[] | undefined;
  'max-length': number;
  'warmup-ratio': number;
  'eval-split': number;
  seed: number;
  device: 'cpu' | 'webgpu';
  weights: (typeof TRAINING_WEIGHT_STORAGES)[number];
  recompute: RecomputeChoice;
  threads: number;
  'head-chunks': number;
  'checkpoint-every': number;
  resume: boolean;
}

type OptionFor<T> = [T] extends [boolean]
  ? SwitchOption
  : [T] extends [number | undefined]
    ? NumberOption
    : [T] extends [string[] | undefined]
      ? ListOption
      : [T] extends [string]
        ? ChoiceOption<T>
        : never;

export type TrainingOption = NumberOption | ChoiceOption<string> | SwitchOption | ListOption;

/** The graphs compute in float32: a larger value becomes infinity there. */
const FLOAT32_MAX = 3.4028234663852886e38;
/** The round plans every step up front: a count past this is a typo, not a run. */
const MAX_EPOCHS = 1000;
/** Bucket lengths are multiples of this (or of the maximum length, when shorter). */
const LENGTH_STEP = 32;

/** The losses that take label smoothing, in words. */
const SMOOTHED_LOSSES = DPO_LOSS_TYPES.filter((t) => DPO_LOSSES[t].labelSmoothing !== null).join(', ');

const positiveInt = (n: number) => Number.isInteger(n) && n > 0;
const nonNegativeInt = (n: number) => Number.isInteger(n) && n >= 0;
const positiveFloat32 = (n: number) => n > 0 && n <= FLOAT32_MAX;

const number = (
  placeholder: string,
  fallback: number | undefined,
  accepts: (n: number) => boolean,
  what: string,
  help: string,
  picker?: NumberOption['picker'],
): NumberOption => ({ kind: 'number', placeholder, default: fallback, accepts, what, help, ...(picker ? { picker } : {}) });

/** The loss a round trains with unless told otherwise. */
export const DEFAULT_LOSS: DpoLossType = 'sigmoid';

export const TRAINING_OPTIONS: { readonly [K in keyof TrainingValues]-?: OptionFor<TrainingValues[K]> } = {
  loss: {
    kind: 'list',
    placeholder: 'L[,L…]',
    choices: DPO_LOSS_TYPES,
    default: [DEFAULT_LOSS],
    help: `the preference loss, or several summed (TRL's loss_type): ${DPO_LOSS_TYPES.join(', ')} (default ${DEFAULT_LOSS})`,
    picker: { title: 'loss' },
  },
  'loss-weights': { kind: 'list', placeholder: 'W[,W…]', help: 'one weight per --loss, positive (default 1 each)' },
  beta: number('B', 0.1, positiveFloat32, 'a positive number up to 3.4e38', 'β: how far the adapter may move from the base model', {
    title: 'β (how far the adapter may move from the base model)',
  }),
  'label-smoothing': number('E', 0, (n) => n >= 0 && n < 0.5, 'in [0, 0.5)', `ε: the assumed fraction of flipped labels (${SMOOTHED_LOSSES})`),
  'discopop-tau': number('T', DISCOPOP_TAU, positiveFloat32, 'a positive number up to 3.4e38', 'τ: the temperature of the discopop loss'),
  'desirable-weight': number('W', 1, positiveFloat32, 'a positive number up to 3.4e38', "the weight of kto's desirable examples"),
  'undesirable-weight': number('W', 1, positiveFloat32, 'a positive number up to 3.4e38', "the weight of kto's undesirable examples"),
  lr: number('L', 5e-5, (n) => n >= 0 && n <= FLOAT32_MAX, 'a non-negative number up to 3.4e38', 'the peak learning rate'),
  epochs: number('E', 1, (n) => positiveInt(n) && n <= MAX_EPOCHS, `an integer from 1 to ${MAX_EPOCHS}`, 'passes over the training pairs', {
    title: 'epochs',
    choices: [1, 2, 3, 5],
  }),
  batch: number('P', 4, positiveInt, 'a positive integer', 'pairs per optimizer step (kto: examples, at least 2)'),
  'lora-r': number('R', 16, positiveInt, 'a positive integer', 'the LoRA rank'),
  'lora-alpha': number('A', undefined, positiveFloat32, 'a positive number up to 3.4e38', 'the LoRA alpha (default 2 × R)'),
  rslora: { kind: 'switch', help: 'rank-stabilized LoRA: scale by alpha/√r instead of alpha/r' },
  'target-modules': { kind: 'list', placeholder: 'q_proj,v_proj,…', help: 'the linears to adapt (default every one)' },
  'max-length': number('T', 512, positiveInt, 'a positive integer', 'tokens of prompt and completion kept per pair'),
  'warmup-ratio': number('F', 0.1, (n) => n >= 0 && n <= 1, 'in [0, 1]', 'the fraction of steps warming the learning rate up'),
  'eval-split': number('F', 0.1, (n) => n >= 0 && n < 1, 'in [0, 1)', 'the fraction of pairs held out for evaluation'),
  seed: number('S', 0, nonNegativeInt, 'a non-negative integer', 'the random seed'),
  device: { kind: 'choice', choices: ['cpu', 'webgpu'], default: 'cpu', what: 'cpu or webgpu', help: 'where the round trains' },
  weights: {
    kind: 'choice',
    choices: TRAINING_WEIGHT_STORAGES,
    default: 'fp32',
    what: TRAINING_WEIGHT_STORAGES.join(', '),
    help: 'how the frozen base model is held while training (int8, int4: less memory; LoRA and optimizer stay fp32)',
  },
  recompute: {
    kind: 'choice',
    choices: RECOMPUTE_CHOICES,
    default: 'auto',
    what: RECOMPUTE_CHOICES.join(', '),
    help: 'what the backward pass computes again instead of keeping: products (keeps each layer\'s products with base weights: faster), layers (whole layers: the least memory), auto (layers over an fp16/int8/int4 base, products over fp32)',
  },
  threads: number('N', 0, nonNegativeInt, 'a non-negative integer', 'CPU threads, 0 to let ONNX Runtime decide'),
  'head-chunks': number('K', 8, positiveInt, 'a positive integer', 'blocks the log-prob head is computed in (more: less memory)'),
  'checkpoint-every': number('N', 10, positiveInt, 'a positive integer', 'steps between checkpoints'),
  resume: { kind: 'switch', help: 'continue a killed or cancelled round from its checkpoint' },
};

/** Every option at its default. */
export function defaultValues(): TrainingValues {
  const values: Record<string, unknown> = {};
  for (const [flag, option] of Object.entries(TRAINING_OPTIONS) as [string, TrainingOption][]) {
    if (option.kind === 'switch') values[flag] = false;
    else if (option.kind !== 'list') values[flag] = option.default;
    else if (option.default) values[flag] = [...option.default];
  }
  return values as unknown as TrainingValues;
}

/** The trainer options the values stand for (without checkpointing, which is each front's own). */
export function trainingFrom(values: TrainingValues): RoundTraining {
  const rank = values['lora-r'];
  const targets = values['target-modules'];
  const maxLength = values['max-length'];
  const recompute = recomputeFor(values.recompute, values.weights);
  // the key order is part of a checkpoint's fingerprint: keep it
  return {
    loss: lossFrom(values),
    lora: { rank, alpha: values['lora-alpha'] ?? 2 * rank, rsLora: values.rslora, ...(targets ? { targetModules: targets } : {}) },
    optimizer: ADAMW_DEFAULTS,
    learningRate: values.lr,
    warmupRatio: values['warmup-ratio'],
    epochs: values.epochs,
    pairsPerStep: values.batch,
    lengthStep: Math.min(LENGTH_STEP, maxLength),
    maxLength,
    evalFraction: values['eval-split'],
    seed: values.seed,
    headChunks: values['head-chunks'],
    device: values.device,
    threads: values.threads,
    // fp32 adds no key: checkpoints of rounds before --weights keep their fingerprint
    ...(values.weights !== 'fp32' ? { baseWeights: values.weights } : {}),
    ...(recompute !== 'products' ? { recompute } : {}),
  };
}

/** The loss names of `--loss`, checked. */
function lossTypes(names: readonly string[]): DpoLossType[] {
  if (names.length === 0) throw new InputError('--loss: give at least one loss');
  for (const [i, name] of names.entries()) {
    if (!(DPO_LOSS_TYPES as readonly string[]).includes(name)) throw new InputError(`--loss: unknown loss '${name}' (expected ${DPO_LOSS_TYPES.join(', ')})`);
    if (names.indexOf(name) !== i) throw new InputError(`--loss: ${name} is listed twice`);
  }
  return names as DpoLossType[];
}

/** The weights of `--loss-weights`, one per loss, checked. */
function lossWeights(texts: readonly string[], losses: number): number[] {
  const weights = texts.map((text) => {
    const n = Number(text);
    if (text.trim() === '' || !positiveFloat32(n)) throw new InputError(`--loss-weights: '${text}' is not a positive number up to 3.4e38`);
    return n;
  });
  if (weights.length !== losses) throw new InputError(`--loss-weights: ${weights.length} weight${weights.length === 1 ? '' : 's'} for ${losses} loss${losses === 1 ? '' : 'es'} in --loss`);
  return weights;
}

/**
 * The loss options from the values. A lone loss stays a name and weights and τ appear only where given or
 * used, so a round's checkpoint fingerprint changes only with what shapes it.
 */
function lossFrom(values: TrainingValues): DpoLossConfig {
  const types = lossTypes(values.loss);
  const weights = values['loss-weights'];
  const labelSmoothing = values['label-smoothing'];
  if (labelSmoothing > 0 && types.every((t) => DPO_LOSSES[t].labelSmoothing === null)) {
    throw new InputError(`--label-smoothing: does not apply to ${types.join(', ')} (only ${SMOOTHED_LOSSES})`);
  }
  const unpaired = types.filter((t) => DPO_LOSSES[t].unpaired);
  if (unpaired.length > 0 && types.length > 1) {
    throw new InputError(`--loss: ${unpaired.join(', ')} trains on unpaired examples and cannot be combined with ${types.filter((t) => !unpaired.includes(t)).join(', ')}`);
  }
  return {
    type: types.length === 1 ? types[0]! : types,
    ...(weights ? { weights: lossWeights(weights, types.length) } : {}),
    beta: values.beta,
    labelSmoothing,
    ...(types.includes('discopop') ? { discopopTau: values['discopop-tau'] } : {}),
    ...(unpaired.length > 0 ? { desirableWeight: values['desirable-weight'], undesirableWeight: values['undesirable-weight'] } : {}),
  };
}

/** The defaults of a round, shared by `prefer train` and the extension's Train DPO Round. */
export function defaultTraining(overrides: Partial<RoundTraining> = {}): RoundTraining {
  return { ...trainingFrom(defaultValues()), ...overrides };
}

/** The losses as the editor offers them: the default marked, each other with its ε where it has one. */
export function lossChoices(): { loss: DpoLossType; description: string }[] {
  return DPO_LOSS_TYPES.map((loss) => {
    const { summary, labelSmoothing } = DPO_LOSSES[loss];
    const note = loss === DEFAULT_LOSS ? 'default' : labelSmoothing ? `label smoothing ${labelSmoothing}` : '';
    return { loss, description: note ? `${summary} (${note})` : summary };
  });
}

/** ε for a round of `loss` started from the editor, where only the loss is chosen. */
export const editorLabelSmoothing = (loss: DpoLossType): number => DPO_LOSSES[loss].labelSmoothing ?? 0;
