import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import { ADAMW_DEFAULTS } from '../../../src/train/adamw.ts';
import type { PreferenceExample } from '../../../src/dpo/examples.ts';
import { type TrainPhase, type TrainPlan, trainDpo } from '../../../src/dpo/trainer.ts';
import { describePhase, describeStep, heldOutAccuracy, unreliableMetricsWarning } from '../../../src/rounds/phases.ts';

describe("a round's progress in the user's words", () => {
  it('names each phase without internal keys', () => {
    assert.equal(describePhase({ kind: 'reference', pairs: 13 }), 'Scoring 13 pairs with the base model');
    assert.equal(describePhase({ kind: 'compile', graph: 'reference', pairs: 2, tokens: 160 }), 'Preparing the scoring graph for 2 pairs of 160 tokens');
    assert.equal(describePhase({ kind: 'compile', graph: 'apply', pairs: 1, tokens: 192 }), 'Preparing the training graph for 1 pair of 192 tokens');
    assert.equal(describePhase({ kind: 'train', pairs: 12, steps: 4, resumedAfter: 0 }), 'Training on 12 pairs: 4 steps');
    assert.equal(describePhase({ kind: 'train', pairs: 12, steps: 4, resumedAfter: 2 }), 'Training on 12 pairs: 4 steps, resuming after step 2');
    assert.equal(describePhase({ kind: 'eval', pairs: 1 }), 'Checking the adapter on 1 held-out pair');
    // KTO counts completions judged on their own, not pairs
    assert.equal(describePhase({ kind: 'reference', pairs: 26, unit: 'example' }), 'Scoring 26 examples with the base model');
    assert.equal(describePhase({ kind: 'eval', pairs: 1, unit: 'example' }), 'Checking the adapter on 1 held-out example');
    assert.equal(describeStep(2, 4), 'Step 2 of 4');
    assert.equal(describeStep(2, null), 'Step 2');
  });

  it('warns below 32 pairs or 8 held out, and not from there on', () => {
    assert.match(unreliableMetricsWarning(12, 1)!, /^Metrics are unreliable: 13 pairs, 1 held out/);
    assert.match(unreliableMetricsWarning(100, 7)!, /107 pairs, 7 held out/);
    assert.match(unreliableMetricsWarning(31, 0)!, /unreliable/);
    assert.match(unreliableMetricsWarning(20, 4, 'example')!, /^Metrics are unreliable: 24 examples, 4 held out \(reliable from 32 examples/);
    assert.equal(unreliableMetricsWarning(24, 8), undefined);
    assert.equal(unreliableMetricsWarning(1080, 120), undefined);
  });

  it('gives held-out accuracy with its n and a 95 % interval', () => {
    assert.equal(heldOutAccuracy(1, 1), 'held-out accuracy 100 % of 1 (95 % interval 21–100 %)');
    assert.equal(heldOutAccuracy(0.75, 8), 'held-out accuracy 75 % of 8 (95 % interval 41–93 %)');
  });
});

describe('what a round reports while it runs', () => {
  const config = llamaConfig({ vocabSize: 40, hiddenSize: 16, numLayers: 1, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24 });
  // prompts of two lengths: two buckets, so more batches than pairs / pairsPerStep (the estimate that grew 3 → 4)
  const pairs: PreferenceExample[] = Array.from({ length: 13 }, (_, i) => ({
    prompt: Array.from({ length: i % 2 === 0 ? 2 : 9 }, (_, k) => 10 + ((i + k) % 20)),
    chosen: [11, 7],
    rejected: [11, 9],
  }));
  const options = {
    loss: { type: 'sigmoid', beta: 0.1 },
    lora: { rank: 2, alpha: 4 },
    optimizer: ADAMW_DEFAULTS,
    learningRate: 1e-2,
    warmupRatio: 0,
    epochs: 1,
    pairsPerStep: 4,
    lengthStep: 4,
    maxLength: 16,
    evalFraction: 0.1,
    seed: 3,
    padId: 0,
  } as const;

  it('plans its real total before the first step and keeps to it; phases in order', async () => {
    const events: (TrainPhase | TrainPlan | { step: number })[] = [];
    const result = await trainDpo(config, randomWeights(config, 5, 0.2), pairs, options, {
      onPhase: (p) => events.push(p),
      onPlan: (p) => events.push(p),
      onStep: (m) => events.push({ step: m.step }),
    });
    const plans = events.filter((e): e is TrainPlan => 'totalSteps' in e);
    assert.equal(plans.length, 1, 'one plan');
    assert.deepEqual(plans[0], { totalSteps: result.steps.length, resumedAfter: 0, trainPairs: 12, evalPairs: 1 });
    assert.ok(result.steps.length > Math.ceil(12 / 4), `bucketing adds batches (${result.steps.length} steps)`);
    const firstStep = events.findIndex((e) => 'step' in e);
    assert.ok(events.indexOf(plans[0]!) < firstStep, 'the total is known before the first step');
    const kinds = events.filter((e): e is TrainPhase => 'kind' in e && e.kind !== 'compile').map((e) => e.kind);
    assert.deepEqual(kinds, ['reference', 'train', 'eval']);
    const compiled = events.filter((e): e is Extract<TrainPhase, { kind: 'compile' }> => 'kind' in e && e.kind === 'compile');
    assert.ok(compiled.some((c) => c.graph === 'reference') && compiled.some((c) => c.graph === 'step'));
    assert.ok(events.every((e) => !('kind' in e) || !describePhase(e).includes(':2x')), 'no internal session keys');
  });
});
