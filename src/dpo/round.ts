/**
 * One DPO round end to end, the same for the CLI and the extension's worker thread: pairs (from the store or
 * given), tokenized for the base model; LoRA-DPO training with metrics recorded in the store; the adapter
 * saved in PEFT format and registered as the next version.
 */
import { loadCheckpoint } from '../engine/hf/checkpoint.ts';
import { CheckpointTokenizer } from '../engine/hf/tokenizer.ts';
import { type PairFilter, openStore } from '../store/store.ts';
import { saveAdapter } from './adapterFiles.ts';
import { removeCheckpoint } from './checkpoint.ts';
import { type PairText, type PreferenceExample, tokenizePair } from './examples.ts';
import { ADAMW_DEFAULTS } from './optimizer.ts';
import { type Metrics, type StepMetrics, type TrainHooks, type TrainOptions, trainDpo } from './trainer.ts';

/** A problem with the round's inputs (no pairs, a pair that does not fit): the caller's to fix. */
export class RoundInputError extends Error {}

export interface RoundOptions {
  modelDir: string;
  outDir: string;
  /** Train on the store's pairs (with `filter`), recording the run and the adapter there… */
  database?: string | undefined;
  filter?: PairFilter | undefined;
  /** …or on these pairs. */
  pairs?: readonly PairText[] | undefined;
  /** Everything but padId, which comes from the model's tokenizer. */
  training: Omit<TrainOptions, 'padId'>;
}

export interface RoundResult {
  eval: Metrics | null;
  adapter: string;
  /** The adapter's version and id in the store (store-backed rounds). */
  version?: number | undefined;
  adapterId?: number | undefined;
  cancelled: boolean;
  steps: number;
  trainPairs: number;
  evalPairs: number;
}

export async function runRound(options: RoundOptions, hooks: TrainHooks = {}): Promise<RoundResult> {
  const { modelDir, outDir, training } = options;
  const store = options.database === undefined ? null : openStore(options.database);
  try {
    const texts: PairText[] = options.pairs
      ? [...options.pairs]
      : [...store!.iteratePairs(options.filter ?? {})];
    const source = options.database ?? 'the given pairs';
    if (texts.length === 0) throw new RoundInputError(`${source}: no preference pairs to train on`);
    const checkpoint = await loadCheckpoint(modelDir);
    const tokenizer = await CheckpointTokenizer.fromDir(modelDir);
    const trainOptions: TrainOptions = {
      ...training,
      padId: tokenizer.padTokenId ?? tokenizer.eosTokenIds[0] ?? 0,
    };
    const maxLength = Math.min(training.maxLength, checkpoint.config.maxPositions);
    const examples: PreferenceExample[] = texts.map((t, i) => {
      try {
        return tokenizePair(tokenizer, t, maxLength);
      } catch (e) {
        throw new RoundInputError(`pair ${i + 1}: ${(e as Error).message}`);
      }
    });
    const runId = store?.startTrainingRun({
      baseModelHash: checkpoint.hash,
      config: { ...trainOptions, model: modelDir },
    });
    let result;
    try {
      result = await trainDpo(checkpoint.config, checkpoint.weights, examples, trainOptions, {
        ...hooks,
        onStep: (m: StepMetrics) => {
          const { step, epoch: _epoch, ...metrics } = m;
          if (runId !== undefined) store!.recordTrainingStep(runId, 'train', step, metrics);
          hooks.onStep?.(m);
        },
      });
    } catch (e) {
      if (runId !== undefined) store!.finishTrainingRun(runId, 'failed');
      throw e;
    }
    saveAdapter(outDir, trainOptions.lora, result.layers, result.weights, {
      baseModelHash: checkpoint.hash,
      baseModelPath: modelDir,
      fanInFanOut: checkpoint.config.family === 'gpt2',
      trainPairs: result.trainPairs,
      evalPairs: result.evalPairs,
      steps: result.steps.length,
      loss: trainOptions.loss,
      eval: result.eval,
      createdAt: new Date().toISOString(),
    });
    if (!result.cancelled && training.checkpoint) removeCheckpoint(training.checkpoint.dir);
    let version: number | undefined;
    let adapterId: number | undefined;
    if (store && runId !== undefined) {
      if (result.eval) store.recordTrainingStep(runId, 'eval', result.steps.length, result.eval);
      const adapter = store.registerAdapter({
        path: outDir,
        baseModelHash: checkpoint.hash,
        pairCount: examples.length,
        metrics: result.eval ?? {},
      });
      version = adapter.version;
      adapterId = adapter.id;
      store.finishTrainingRun(runId, result.cancelled ? 'cancelled' : 'done', adapter.id);
    }
    return {
      eval: result.eval,
      adapter: outDir,
      version,
      adapterId,
      cancelled: result.cancelled,
      steps: result.steps.length,
      trainPairs: result.trainPairs,
      evalPairs: result.evalPairs,
    };
  } finally {
    store?.close();
  }
}

/** The defaults of a round, shared by `prefer train` and the extension's Train DPO Round. */
export function defaultTraining(overrides: Partial<RoundOptions['training']> = {}): RoundOptions['training'] {
  const rank = overrides.lora?.rank ?? 16;
  return {
    loss: { type: 'sigmoid', beta: 0.1, labelSmoothing: 0 },
    lora: { rank, alpha: 2 * rank, rsLora: false },
    optimizer: ADAMW_DEFAULTS,
    learningRate: 5e-5,
    warmupRatio: 0.1,
    epochs: 1,
    pairsPerStep: 4,
    lengthStep: 32,
    maxLength: 512,
    evalFraction: 0.1,
    seed: 0,
    headChunks: 8,
    device: 'cpu',
    threads: 0,
    ...overrides,
  };
}
