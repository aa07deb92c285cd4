import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkpointExists } from '../../../src/dpo/checkpoint.ts';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import { ADAMW_DEFAULTS } from '../../../src/train/adamw.ts';
import type { PreferenceExample } from '../../../src/dpo/examples.ts';
import { type TrainOptions, trainDpo } from '../../../src/dpo/trainer.ts';
import { bucketShape } from '../../../src/dpo/batchRuns.ts';
import { dpoGraph } from '../../../src/dpo/trainingGraph.ts';

const config = llamaConfig({ vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24 });

/** The synthetic preference: after any prompt, completions ending in token 7 beat those ending in token 9. */
function syntheticTask(pairs: number, seed: number): PreferenceExample[] {
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % 30) + 10;
  return Array.from({ length: pairs }, () => {
    const prompt = Array.from({ length: 3 + (next() % 3) }, next);
    const middle = [next(), next()];
    return { prompt, chosen: [...middle, 7], rejected: [...middle, 9] };
  });
}

const options: TrainOptions = {
  loss: { type: 'sigmoid', beta: 0.1 },
  lora: { rank: 4, alpha: 8 },
  optimizer: ADAMW_DEFAULTS,
  learningRate: 2e-2,
  warmupRatio: 0.1,
  epochs: 3,
  pairsPerStep: 4,
  lengthStep: 4,
  maxLength: 16,
  evalFraction: 0.25,
  seed: 1,
  padId: 0,
  headChunks: 2,
};

test('a DPO round on a synthetic preference raises held-out reward accuracy to at least 0.9', async () => {
  const seen: number[] = [];
  const result = await trainDpo(config, randomWeights(config, 5, 0.2), syntheticTask(48, 3), options, { onStep: (m) => seen.push(m.loss) });
  assert.equal(result.evalPairs, 12);
  assert.equal(result.trainPairs, 36);
  assert.equal(result.steps.length, 3 * 9);
  assert.deepEqual(seen, result.steps.map((m) => m.loss));
  const first = result.steps[0]!;
  assert.ok(Math.abs(first.loss - Math.log(2)) < 1e-6, `a fresh adapter starts at log 2, got ${first.loss}`);
  assert.ok(result.eval!['rewards/accuracies'] >= 0.9, `held-out accuracy ${result.eval!['rewards/accuracies']}`);
  assert.ok(result.eval!['rewards/margins'] > 0);
  assert.ok(result.eval!.loss < Math.log(2));
  for (const m of result.steps) for (const [k, v] of Object.entries(m)) assert.ok(Number.isFinite(v), `${k} at step ${m.step}`);
});

test('the same seed gives the same round; cancel stops between steps', async () => {
  const task = syntheticTask(16, 5);
  const short = { ...options, epochs: 1, evalFraction: 0 };
  const a = await trainDpo(config, randomWeights(config, 5, 0.2), task, short);
  const b = await trainDpo(config, randomWeights(config, 5, 0.2), task, short);
  assert.deepEqual(a.steps, b.steps);
  assert.deepEqual([...a.weights.values()], [...b.weights.values()]);
  const controller = new AbortController();
  const c = await trainDpo(config, randomWeights(config, 5, 0.2), task, short, { signal: controller.signal, onStep: (m) => m.step === 2 && controller.abort() });
  assert.equal(c.cancelled, true);
  assert.equal(c.steps.length, 2);
});

test('a round cancelled mid-way and resumed from its checkpoint ends exactly like an uninterrupted one', async () => {
  const task = syntheticTask(20, 7);
  const dir = mkdtempSync(join(tmpdir(), 'prefer-ckpt-'));
  try {
    const round = { ...options, epochs: 2 };
    const whole = await trainDpo(config, randomWeights(config, 5, 0.2), task, round);
    const checkpoint = { dir: join(dir, 'ckpt'), every: 2, resume: true };
    const controller = new AbortController();
    const cut = await trainDpo(config, randomWeights(config, 5, 0.2), task, { ...round, checkpoint }, { signal: controller.signal, onStep: (m) => m.step === 3 && controller.abort() });
    assert.equal(cut.steps.length, 3);
    assert.ok(checkpointExists(checkpoint.dir));
    const resumed = await trainDpo(config, randomWeights(config, 5, 0.2), task, { ...round, checkpoint });
    assert.deepEqual(resumed.steps, whole.steps);
    assert.deepEqual([...resumed.weights], [...whole.weights]);
    assert.deepEqual(resumed.eval, whole.eval);
    await assert.rejects(trainDpo(config, randomWeights(config, 5, 0.2), task, { ...round, learningRate: 1e-3, checkpoint }), /belongs to a round with other options or data/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gradient accumulation over two micro-batches of two pairs takes the same steps as batches of four', async () => {
  // four pairs of one bucket length: one batch of four, or two micro-batches of two averaged into one step
  const task = syntheticTask(4, 9).map((e) => ({ ...e, prompt: e.prompt.slice(0, 3) }));
  const round = { ...options, epochs: 3, evalFraction: 0, warmupRatio: 0 };
  const whole = await trainDpo(config, randomWeights(config, 5, 0.2), task, { ...round, pairsPerStep: 4 });
  const accumulated = await trainDpo(config, randomWeights(config, 5, 0.2), task, { ...round, pairsPerStep: 2, gradientAccumulation: 2 });
  assert.equal(accumulated.steps.length, 3);
  accumulated.steps.forEach((m, i) => {
    const w = whole.steps[i]!;
    for (const name of ['loss', 'rewards/margins', 'grad_norm'] as const) {
      assert.ok(Math.abs(m[name] - w[name]) <= 1e-5 * Math.max(1, Math.abs(w[name])), `step ${i + 1} ${name}: ${m[name]} vs ${w[name]}`);
    }
  });
  for (const [name, w] of whole.weights) {
    const a = accumulated.weights.get(name)!;
    w.forEach((v, i) => assert.ok(Math.abs(a[i]! - v) < 1e-5, `${name}[${i}]: ${a[i]} vs ${v}`));
  }
});

test('--recompute layers takes the same steps as products, and the choice reaches the graphs', async () => {
  const task = syntheticTask(8, 11);
  const round = { ...options, epochs: 2, evalFraction: 0.25 };
  const products = await trainDpo(config, randomWeights(config, 5, 0.2), task, round);
  const layers = await trainDpo(config, randomWeights(config, 5, 0.2), task, { ...round, recompute: 'layers' });
  assert.equal(layers.steps.length, products.steps.length);
  layers.steps.forEach((m, i) => {
    const p = products.steps[i]!;
    for (const name of ['loss', 'rewards/margins', 'grad_norm', 'logits/chosen'] as const) {
      assert.ok(Math.abs(m[name] - p[name]) <= 1e-5 * Math.max(1, Math.abs(p[name])), `step ${i + 1} ${name}: ${m[name]} vs ${p[name]}`);
    }
  });
  // the step graphs of a layers round recompute whole layers: more of each layer is computed again
  const stepNodes = (recompute?: 'layers') => {
    const shape = bucketShape({ indices: [0, 1], length: 8 }, { ...round, recompute }, 2);
    return dpoGraph(config, randomWeights(config, 5, 0.2), shape, round.lora, round.loss, ADAMW_DEFAULTS).graph.nodes.length;
  };
  assert.ok(stepNodes('layers') > stepNodes(), `${stepNodes('layers')} nodes with layers, ${stepNodes()} with products`);
});
