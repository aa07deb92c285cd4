/**
 * A LoRA-DPO round through ONNX Runtime: held-out split, length buckets with static shapes, reference
 * log-probs computed once per pair (adapter off), then AdamW steps with the update inside the graph, a linear
 * warmup/decay schedule, TRL-named metrics per step, and an evaluation on the held-out pairs at the end.
 * Base weights are fed to every session from one set of tensors (placement 'inputs'): nothing is copied per
 * bucket. On WebGPU those tensors, the LoRA weights and the optimizer state stay on the GPU between steps
 * (deviceState.ts). Runs wherever it is called; the caller puts it in a worker thread. What the loss trains on
 * is an `Objective`: pairs below, KTO's unpaired examples in ktoObjective.ts.
 */
import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import { disableOrtTelemetry } from '../engine/runtime/telemetry.ts';
import { InputError } from '../inputError.ts';
import type { ModelConfig, WeightSource } from '../engine/hf/types.ts';
import { uniformStream } from '../engine/models/seededStream.ts';
import type { WeightStorage } from '../engine/models/weights.ts';
import { type PreferenceExample, type UnpairedExample, bucketLength, packBatch } from './examples.ts';
import { DPO_METRIC_NAMES, type DpoLossConfig, type DpoMetricName, type ExampleUnit, exampleUnit, trainsUnpaired, usesRunningRewardMean } from './losses.ts';
import { type LoraConfig, type LoraLayer, initialLoraWeights } from './lora.ts';
import { type AdamWConfig, optimizerStateNames } from '../train/adamw.ts';
import { learningRate as scheduledRate } from '../train/schedule.ts';
import { scalarFeed, scalarOf } from '../train/session.ts';
import { type Accumulation, type DpoGraph, LOGIT_METRIC_NAMES, type LogitMetricName, RUNNING_REWARD_MEAN, type RecomputeMode, accumulatorName, dpoGraph, referenceGraph } from './trainingGraph.ts';
import { type Batch, type BucketOptions, SessionCache, batchFeeds, batchesOf, bucketShape } from './batchRuns.ts';
import { ktoObjective } from './ktoObjective.ts';
import { checkpointExists, readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import { DeviceState, type HostTraffic } from './deviceState.ts';

// before any session: a long command line would otherwise crash ONNX Runtime's telemetry client (runtime/telemetry.ts)
disableOrtTelemetry();

export interface TrainOptions {
  loss: DpoLossConfig;
  lora: LoraConfig;
  optimizer: AdamWConfig;
  learningRate: number;
  /** Fraction of the steps spent warming the learning rate up linearly (then it decays linearly to 0). */
  warmupRatio: number;
  epochs: number;
  pairsPerStep: number;
  /** Bucket lengths are multiples of this. */
  lengthStep: number;
  maxLength: number;
  /** Held-out fraction for evaluation (0: none). */
  evalFraction: number;
  seed: number;
  padId: number;
  headChunks?: number;
  /** How the frozen base's linears are stored while training (default fp32; int8/int4 dequantized a layer at a time). */
  baseWeights?: WeightStorage;
  /**
   * What the backward pass computes again instead of keeping (default products): 'products' keeps each layer's
   * products with base weights and recomputes what lies between them; 'layers' keeps only the residual stream
   * between layers and the head's log-probs, the least memory for about one more forward pass.
   */
  recompute?: RecomputeMode;
  device?: 'cpu' | 'webgpu';
  /** On WebGPU: keep base weights, LoRA weights and optimizer state on the GPU between steps (default true). */
  deviceResident?: boolean;
  threads?: number;
  /** Micro-batches whose averaged gradients make one optimizer step (1: none). */
  gradientAccumulation?: number;
  /** Write LoRA + optimizer state to `dir` every `every` steps (and on cancel); `resume` continues from it. */
  checkpoint?: { dir: string; every: number; resume: boolean };
}

export type MetricName = 'loss' | DpoMetricName | LogitMetricName;
/** TRL's metrics under its names; `kl` only for KTO (its batch KL estimate, losses.ts). */
export type Metrics = Record<MetricName, number> & { kl?: number };
export interface StepMetrics extends Metrics {
  step: number;
  epoch: number;
  grad_norm: number;
  learning_rate: number;
}

export interface TrainResult {
  steps: StepMetrics[];
  eval: Metrics | null;
  layers: LoraLayer[];
  weights: Map<string, Float32Array>;
  cancelled: boolean;
  trainPairs: number;
  evalPairs: number;
}

export interface TrainPlan {
  totalSteps: number;
  resumedAfter: number;
  /** The split of the round's pairs, known once the plan is. */
  trainPairs: number;
  evalPairs: number;
}

/** A graph the round compiles, once per batch shape. */
export type GraphKind = 'reference' | 'step' | 'accumulate' | 'apply' | 'eval' | 'kl';

/** Where a round is; the fronts put it in words (rounds/phases.ts). */
/** `pairs` counts the round's examples, in `unit`s (pairs when absent). */
export type TrainPhase = { unit?: ExampleUnit } & (
  | { kind: 'reference'; pairs: number }
  | { kind: 'compile'; graph: GraphKind; pairs: number; tokens: number }
  | { kind: 'train'; pairs: number; steps: number; resumedAfter: number }
  | { kind: 'eval'; pairs: number }
);

export interface TrainHooks {
  onStep?(metrics: StepMetrics): void;
  onPhase?(phase: TrainPhase): void;
  /** The optimizer steps the round will take in all, and how many of them a resumed checkpoint already did. */
  onPlan?(plan: TrainPlan): void;
  /** Bytes fed from and returned to host memory by one optimizer step's runs (checkpoint read-backs included). */
  onHostTraffic?(step: number, traffic: HostTraffic): void;
  /** A line for the log, such as a fallback from GPU residency; console.warn when not given. */
  onNotice?(message: string): void;
  signal?: AbortSignal;
}

/**
 * The round's numbers left the finite range: what it learned is garbage and is not saved. Too large a step for
 * this model and data, so the user's to fix (the message says which options).
 */
export class TrainingDivergedError extends InputError {
  constructor(step: number, what: string) {
    super(`diverged at step ${step}: ${what} — lower --lr or --lora-alpha`);
  }
}

/** The first value that is not finite among `tensors`, or undefined. */
function firstNonFinite(tensors: ReadonlyMap<string, Float32Array>): number | undefined {
  for (const data of tensors.values()) for (const v of data) if (!Number.isFinite(v)) return v;
  return undefined;
}

/** Throws when the weights after `step` steps hold a value that is not finite. */
function checkFinite(weights: ReadonlyMap<string, Float32Array>, step: number): void {
  const bad = firstNonFinite(weights);
  if (bad !== undefined) throw new TrainingDivergedError(step, `LoRA weights ${bad}`);
}

const METRICS: readonly MetricName[] = ['loss', ...DPO_METRIC_NAMES, ...LOGIT_METRIC_NAMES];

/** BCO's δ on the host: the mean of the earlier (micro-)batches' mean rewards, 0 before the first (losses.ts). */
class RunningRewardMean {
  private sum = 0;
  private batches = 0;

  feed(): Record<string, ort.Tensor> {
    return { [RUNNING_REWARD_MEAN]: scalarFeed(this.batches > 0 ? this.sum / this.batches : 0) };
  }

  /** Folds in `batches` runs whose mean rewards average to `m`'s (a step's metrics average its micro-batches'). */
  add(m: Pick<Metrics, 'rewards/chosen' | 'rewards/rejected'>, batches = 1): void {
    this.sum += (batches * (m['rewards/chosen'] + m['rewards/rejected'])) / 2;
    this.batches += batches;
  }
}

/** A seeded Fisher–Yates shuffle. */
function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(((rand() + 1) / 2) * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * What a checkpoint must agree on to be resumed: the options that shape the round, and the data. Where and how
 * the steps are computed (threads, device, recompute) does not: a round that ran out of memory resumes with
 * `--recompute layers`.
 */
function fingerprint(options: TrainOptions, examples: TrainingExamples): string {
  const { checkpoint: _c, threads: _t, device: _d, deviceResident: _r, recompute: _m, ...shaping } = options;
  return createHash('sha256').update(JSON.stringify(shaping)).update(JSON.stringify(examples)).digest('hex');
}

/** What scoring pairs takes of the round's options: the buckets, the loss (summed or averaged log-probs), the device. */
export type ScoreOptions = BucketOptions & Pick<TrainOptions, 'loss' | 'padId' | 'device' | 'deviceResident' | 'threads'>;

/** Each pair's sequence log-probs under `weights` (adapter off): [2·i] chosen, [2·i + 1] rejected. */
async function sequenceLogps(
  config: ModelConfig,
  weights: WeightSource,
  examples: readonly PreferenceExample[],
  order: readonly number[],
  options: ScoreOptions,
  sessions: SessionCache,
  device: DeviceState,
): Promise<Float32Array> {
  const logpsOf = new Float32Array(2 * examples.length);
  for (const b of pairBatches(examples, order, options)) {
    const session = await sessions.get('reference', b, () => referenceGraph(config, weights, bucketShape(b, options, 2), options.loss));
    const out = await device.run(session, { ...device.baseFeeds, ...batchFeeds(packBatch(b.indices.map((i) => examples[i]!), b.length, options.padId)) });
    const logps = out.sequence_logps!.data as Float32Array;
    b.indices.forEach((i, k) => {
      logpsOf[2 * i] = logps[k]!;
      logpsOf[2 * i + 1] = logps[b.indices.length + k]!;
    });
  }
  return logpsOf;
}

/**
 * The round's reference pass on its own: each pair's log-probs under `weights` (an adapter merged into them, or
 * none), computed exactly as a round computes its reference log-probs. `prefer score` runs this.
 */
export async function scoreExamples(
  config: ModelConfig,
  weights: WeightSource,
  examples: readonly PreferenceExample[],
  options: ScoreOptions,
  hooks: Pick<TrainHooks, 'onPhase' | 'onNotice'> = {},
): Promise<Float32Array> {
  const device = await DeviceState.open(options.device ?? 'cpu', {
    resident: options.deviceResident ?? true,
    threads: options.threads ?? 0,
    notice: hooks.onNotice ?? ((message) => console.warn(message)),
  });
  const sessions = new SessionCache(device, hooks);
  try {
    hooks.onPhase?.({ kind: 'reference', pairs: examples.length });
    return await sequenceLogps(config, weights, examples, examples.map((_, i) => i), options, sessions, device);
  } finally {
    await device.release();
    await sessions.release();
  }
}

const pairBatches = (examples: readonly PreferenceExample[], indices: readonly number[], options: BucketOptions) =>
  batchesOf(indices, options, (i) => bucketLength(examples[i]!, options.lengthStep, options.maxLength));

/**
 * What a loss trains on, in the trainer's terms: DPO's pairs (two rows each, chosen then rejected; below) or KTO's
 * unpaired examples (one row each, ktoObjective.ts).
 */
export interface Objective {
  /** The fewest examples a batch may hold. */
  minBatch: number;
  metrics: readonly (keyof Metrics)[];
  batches(indices: readonly number[]): Batch[];
  /** The reference pass (adapter off), once per round, for every batch the round will run. */
  reference(batches: readonly Batch[], order: readonly number[]): Promise<void>;
  /** A step or eval run's feeds besides base weights and the LoRA and optimizer state. */
  feeds(b: Batch, params: ReadonlyMap<string, ort.Tensor>): Promise<Record<string, ort.Tensor>>;
  graph(b: Batch, optimizer: AdamWConfig | null, mode?: Accumulation): DpoGraph;
  /** How much `b`'s value of `metric` weighs in a mean over batches. */
  weight(metric: keyof Metrics, b: Batch, split: 'train' | 'eval'): number;
  /** Learns from the metrics of `runs` runs (BCO's running reward mean). */
  observe?(m: Metrics, runs?: number): void;
}

/** What an objective runs its graphs with. */
export interface ObjectiveRuns {
  config: ModelConfig;
  weights: WeightSource;
  options: TrainOptions;
  sessions: SessionCache;
  device: DeviceState;
}

function pairedObjective({ config, weights, options, sessions, device }: ObjectiveRuns, examples: readonly PreferenceExample[]): Objective {
  let reference: Float32Array = new Float32Array(0);
  const rewardMean = usesRunningRewardMean(options.loss) ? new RunningRewardMean() : undefined;
  const shapeOf = (b: Batch) => bucketShape(b, options, 2);
  return {
    minBatch: 1,
    metrics: METRICS,
    batches: (indices) => pairBatches(examples, indices, options),
    async reference(_batches, order) {
      reference = await sequenceLogps(config, weights, examples, order, options, sessions, device);
    },
    feeds: async (b) => ({
      ...batchFeeds(packBatch(b.indices.map((i) => examples[i]!), b.length, options.padId)),
      ...rewardMean?.feed(),
      reference_chosen_logps: new ort.Tensor('float32', Float32Array.from(b.indices, (i) => reference[2 * i]!), [b.indices.length]),
      reference_rejected_logps: new ort.Tensor('float32', Float32Array.from(b.indices, (i) => reference[2 * i + 1]!), [b.indices.length]),
    }),
    graph: (b, optimizer, mode) => dpoGraph(config, weights, shapeOf(b), options.lora, options.loss, optimizer, mode),
    // a step's metrics are the mean over its micro-batches, as TRL logs them; held-out ones the mean over pairs
    weight: (_metric, b, split) => (split === 'train' ? 1 : b.indices.length),
    observe: (m, runs) => rewardMean?.add(m, runs),
  };
}

/** The weighted mean of each metric over runs (0 for a metric no run weighs). */
function meanMetrics(objective: Objective, runs: readonly { metrics: Metrics; batch: Batch }[], split: 'train' | 'eval'): Metrics {
  const mean = (m: keyof Metrics) => {
    let [sum, total] = [0, 0];
    for (const { metrics, batch } of runs) {
      const w = objective.weight(m, batch, split);
      if (w > 0) [sum, total] = [sum + w * metrics[m]!, total + w];
    }
    return total > 0 ? sum / total : 0;
  };
  return Object.fromEntries(objective.metrics.map((m) => [m, mean(m)])) as Metrics;
}

/** The examples a round trains on: pairs, or for a loss whose entry says `unpaired` (KTO), unpaired examples. */
export type TrainingExamples = readonly PreferenceExample[] | readonly UnpairedExample[];

export async function trainDpo(config: ModelConfig, weights: WeightSource, examples: TrainingExamples, options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  if (examples.length < 1) throw new Error(trainsUnpaired(options.loss) ? 'train: no examples' : 'train: no preference pairs');
  // WebGPU has no kernels for the bitwise ops that unpack 4-bit codes (the lavapipe tier checks int8 there)
  if (options.device === 'webgpu' && options.baseWeights === 'int4') throw new InputError('--weights int4 trains on the CPU only: use --weights int8 on WebGPU');
  const rand = uniformStream(options.seed);
  const order = shuffled(examples.map((_, i) => i), rand);
  const device = await DeviceState.open(options.device ?? 'cpu', {
    resident: options.deviceResident ?? true,
    threads: options.threads ?? 0,
    notice: hooks.onNotice ?? ((message) => console.warn(message)),
  });
  const unit = exampleUnit(options.loss);
  const sessions = new SessionCache(device, hooks, unit);
  // LoRA weights, AdamW moments and gradient sums, as fed to the next run (GPU buffers when resident)
  const params = new Map<string, ort.Tensor>();
  const state = new Map<string, ort.Tensor>();
  let sums = new Map<string, ort.Tensor>();

  try {
    const runs: ObjectiveRuns = { config, weights, options, sessions, device };
    const objective = trainsUnpaired(options.loss)
      ? ktoObjective(runs, examples as readonly UnpairedExample[])
      : pairedObjective(runs, examples as readonly PreferenceExample[]);
    // a held-out split holds at least one batch, and leaves none or at least one batch to train on
    let evalCount = options.evalFraction > 0 && examples.length >= 2 ? Math.max(objective.minBatch, Math.round(examples.length * options.evalFraction)) : 0;
    const left = examples.length - evalCount;
    if (left < 0 || (left > 0 && left < objective.minBatch)) evalCount = 0;
    const evalIndices = order.slice(0, evalCount);
    const trainIndices = order.slice(evalCount);
    const trainBatches = objective.batches(trainIndices);
    const evalBatches = objective.batches(evalIndices);
    // reference log-probs, once per example: the adapter is off, so they never change during the round
    hooks.onPhase?.({ kind: 'reference', pairs: examples.length, unit });
    await objective.reference([...trainBatches, ...evalBatches], order);
    // the reference graphs are done for the round: their sessions (and their runs' memory) go before the steps
    await sessions.releaseKind('reference');

    // the whole round's step order up front: resuming at step k replays the same seeded shuffles; each optimizer
    // step takes `accumulation` micro-batches of one epoch (fewer at the epoch's end)
    const accumulation = Math.max(1, options.gradientAccumulation ?? 1);
    const plan = Array.from({ length: options.epochs }, (_, epoch) => {
      const order = shuffled(trainBatches, rand);
      return Array.from({ length: Math.ceil(order.length / accumulation) }, (_, g) => ({
        epoch,
        progress: Math.min((g + 1) * accumulation, order.length) / order.length,
        batches: order.slice(g * accumulation, (g + 1) * accumulation),
      }));
    }).flat();
    const total = plan.length;
    const schedule = { decay: 'linear', peakLr: options.learningRate, minLr: 0, warmupSteps: Math.ceil(total * options.warmupRatio), totalSteps: total } as const;
    let layers: LoraLayer[] = [];
    const stepGraph = (b: Batch, mode?: Accumulation) => {
      const built = objective.graph(b, options.optimizer, mode);
      layers = built.adapter.layers;
      return built.graph;
    };
    // the adapter's names and shapes do not depend on the bucket: build one graph to learn them
    if (trainBatches.length > 0) await sessions.get('step', trainBatches[0]!, () => stepGraph(trainBatches[0]!));
    else layers = objective.graph({ indices: [0, 1], length: options.lengthStep }, null).adapter.layers;
    const shapes = new Map(layers.flatMap((l) => [[l.a.name, l.a.shape as number[]] as const, [l.b.name, l.b.shape as number[]] as const]));
    // optimizer moments and gradient sums have their parameter's shape
    const paramOf = (n: string) => n.replace(/\.(exp_avg|exp_avg_sq|grad_accum)$/, '');
    const hostTensor = (name: string, d: Float32Array) => new ort.Tensor('float32', d, shapes.get(paramOf(name))!);
    for (const [name, d] of initialLoraWeights(layers, options.seed)) {
      params.set(name, hostTensor(name, d as Float32Array));
      for (const s of Object.values(optimizerStateNames(name))) state.set(s, hostTensor(s, new Float32Array(d.length)));
    }
    // every optimizer step's gradient sums start from these zeros (uploaded once when resident)
    const zeroSums =
      accumulation > 1 ? await device.uploadPinned(Object.fromEntries([...params].map(([n, t]) => [accumulatorName(n), hostTensor(n, new Float32Array(t.size))]))) : {};

    const steps: StepMetrics[] = [];
    const saved = options.checkpoint;
    const print = fingerprint(options, examples);
    const save = async () => {
      if (!saved) return;
      const weights = await device.read(params);
      // a checkpoint is only ever of a round still worth resuming
      checkFinite(weights, steps.length);
      const tensors = new Map([...weights, ...(await device.read(state))]);
      const stateShapes = new Map([...state.keys()].map((n) => [n, shapes.get(paramOf(n))!]));
      writeCheckpoint(saved.dir, { step: steps.length, fingerprint: print, tensors, history: steps }, new Map([...shapes, ...stateShapes]));
    };
    if (saved?.resume && checkpointExists(saved.dir)) {
      const c = await readCheckpoint(saved.dir);
      if (c.fingerprint !== print) throw new Error(`${saved.dir}: the checkpoint belongs to a round with other options or data; start a new round instead`);
      for (const name of [...params.keys(), ...state.keys()]) {
        const t = c.tensors.get(name);
        if (!t) throw new Error(`${saved.dir}: checkpoint lacks ${name}`);
        (params.has(name) ? params : state).set(name, hostTensor(name, t));
      }
      steps.push(...(c.history as StepMetrics[]));
      steps.forEach((m, k) => objective.observe?.(m, plan[k]!.batches.length));
    }

    hooks.onPlan?.({ totalSteps: total, resumedAfter: steps.length, trainPairs: trainIndices.length, evalPairs: evalIndices.length });
    hooks.onPhase?.({ kind: 'train', pairs: trainIndices.length, steps: total, resumedAfter: steps.length, unit });
    let cancelled = false;
    for (const { epoch, progress, batches } of plan.slice(steps.length)) {
      if (hooks.signal?.aborted) {
        cancelled = true;
        await save();
        break;
      }
      const k = steps.length;
      const before = { ...device.traffic };
      const learningRate = scheduledRate(schedule, k);
      const micro: { metrics: Metrics; batch: Batch }[] = [];
      sums = new Map(batches.length > 1 ? Object.entries(zeroSums) : []);
      let out: ort.InferenceSession.ReturnType = {};
      for (const [j, b] of batches.entries()) {
        const data = { ...device.baseFeeds, ...(await objective.feeds(b, params)), ...Object.fromEntries(params) };
        if (j < batches.length - 1) {
          const session = await sessions.get('accumulate', b, () => stepGraph(b, 'accumulate'));
          out = await device.run(session, { ...data, ...Object.fromEntries(sums) });
          device.advance(sums, out);
        } else {
          const mode: Accumulation | undefined = sums.size > 0 ? 'apply' : undefined;
          const session = await sessions.get(mode ?? 'step', b, () => stepGraph(b, mode));
          out = await device.run(session, {
            ...data,
            ...Object.fromEntries(state),
            ...(mode ? { ...Object.fromEntries(sums), accumulated_batches: scalarFeed(batches.length) } : {}),
            learning_rate: scalarFeed(learningRate),
            step: scalarFeed(k + 1),
          });
        }
        const metrics = Object.fromEntries(objective.metrics.map((m) => [m, scalarOf(out[m])])) as Metrics;
        micro.push({ metrics, batch: b });
        objective.observe?.(metrics);
      }
      device.dispose(sums.values());
      sums.clear();
      device.advance(params, out);
      device.advance(state, out);
      const metrics = meanMetrics(objective, micro, 'train');
      const record: StepMetrics = { step: k + 1, epoch: epoch + progress, ...metrics, grad_norm: scalarOf(out.grad_norm), learning_rate: learningRate };
      if (!Number.isFinite(record.loss)) throw new TrainingDivergedError(k + 1, `loss ${record.loss}`);
      if (!Number.isFinite(record.grad_norm)) throw new TrainingDivergedError(k + 1, `grad_norm ${record.grad_norm}`);
      steps.push(record);
      if (saved && steps.length % saved.every === 0) await save();
      hooks.onHostTraffic?.(k + 1, { fedBytes: device.traffic.fedBytes - before.fedBytes, returnedBytes: device.traffic.returnedBytes - before.returnedBytes });
      hooks.onStep?.(record);
    }

    const trained = await device.read(params);
    checkFinite(trained, steps.length);
    let evalMetrics: Metrics | null = null;
    if (evalIndices.length > 0 && !cancelled) {
      hooks.onPhase?.({ kind: 'eval', pairs: evalIndices.length, unit });
      const runs: { metrics: Metrics; batch: Batch }[] = [];
      for (const b of evalBatches) {
        const session = await sessions.get('eval', b, () => objective.graph(b, null).graph);
        const out = await device.run(session, { ...device.baseFeeds, ...(await objective.feeds(b, params)), ...Object.fromEntries(params) });
        runs.push({ metrics: Object.fromEntries(objective.metrics.map((m) => [m, scalarOf(out[m])])) as Metrics, batch: b });
      }
      evalMetrics = meanMetrics(objective, runs, 'eval');
      if (!Number.isFinite(evalMetrics.loss)) throw new TrainingDivergedError(steps.length, `held-out loss ${evalMetrics.loss}`);
    }
    return { steps, eval: evalMetrics, layers, weights: trained, cancelled, trainPairs: trainIndices.length, evalPairs: evalIndices.length };
  } finally {
    // GPU buffers go before the sessions that allocated them
    device.dispose([...params.values(), ...state.values(), ...sums.values()]);
    await device.release();
    await sessions.release();
  }
}
