import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { readAdapterConfig } from '../../../src/dpo/adapterFiles.ts';
import { defaultTraining } from '../../../src/rounds/options.ts';
import type { StepMetrics } from '../../../src/dpo/trainer.ts';
import { runRoundInWorker } from '../../../src/rounds/trainWorkerClient.ts';

const workerScript = join(import.meta.dirname, '../../../src/rounds/trainWorker.ts');
let dir: string;
let model: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prefer-train-worker-'));
  model = await makeCheckpoint('llama', join(dir, 'llama'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const pairs = Array.from({ length: 8 }, (_, i) => ({
  prefix: `function f${i}(x) {\n  return`,
  suffix: '',
  chosen: ' x + 1;\n}',
  rejected: ' x+1\n}',
}));
const training = defaultTraining({
  lora: { rank: 2, alpha: 4 },
  learningRate: 1e-3,
  warmupRatio: 0,
  epochs: 3,
  pairsPerStep: 2,
  maxLength: 64,
  evalFraction: 0.25,
  seed: 1,
  threads: 1,
});

test('a round in the worker thread streams step metrics and saves the adapter, while the event loop stays free', async () => {
  const steps: StepMetrics[] = [];
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const result = await runRoundInWorker(
    { modelDir: model, outDir: join(dir, 'adapter'), pairs, training },
    { onStep: (m) => steps.push(m) },
    workerScript,
  ).finally(() => clearInterval(timer));
  assert.equal(steps.length, 9, 'six training pairs, two per step, three epochs');
  assert.deepEqual(
    steps.map((s) => s.step),
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.equal(result.steps, 9);
  assert.equal(result.cancelled, false);
  assert.ok(result.eval && typeof result.eval['rewards/accuracies'] === 'number');
  assert.equal(readAdapterConfig(result.adapter).r, 2);
  assert.ok(ticks > 10, `timers kept running during training (${ticks})`);
});

test('cancelling stops the round between steps and still saves what was trained', async () => {
  const controller = new AbortController();
  const steps: StepMetrics[] = [];
  const result = await runRoundInWorker(
    { modelDir: model, outDir: join(dir, 'cancelled'), pairs, training: { ...training, epochs: 50 } },
    { onStep: (m) => (steps.push(m), m.step === 2 && controller.abort()), signal: controller.signal },
    workerScript,
  );
  assert.equal(result.cancelled, true);
  assert.ok(result.steps < 150 && result.steps >= 2, `stopped after ${result.steps} of 150 steps`);
  assert.ok(existsSync(join(result.adapter, 'adapter_model.safetensors')));
});

test('a round without pairs fails with a clear message', async () => {
  await assert.rejects(
    runRoundInWorker({ modelDir: model, outDir: join(dir, 'none'), pairs: [], training }, {}, workerScript),
    /no preference pairs to train on/,
  );
});
