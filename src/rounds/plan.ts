/**
 * Planning a round before it runs: which pairs, which options, where its adapter and its checkpoint go, and
 * how many steps to expect. `prefer train` keeps the checkpoint beside the adapter it names; the editor keeps
 * one adapter folder and one checkpoint folder per round under its storage, both named by the round's start.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type DpoLossType, trainsUnpaired } from '../dpo/losses.ts';
import type { PairFilter, Store } from '../store/store.ts';
import { type RoundTraining, type TrainingValues, defaultTraining, editorLabelSmoothing, trainingFrom } from './options.ts';
import type { InterruptedRound } from './resume.ts';

/** Where `prefer train` checkpoints a round into OUT: beside it (not inside it, whatever slash ends OUT). */
export const checkpointBeside = (outDir: string): string => `${outDir.replace(/(.)[\\/]+$/, '$1')}.checkpoint`;

/** `prefer train`'s round: the options given, checkpointed beside the adapter, removed once it is saved. */
export function commandLineTraining(values: TrainingValues, outDir: string): RoundTraining {
  return {
    ...trainingFrom(values),
    checkpoint: { dir: checkpointBeside(outDir), every: values['checkpoint-every'], resume: values.resume },
  };
}

/** The editor's folders of round checkpoints, under its storage folder. */
export const checkpointsRoot = (storage: string): string => join(storage, 'checkpoints');

const adapterDir = (storage: string, stamp: string) => join(storage, 'adapters', stamp);

/** A folder name from the time a round starts. */
const startStamp = (started: Date) => started.toISOString().replace(/[:.]/g, '-');

/** Which stored pairs a round from the editor trains on. */
export type PairRange = 'all' | 'since-adapter' | 'last-week';

export function pairFilter(range: PairRange, store: Store, now = Date.now()): PairFilter {
  if (range === 'last-week') return { since: new Date(now - 7 * 86_400_000).toISOString() };
  if (range === 'since-adapter') {
    const active = store.activeAdapter();
    return active ? { since: active.createdAt } : {};
  }
  return {};
}

/** One round as the editor runs it: a new one, or an interrupted one resumed. */
export interface RoundPlan {
  modelDir: string;
  outDir: string;
  filter?: PairFilter | undefined;
  training: RoundTraining;
  /** Optimizer steps of the round (an estimate until the trainer has planned them). */
  totalSteps: number;
  /** The round in one line, for the dashboard and the log. */
  details: string;
  resume?: InterruptedRound | undefined;
}

/** What the user chose for a new round in the editor. */
export interface NewRound {
  range: PairRange;
  filter: PairFilter;
  /** Pairs the filter selects now. */
  pairs: number;
  loss: DpoLossType;
  beta: number;
  epochs: number;
  /** Overrides for the trainer (tests use small ranks and lengths). */
  training?: Partial<RoundTraining> | undefined;
}

/** Optimizer steps of a round on `pairs` pairs, before the trainer has planned them (KTO trains on both halves of each). */
export const estimatedSteps = (pairs: number, training: RoundTraining): number =>
  Math.ceil(((trainsUnpaired(training.loss) ? 2 : 1) * pairs * (1 - training.evalFraction)) / training.pairsPerStep) * training.epochs;

/** A new round from the editor; `checkpointEvery` 0 for none. */
export function planNewRound(storage: string, modelDir: string, round: NewRound, checkpointEvery: number, started = new Date()): RoundPlan {
  const { loss, beta, epochs, pairs, range } = round;
  const training = defaultTraining({
    loss: { type: loss, beta, labelSmoothing: editorLabelSmoothing(loss) },
    epochs,
    ...round.training,
  });
  // the adapter and the checkpoint folders share the round's start time
  const stamp = startStamp(started);
  if (checkpointEvery > 0) training.checkpoint = { dir: join(checkpointsRoot(storage), stamp), every: checkpointEvery, resume: false };
  return {
    modelDir,
    outDir: adapterDir(storage, stamp),
    filter: round.filter,
    training,
    totalSteps: estimatedSteps(pairs, training),
    details: `${pairs} pairs (${range}) · ${loss} loss · β ${beta} · ${epochs} epoch(s) · LoRA r ${training.lora.rank}`,
  };
}

/** An interrupted round resumed from the editor: its own options, so it trains exactly as it began. */
export function planResumedRound(storage: string, round: InterruptedRound, checkpointEvery: number, started = new Date()): RoundPlan {
  const { record } = round;
  const training = record.training as RoundTraining;
  // only how often it checkpoints is today's
  const every = checkpointEvery || Number.MAX_SAFE_INTEGER;
  // a cancelled round registered its partial adapter in outDir: the finished one gets a folder of its own
  const outDir = existsSync(record.outDir) ? adapterDir(storage, startStamp(started)) : record.outDir;
  return {
    modelDir: record.modelDir,
    outDir,
    training: { ...training, checkpoint: { dir: round.dir, every, resume: true } },
    totalSteps: record.totalSteps ?? round.step,
    details: `resuming round ${round.runId} after step ${round.step} · ${record.pairIds?.length ?? '?'} pairs · ${training.loss.type} loss · β ${training.loss.beta} · LoRA r ${training.lora.rank}`,
    resume: round,
  };
}
