/**
 * A round's progress in the user's words, the same in the editor's dashboard and notification and on the CLI's
 * stderr: what the trainer is doing, which step of how many, and whether its metrics can be trusted yet.
 */
import { rateInWords } from '../dpo/interval.ts';
import type { ExampleUnit } from '../dpo/losses.ts';
import type { GraphKind, TrainPhase } from '../dpo/trainer.ts';

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const GRAPH_PURPOSE: Record<GraphKind, string> = {
  reference: 'scoring',
  step: 'training',
  accumulate: 'training',
  apply: 'training',
  eval: 'held-out',
  kl: 'KL estimate',
};

export function describePhase(phase: TrainPhase): string {
  const unit = phase.unit ?? 'pair';
  switch (phase.kind) {
    case 'reference':
      return `Scoring ${plural(phase.pairs, unit)} with the base model`;
    case 'compile':
      return `Preparing the ${GRAPH_PURPOSE[phase.graph]} graph for ${plural(phase.pairs, unit)} of ${phase.tokens} tokens`;
    case 'train':
      return `Training on ${plural(phase.pairs, unit)}: ${plural(phase.steps, 'step')}${phase.resumedAfter > 0 ? `, resuming after step ${phase.resumedAfter}` : ''}`;
    case 'eval':
      return `Checking the adapter on ${plural(phase.pairs, `held-out ${unit}`)}`;
  }
}

/** "Step 2 of 4"; no total until the trainer has planned the round, so the total never changes on screen. */
export const describeStep = (step: number, totalSteps: number | null): string =>
  totalSteps === null ? `Step ${step}` : `Step ${step} of ${totalSteps}`;

/** Below these, a round's loss and accuracy say more about which pairs were drawn than about the adapter. */
export const RELIABLE_PAIRS = 32;
export const RELIABLE_HELD_OUT = 8;

/** A warning when the round has too few pairs, or too few held out, for its metrics to mean much; else undefined. */
export function unreliableMetricsWarning(trainPairs: number, evalPairs: number, unit: ExampleUnit = 'pair'): string | undefined {
  const pairs = trainPairs + evalPairs;
  if (pairs >= RELIABLE_PAIRS && evalPairs >= RELIABLE_HELD_OUT) return undefined;
  return (
    `Metrics are unreliable: ${plural(pairs, unit)}, ${evalPairs} held out ` +
    `(reliable from ${RELIABLE_PAIRS} ${unit}s with ${RELIABLE_HELD_OUT} held out). Compare more completions before trusting them.`
  );
}

/** "held-out accuracy 100 % of 1 (95 % interval 21–100 %)"; `accuracy` is the share of held-out pairs ranked right. */
export function heldOutAccuracy(accuracy: number, evalPairs: number): string {
  return `held-out accuracy ${rateInWords(Math.round(accuracy * evalPairs), evalPairs)}`;
}
