/** Messages between the training worker thread and its client. */
import type { RoundOptions, RoundResult } from './round.ts';
import type { StepMetrics, TrainPhase, TrainPlan } from '../dpo/trainer.ts';

export type { TrainPhase } from '../dpo/trainer.ts';

/** 'crash' (tests): the worker exits at its next step boundary without another word, as a killed process would. */
export type ToTrainWorker = { type: 'start'; options: RoundOptions } | { type: 'cancel' } | { type: 'crash' };

export type FromTrainWorker =
  | { type: 'run'; runId: number }
  | { type: 'phase'; phase: TrainPhase }
  | { type: 'plan'; plan: TrainPlan }
  | { type: 'step'; metrics: StepMetrics }
  | { type: 'done'; result: RoundResult }
  | { type: 'error'; message: string; input: boolean };
