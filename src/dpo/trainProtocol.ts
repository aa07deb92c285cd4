/** Messages between the training worker thread and its client. */
import type { RoundOptions, RoundResult } from './round.ts';
import type { StepMetrics } from './trainer.ts';

export type TrainPhase = 'compile' | 'reference' | 'train' | 'eval';

export type ToTrainWorker = { type: 'start'; options: RoundOptions } | { type: 'cancel' };

export type FromTrainWorker =
  | { type: 'phase'; phase: TrainPhase; detail: string }
  | { type: 'step'; metrics: StepMetrics }
  | { type: 'done'; result: RoundResult }
  | { type: 'error'; message: string; input: boolean };
