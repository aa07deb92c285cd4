/**
 * One DPO round end to end, the same for the CLI and the extension's worker thread: pairs (from the store or
 * given), tokenized for the base model; LoRA-DPO training with metrics recorded in the store; the adapter
 * saved in PEFT format and registered as the next version. With a checkpoint folder, the round's record is
 * kept there beside the trainer's state, and a resumed round continues the same store run on the same pairs.
 */
import { hostname } from 'node:os';
import { saveAdapter } from '../dpo/adapterFiles.ts';
import { type RoundRecord, checkpointStep, removeCheckpoint, writeRoundRecord } from '../dpo/checkpoint.ts';
import { type FeedbackText, type PairText, tokenizeFeedback, tokenizePair, unpairedFromPair } from '../dpo/examples.ts';
import {
  type Metrics,
  type StepMetrics,
  type TrainHooks,
  type TrainOptions,
  type TrainingExamples,
  TrainingDivergedError,
  trainDpo,
} from '../dpo/trainer.ts';
import { trainsUnpaired } from '../dpo/losses.ts';
import { loadCheckpoint } from '../engine/hf/checkpoint.ts';
import { familyOf } from '../engine/models/families.ts';
import { HELD_OUT_PAIRS, type PairFilter, type Store, type TrainingRunOwner, openStore } from '../store/store.ts';
import type { RoundTraining } from './options.ts';
import { RoundInputError, checkLoraFits, checkRoundPaths, samePath } from './roundChecks.ts';

export { RoundInputError } from './roundChecks.ts';

export interface RoundOptions {
  modelDir: string;
  outDir: string;
  /** Train on the store's pairs (with `filter`), recording the run and the adapter there… */
  database?: string | undefined;
  filter?: PairFilter | undefined;
  /** …or on these pairs. */
  pairs?: readonly PairText[] | undefined;
  /**
   * Everything but padId, which comes from the model's tokenizer. `checkpoint.resume` with a folder holding a
   * round record continues that round: its store run and its pairs (the filter is not asked again).
   */
  training: RoundTraining;
}

export interface RoundHooks extends TrainHooks {
  /** The store run the round records into, as soon as it is started (or reopened, when resuming). */
  onRun?(runId: number): void;
}

export interface RoundResult {
  eval: Metrics | null;
  adapter: string;
  /** The adapter's version and id in the store (store-backed rounds). */
  version?: number | undefined;
  adapterId?: number | undefined;
  runId?: number | undefined;
  cancelled: boolean;
  steps: number;
  /** The step a resumed round started after (0 for a fresh round). */
  resumedAfter: number;
  trainPairs: number;
  evalPairs: number;
}

/** This process, as the owner of the store runs it trains. */
export function thisProcess(): TrainingRunOwner {
  return { host: hostname(), pid: process.pid };
}

/** Whether a run's owner may still be training: a process on another host cannot be checked, so it may. */
export function processAlive(owner: TrainingRunOwner): boolean {
  if (owner.host !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The recorded pairs, in the recorded order; pairs gone from the store make the round impossible to resume. */
function pairsById(store: Store, ids: readonly number[], dir: string): PairText[] {
  const found = store.pairsByIds(ids);
  if (found.length < ids.length) {
    throw new RoundInputError(
      `${dir}: ${ids.length - found.length} of the round's ${ids.length} pairs are no longer in the store`,
    );
  }
  return found;
}

/** The round's pairs: those given, the resumed round's, or the store's that pass the filter (with their ids). */
function roundPairs(
  options: RoundOptions,
  store: Store | null,
  record: RoundRecord | undefined,
): { pairIds: number[] | null; texts: PairText[] } {
  if (options.pairs) return { pairIds: null, texts: [...options.pairs] };
  if (record?.pairIds) return { pairIds: record.pairIds, texts: pairsById(store!, record.pairIds, options.training.checkpoint!.dir) };
  const stored = [...store!.iteratePairs(options.filter ?? {})];
  return { pairIds: stored.map((p) => p.id), texts: stored };
}

/**
 * KTO's examples: each pair split into its desirable and undesirable completion, and the completions judged on
 * their own (the store's feedback, resumed rounds' by their recorded ids). A pair the store made from feedback
 * gives nothing the feedback does not already hold, so repeats are dropped.
 */
function roundFeedback(
  options: RoundOptions,
  store: Store | null,
  record: RoundRecord | undefined,
  pairs: readonly PairText[],
): { feedbackIds: number[] | null; examples: FeedbackText[] } {
  let feedbackIds: number[] | null = null;
  let judged: FeedbackText[] = [];
  if (store && !options.pairs) {
    const stored = record ? [...store.iterateFeedback({})] : [...store.iterateFeedback(options.filter ?? {})];
    const kept = record ? feedbackById(stored, record.feedbackIds ?? [], options.training.checkpoint!.dir) : stored;
    feedbackIds = kept.map((f) => f.id);
    judged = kept;
  }
  const key = (f: FeedbackText) => JSON.stringify([f.prefix, f.suffix, f.completion, f.desirable]);
  const seen = new Set(judged.map(key));
  const fromPairs = pairs.flatMap(unpairedFromPair).filter((f) => !seen.has(key(f)) && seen.add(key(f)));
  return { feedbackIds, examples: [...fromPairs, ...judged] };
}

/** The recorded feedback, in the recorded order; feedback gone from the store makes the round impossible to resume. */
function feedbackById<T extends { id: number }>(stored: readonly T[], ids: readonly number[], dir: string): T[] {
  const byId = new Map(stored.map((f) => [f.id, f]));
  const found = ids.flatMap((id) => byId.get(id) ?? []);
  if (found.length < ids.length) throw new RoundInputError(`${dir}: ${ids.length - found.length} of the round's ${ids.length} judged completions are no longer in the store`);
  return found;
}

export async function runRound(options: RoundOptions, hooks: RoundHooks = {}): Promise<RoundResult> {
  const { modelDir, outDir, training } = options;
  const saved = training.checkpoint;
  // before anything is written or removed: nothing of the user's may be lost to the round
  const { record, replaceAdapter } = checkRoundPaths({ ...options, checkpoint: saved });
  // a fresh round never picks up what an earlier round left in its folder (only Prefer's files are in it)
  if (saved && !saved.resume) removeCheckpoint(saved.dir);
  if (record && !samePath(record.database, options.database)) {
    throw new RoundInputError(
      `${saved!.dir}: the round was trained on ${record.database ?? 'given pairs'}, not ${options.database ?? 'given pairs'}`,
    );
  }
  const store = options.database === undefined ? null : openStore(options.database);
  try {
    const { pairIds, texts } = roundPairs(options, store, record);
    const unpaired = trainsUnpaired(training.loss);
    const { feedbackIds, examples: feedback } = unpaired ? roundFeedback(options, store, record, texts) : { feedbackIds: null, examples: [] };
    const source = options.database ?? 'the given pairs';
    if (unpaired ? feedback.length === 0 : texts.length === 0) throw new RoundInputError(`${source}: no ${unpaired ? 'pairs or judged completions' : 'preference pairs'} to train on`);
    const checkpoint = await loadCheckpoint(modelDir);
    if (record && record.baseModelHash !== checkpoint.hash) {
      throw new RoundInputError(
        `${saved!.dir}: the round was trained on the model in ${record.modelDir}, and ${modelDir} holds other weights`,
      );
    }
    checkLoraFits(checkpoint.config, checkpoint.weights, training.lora, training.baseWeights);
    const { tokenizer } = checkpoint;
    const trainOptions: TrainOptions = {
      ...training,
      padId: tokenizer.padTokenId ?? tokenizer.eosTokenIds[0] ?? 0,
    };
    const maxLength = Math.min(training.maxLength, checkpoint.config.maxPositions);
    const tokenized = <T, E>(items: readonly T[], what: string, tokenize: (t: T) => E): E[] =>
      items.map((t, i) => {
        try {
          return tokenize(t);
        } catch (e) {
          throw new RoundInputError(`${what} ${i + 1}: ${(e as Error).message}`);
        }
      });
    const examples: TrainingExamples = unpaired
      ? tokenized(feedback, 'example', (f) => tokenizeFeedback(tokenizer, f, maxLength))
      : tokenized(texts, 'pair', (t) => tokenizePair(tokenizer, t, maxLength));
    const resumedAfter = saved?.resume ? ((await checkpointStep(saved.dir)) ?? 0) : 0;
    let runId: number | undefined;
    if (store) {
      const recorded = record?.runId == null ? undefined : store.trainingRun(record.runId);
      if (recorded?.status === 'done') {
        throw new RoundInputError(`${saved!.dir}: round ${recorded.id} already finished; remove this folder`);
      }
      if (recorded) {
        runId = recorded.id;
        store.resumeTrainingRun(runId, resumedAfter, thisProcess());
      } else {
        runId = store.startTrainingRun({
          baseModelHash: checkpoint.hash,
          config: { ...trainOptions, model: modelDir },
          owner: thisProcess(),
        });
      }
      hooks.onRun?.(runId);
    }
    let kept: RoundRecord | undefined;
    if (saved) {
      const { checkpoint: _c, ...roundTraining } = training;
      kept = record ?? {
        runId: runId ?? null,
        database: options.database ?? null,
        pairIds,
        ...(feedbackIds ? { feedbackIds } : {}),
        modelDir,
        baseModelHash: checkpoint.hash,
        outDir,
        training: roundTraining,
        totalSteps: null,
        startedAt: new Date().toISOString(),
      };
      kept = { ...kept, runId: runId ?? null };
      writeRoundRecord(saved.dir, kept);
    }
    const reported = new Set<number>();
    let result;
    try {
      result = await trainDpo(checkpoint.config, checkpoint.weights, examples, trainOptions, {
        ...hooks,
        onPlan: (plan) => {
          if (saved && kept && kept.totalSteps !== plan.totalSteps) {
            kept = { ...kept, totalSteps: plan.totalSteps };
            writeRoundRecord(saved.dir, kept);
          }
          hooks.onPlan?.(plan);
        },
        onStep: (m: StepMetrics) => {
          const { step, epoch: _epoch, ...metrics } = m;
          if (runId !== undefined) store!.recordTrainingStep(runId, 'train', step, metrics);
          reported.add(step);
          hooks.onStep?.(m);
        },
      });
      saveAdapter(
        outDir,
        trainOptions.lora,
        result.layers,
        result.weights,
        {
          baseModelHash: checkpoint.hash,
          baseModelPath: modelDir,
          fanInFanOut: familyOf(checkpoint.config).peftFanInFanOut,
          baseWeights: trainOptions.baseWeights ?? 'fp32',
          trainPairs: result.trainPairs,
          evalPairs: result.evalPairs,
          steps: result.steps.length,
          loss: trainOptions.loss,
          eval: result.eval,
          createdAt: new Date().toISOString(),
          // tells this round's partial adapter (saved on a cancel) from anything else when the round resumes
          ...(kept ? { roundStartedAt: kept.startedAt } : {}),
        },
        { replace: replaceAdapter },
      );
    } catch (e) {
      if (runId !== undefined) store!.finishTrainingRun(runId, 'failed');
      // a diverged round cannot be resumed into anything better: its fresh checkpoint folder goes
      if (e instanceof TrainingDivergedError && saved && !saved.resume) removeCheckpoint(saved.dir);
      throw e;
    }
    let version: number | undefined;
    let adapterId: number | undefined;
    if (store && runId !== undefined) {
      // steps that came from the checkpoint (or were saved just before a crash) are recorded here, once
      for (const { step, epoch: _epoch, ...metrics } of result.steps) {
        if (!reported.has(step)) store.recordTrainingStep(runId, 'train', step, metrics);
      }
      if (result.eval) store.recordTrainingStep(runId, 'eval', result.steps.length, result.eval);
      const adapter = store.registerAdapter({
        path: outDir,
        baseModelHash: checkpoint.hash,
        pairCount: examples.length,
        metrics: result.eval ? { ...result.eval, [HELD_OUT_PAIRS]: result.evalPairs } : {},
      });
      version = adapter.version;
      adapterId = adapter.id;
      store.finishTrainingRun(runId, result.cancelled ? 'cancelled' : 'done', adapter.id);
    }
    // only once the run is finished: a crash before this leaves a checkpoint that can still be resumed
    if (!result.cancelled && saved) removeCheckpoint(saved.dir);
    return {
      eval: result.eval,
      adapter: outDir,
      version,
      adapterId,
      runId,
      cancelled: result.cancelled,
      steps: result.steps.length,
      resumedAfter,
      trainPairs: result.trainPairs,
      evalPairs: result.evalPairs,
    };
  } finally {
    store?.close();
  }
}
