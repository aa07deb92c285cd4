/**
 * The full-parameter next-token training loop: batches (batches.ts) → step graph (loss + gradients of every
 * weight) → global-norm clipping and AdamW (train/adamw.ts) with warmup + cosine schedule → periodic held-out loss and
 * checkpoints. A run resumes from its last checkpoint with the same weights, moments, step and data order.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint } from '../engine/hf/checkpoint.ts';
import type { ModelConfig, WeightSource } from '../engine/hf/types.ts';
import { AdamW, type AdamWConfig, type AdamWParameter } from '../train/adamw.ts';
import { type Schedule, learningRate } from '../train/schedule.ts';
import { type Batch, type BatchSettings, type FimIds, type TokenCorpus, evaluationBatches, makeBatch } from './batches.ts';
import { type GraphWeight, type TrainerState, readResumeState, saveModel, saveTrainingCheckpoint } from './checkpointFiles.ts';
import { type ModelShape, initialWeights, modelConfigOf } from './modelShape.ts';
import { StepSession } from './stepSession.ts';

/** The batch settings (rows, FIM mix, seed of the data order) and what shapes the model and its updates. */
export interface PretrainRecipe extends BatchSettings {
  shape: ModelShape;
  /** warmup + cosine decay (saved in the recipe as it always was: without the decay kind) */
  schedule: Omit<Schedule, 'decay'>;
  adamw: AdamWConfig;
  headChunks: number;
  evalEvery: number;
  evalBatches: number;
  checkpointEvery: number;
}

export interface PretrainPaths {
  /** run folder: last/ (resumable), best/ (lowest held-out loss), graphs/ */
  outDir: string;
  tokenizerDir: string;
}

export interface StepLog {
  step: number;
  loss: number;
  grad_norm: number;
  learning_rate: number;
  tokens_per_s: number;
  tokens_seen: number;
  heldout_loss?: number;
}

export interface PretrainData {
  train: TokenCorpus;
  heldout: TokenCorpus;
  fim: FimIds;
  /** prepared whole examples mixed in at `recipe.exampleRate` (e.g. statement-middle FIM examples) */
  examples?: TokenCorpus;
}

export interface PretrainOptions {
  /** stop after this many steps in this call (the schedule still spans recipe.schedule.totalSteps) */
  maxSteps?: number;
  /** stop when this wall-clock time (ms since epoch) is reached, after saving a checkpoint */
  deadline?: number;
  resume?: boolean;
  threads?: number;
  /** start a new run from this checkpoint's weights instead of random init (continued pretraining) */
  initFrom?: string;
  /** execution provider of the step and evaluation sessions */
  device?: 'cpu' | 'webgpu';
  onLog?: (log: StepLog) => void;
}

/** The recipe fields that must match to resume a run. */
function recipeKey(r: PretrainRecipe, initFrom?: string): Record<string, unknown> {
  return { shape: r.shape, batch: r.batch, seq: r.seq, fimRate: r.fimRate, ...(r.lineFimRate ? { lineFimRate: r.lineFimRate } : {}), ...(r.fimMaxLines ? { fimMaxLines: r.fimMaxLines } : {}), ...(r.exampleRate ? { exampleRate: r.exampleRate } : {}), seed: r.seed, schedule: r.schedule, ...(initFrom ? { initFrom } : {}) };
}

export class Pretrainer {
  readonly config: ModelConfig;
  readonly recipe: PretrainRecipe;
  readonly paths: PretrainPaths;
  readonly data: PretrainData;
  readonly weights: GraphWeight[];
  readonly optimizer: AdamW;
  state: TrainerState;
  private readonly trainSession: StepSession;
  private readonly evalSession: StepSession;
  private readonly evalSet: Batch[];

  private constructor(init: {
    config: ModelConfig;
    recipe: PretrainRecipe;
    paths: PretrainPaths;
    data: PretrainData;
    weights: GraphWeight[];
    optimizer: AdamW;
    state: TrainerState;
    trainSession: StepSession;
    evalSession: StepSession;
  }) {
    this.config = init.config;
    this.recipe = init.recipe;
    this.paths = init.paths;
    this.data = init.data;
    this.weights = init.weights;
    this.optimizer = init.optimizer;
    this.state = init.state;
    this.trainSession = init.trainSession;
    this.evalSession = init.evalSession;
    this.evalSet = evaluationBatches(init.data.heldout, init.recipe.batch, init.recipe.seq, init.recipe.evalBatches);
  }

  get lastDir(): string {
    return join(this.paths.outDir, 'last');
  }

  get bestDir(): string {
    return join(this.paths.outDir, 'best');
  }

  static async open(recipe: PretrainRecipe, paths: PretrainPaths, data: PretrainData, options: PretrainOptions = {}): Promise<Pretrainer> {
    const config = modelConfigOf(recipe.shape, { endOfText: data.fim.endOfText, pad: data.fim.pad });
    const lastDir = join(paths.outDir, 'last');
    const resuming = options.resume === true && existsSync(join(lastDir, 'trainer_state.json'));
    let source: WeightSource = options.initFrom ? (await loadCheckpoint(options.initFrom)).weights : initialWeights(config, recipe.seed);
    const optimizer = new AdamW(recipe.adamw, options.threads ?? 0);
    let state: TrainerState = { step: 0, seed: recipe.seed, tokensSeen: 0, recipe: recipeKey(recipe, options.initFrom), history: [] };
    if (resuming) {
      const resumed = await readResumeState(lastDir);
      if (JSON.stringify(resumed.state.recipe) !== JSON.stringify(recipeKey(recipe, options.initFrom))) {
        throw new Error(`${lastDir}: the checkpoint was trained with a different recipe (${JSON.stringify(resumed.state.recipe)}); start a new --out folder`);
      }
      source = (await loadCheckpoint(lastDir)).weights;
      state = resumed.state;
      for (const [name, m] of resumed.moments) optimizer.moments.set(name, m);
      optimizer.steps = resumed.adamSteps;
    }
    const graphs = join(paths.outDir, 'graphs');
    const common = { batch: recipe.batch, seq: recipe.seq, headChunks: recipe.headChunks };
    const trainSession = await StepSession.open(config, source, { ...common, withGradients: true }, graphs, options.threads ?? 0, options.device);
    const evalSession = await StepSession.open(config, source, { ...common, withGradients: false }, graphs, options.threads ?? 0, options.device);
    const weights = trainSession.weights.map((w) => ({ name: w.name, shape: w.shape, transposed: w.transposed, value: Float32Array.from(w.initial) }));
    return new Pretrainer({ config, recipe, paths, data, weights, optimizer, state, trainSession, evalSession });
  }

  private values(): Map<string, Float32Array> {
    return new Map(this.weights.map((w) => [w.name, w.value]));
  }

  /** Mean held-out NLL (nats/token) over the fixed evaluation windows. */
  async heldoutLoss(): Promise<number> {
    if (this.evalSet.length === 0) throw new Error('pretraining: the held-out split is shorter than one evaluation batch');
    const values = this.values();
    let sum = 0;
    for (const batch of this.evalSet) sum += (await this.evalSession.run(batch, values)).loss;
    return sum / this.evalSet.length;
  }

  /** Loss of training batch `index` at the current weights, without updating (reproducibility checks). */
  async batchLoss(index: number): Promise<number> {
    const batch = makeBatch(this.data.train, this.recipe, index, this.data.fim, this.data.examples);
    return (await this.evalSession.run(batch, this.values())).loss;
  }

  /** One update; returns its log line. */
  async step(): Promise<StepLog> {
    const started = performance.now();
    const index = this.state.step;
    const batch = makeBatch(this.data.train, this.recipe, index, this.data.fim, this.data.examples);
    const { loss, grads } = await this.trainSession.run(batch, this.values());
    if (!Number.isFinite(loss)) throw new Error(`pretraining: loss is ${loss} at step ${index}`);
    const lr = learningRate({ decay: 'cosine', ...this.recipe.schedule }, index);
    const params: AdamWParameter[] = this.weights.map((w) => ({ name: w.name, value: w.value, decay: w.shape.length === 2 }));
    const gradNorm = await this.optimizer.update(params, grads, lr);
    const tokens = this.recipe.batch * this.recipe.seq;
    this.state.step++;
    this.state.tokensSeen += tokens;
    return { step: this.state.step, loss, grad_norm: gradNorm, learning_rate: lr, tokens_per_s: tokens / ((performance.now() - started) / 1000), tokens_seen: this.state.tokensSeen };
  }

  saveCheckpoint(): void {
    saveTrainingCheckpoint(this.lastDir, this.modelFiles(), this.state, this.optimizer.moments, this.optimizer.steps);
  }

  modelFiles() {
    return { config: this.config, weights: this.weights, tokenizerDir: this.paths.tokenizerDir };
  }

  /** Trains until the schedule ends, maxSteps, or the deadline; evaluates and checkpoints on the recipe's cadence. */
  async run(options: PretrainOptions = {}): Promise<void> {
    const { recipe } = this;
    const stopAt = Math.min(recipe.schedule.totalSteps, this.state.step + (options.maxSteps ?? Infinity));
    let best = Math.min(Infinity, ...this.state.history.flatMap((h) => (h.heldoutLoss === undefined ? [] : [h.heldoutLoss])));
    while (this.state.step < stopAt) {
      const log = await this.step();
      const evaluate = log.step % recipe.evalEvery === 0 || log.step === stopAt;
      if (evaluate) log.heldout_loss = await this.heldoutLoss();
      this.state.history.push({ step: log.step, loss: log.loss, ...(log.heldout_loss === undefined ? {} : { heldoutLoss: log.heldout_loss }) });
      options.onLog?.(log);
      const pastDeadline = options.deadline !== undefined && Date.now() >= options.deadline;
      if (log.step % recipe.checkpointEvery === 0 || log.step === stopAt || pastDeadline) this.saveCheckpoint();
      if (log.heldout_loss !== undefined && log.heldout_loss < best) {
        best = log.heldout_loss;
        saveModel(this.bestDir, { ...this.modelFiles(), extraFiles: { 'trainer_state.json': `${JSON.stringify({ step: log.step, heldoutLoss: best, tokensSeen: this.state.tokensSeen }, null, 2)}\n` } });
      }
      if (pastDeadline) break;
    }
  }

  async close(): Promise<void> {
    await this.trainSession.release();
    await this.evalSession.release();
    await this.optimizer.release();
  }
}
