/** The trainer's side of the loss family: BCO's δ kept on the host, and its state across a resume. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import { ADAMW_DEFAULTS } from '../../../src/train/adamw.ts';
import type { PreferenceExample } from '../../../src/dpo/examples.ts';
import { type TrainOptions, trainDpo } from '../../../src/dpo/trainer.ts';

const config = llamaConfig({ vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24 });

function task(pairs: number, seed: number): PreferenceExample[] {
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % 30) + 10;
  return Array.from({ length: pairs }, () => {
    const prompt = [next(), next(), next()];
    const middle = [next(), next()];
    return { prompt, chosen: [...middle, 7], rejected: [...middle, 9] };
  });
}

const options: TrainOptions = {
  loss: { type: 'bco_pair', beta: 0.5 },
  lora: { rank: 4, alpha: 8 },
  optimizer: ADAMW_DEFAULTS,
  learningRate: 5e-2,
  warmupRatio: 0,
  epochs: 2,
  pairsPerStep: 1,
  lengthStep: 4,
  maxLength: 16,
  evalFraction: 0,
  seed: 1,
  padId: 0,
  headChunks: 2,
};

const logSig = (x: number) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));

test('bco_pair: each step’s δ is the mean of the earlier steps’ mean rewards', async () => {
  // one pair per step: the step's reward metrics are that pair's rewards
  const { steps } = await trainDpo(config, randomWeights(config, 5, 0.2), task(5, 3), options);
  assert.equal(steps.length, 10);
  let sum = 0;
  steps.forEach((m, k) => {
    const delta = k === 0 ? 0 : sum / k;
    const want = -logSig(m['rewards/chosen'] - delta) - logSig(-(m['rewards/rejected'] - delta));
    assert.ok(Math.abs(m.loss - want) < 1e-5 * Math.max(1, want), `step ${k + 1}: loss ${m.loss} vs ${want} (δ ${delta})`);
    sum += (m['rewards/chosen'] + m['rewards/rejected']) / 2;
  });
  assert.ok(steps.some((m) => Math.abs(m['rewards/chosen'] + m['rewards/rejected']) > 1e-3), 'the rewards moved, so δ did');
});

test('bco_pair: a round resumed from its checkpoint rebuilds δ and ends like an uninterrupted one', async () => {
  const pairs = task(4, 7);
  const dir = mkdtempSync(join(tmpdir(), 'prefer-bco-'));
  try {
    const whole = await trainDpo(config, randomWeights(config, 5, 0.2), pairs, options);
    const checkpoint = { dir: join(dir, 'ckpt'), every: 2, resume: true };
    const controller = new AbortController();
    await trainDpo(config, randomWeights(config, 5, 0.2), pairs, { ...options, checkpoint }, { signal: controller.signal, onStep: (m) => m.step === 5 && controller.abort() });
    const resumed = await trainDpo(config, randomWeights(config, 5, 0.2), pairs, { ...options, checkpoint });
    assert.deepEqual(resumed.steps, whole.steps);
    assert.deepEqual([...resumed.weights], [...whole.weights]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
