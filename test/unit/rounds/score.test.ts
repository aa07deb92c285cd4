import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import type { PairText } from '../../../src/dpo/examples.ts';
import type { StepMetrics } from '../../../src/dpo/trainer.ts';
import { importPairs } from '../../../src/io/importPairs.ts';
import { defaultValues, trainingFrom, type TrainingValues } from '../../../src/rounds/options.ts';
import { runRound } from '../../../src/rounds/round.ts';
import { scorePairs } from '../../../src/rounds/score.ts';
import { openStore } from '../../../src/store/store.ts';
import { prefer, preferJson, tempDir } from '../cli/helpers.ts';

const dir = tempDir('score');
let model = '';
before(async () => {
  model = await makeCheckpoint('llama', join(dir, 'llama'));
});

const training = (values: Partial<TrainingValues>) => trainingFrom({ ...defaultValues(), 'max-length': 64, 'lora-r': 2, ...values });

/** Short pairs: all of them fall in one 32-token bucket, so a batch of six is one step over every pair. */
const pairs: PairText[] = Array.from({ length: 6 }, (_, i) => ({ prefix: `let v${i} =`, suffix: '', chosen: ` ${i} + 1;`, rejected: ` ${i}+1` }));

const close = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tolerance * Math.abs(expected), `${what}: ${actual} vs ${expected}`);

test("scores equal a round's step-0 log-probs of the same pairs", async () => {
  const steps: StepMetrics[] = [];
  await runRound(
    { modelDir: model, outDir: join(dir, 'step0'), pairs, training: training({ batch: 6, epochs: 1, 'eval-split': 0 }) },
    { onStep: (m) => steps.push(m) },
  );
  assert.equal(steps.length, 1, 'one step over all six pairs');
  const scored = await scorePairs({ modelDir: model, pairs, training: training({}) });
  assert.equal(scored.pairs.length, 6);
  // the adapter starts at zero: the first step's policy log-probs are the reference log-probs
  close(scored.mean['logps/chosen'], steps[0]!['logps/chosen'], 1e-6, 'logps/chosen');
  close(scored.mean['logps/rejected'], steps[0]!['logps/rejected'], 1e-6, 'logps/rejected');
  assert.equal(scored.mean['rewards/accuracies'], undefined, 'no adapter, no rewards');
  for (const p of scored.pairs) assert.ok(p['logps/chosen'] < 0 && p['logps/rejected'] < 0);
  assert.notEqual(scored.pairs[0]!['logps/chosen'], scored.pairs[1]!['logps/chosen'], 'each pair its own score');
});

test("int8 scores stay close to fp32 ones and equal an int8 round's step-0 log-probs", async () => {
  const steps: StepMetrics[] = [];
  await runRound(
    { modelDir: model, outDir: join(dir, 'step0-int8'), pairs, training: training({ batch: 6, epochs: 1, 'eval-split': 0, weights: 'int8' }) },
    { onStep: (m) => steps.push(m) },
  );
  assert.equal(steps.length, 1, 'one step over all six pairs');
  const int8 = await scorePairs({ modelDir: model, pairs, training: training({ weights: 'int8' }) });
  close(int8.mean['logps/chosen'], steps[0]!['logps/chosen'], 1e-6, 'logps/chosen');
  close(int8.mean['logps/rejected'], steps[0]!['logps/rejected'], 1e-6, 'logps/rejected');
  const fp32 = await scorePairs({ modelDir: model, pairs, training: training({}) });
  int8.pairs.forEach((p, i) => {
    for (const side of ['logps/chosen', 'logps/rejected'] as const) {
      close(p[side], fp32.pairs[i]![side], 1e-2, `pair ${i + 1} ${side}`);
      // blocks of 32 codes and one scale: close, never the same number
      assert.notEqual(p[side], fp32.pairs[i]![side], `pair ${i + 1} ${side} was scored over int8 weights`);
    }
  });
});

test("an adapter changes the scores, to the round's held-out log-probs of the same pair", async () => {
  // four copies of one pair: whichever is held out, the held-out metrics are that pair's
  const one = Array.from({ length: 4 }, () => pairs[0]!);
  const adapter = join(dir, 'trained');
  const round = await runRound({ modelDir: model, outDir: adapter, pairs: one, training: training({ batch: 3, epochs: 4, 'eval-split': 0.25, lr: 2e-2 }) });
  assert.equal(round.evalPairs, 1);
  const base = await scorePairs({ modelDir: model, pairs: [pairs[0]!] });
  const tuned = await scorePairs({ modelDir: model, adapterDir: adapter, pairs: [pairs[0]!] });
  const shift = tuned.mean['logps/chosen'] - tuned.mean['logps/rejected'] - (base.mean['logps/chosen'] - base.mean['logps/rejected']);
  assert.ok(shift > 1e-3, `the adapter raised chosen over rejected by ${shift}`);
  // merged into the weights here, LoRA inputs in the round: equal up to float32 rounding
  close(tuned.mean['logps/chosen'], round.eval!['logps/chosen'], 1e-4, 'logps/chosen');
  close(tuned.mean['logps/rejected'], round.eval!['logps/rejected'], 1e-4, 'logps/rejected');
  assert.equal(tuned.mean['rewards/accuracies'], round.eval!['rewards/accuracies']);
  assert.equal(tuned.mean['rewards/accuracies'], 1);
});

const golden = join(import.meta.dirname, '../../fixtures/io/golden/trl.jsonl');

test('prefer score --db scores the pairs its filters pick, as --pairs scores the same pairs', async () => {
  const db = join(dir, 'golden.sqlite');
  const store = openStore(db);
  await importPairs(store, golden);
  store.close();
  const lines = readFileSync(golden, 'utf8').trimEnd().split('\n');
  const picked = lines.filter((l) => {
    const p = JSON.parse(l) as { language: string; source: string };
    return p.language === 'typescript' && p.source === 'human';
  });
  assert.ok(picked.length >= 2 && picked.length < lines.length, 'the filters pick some pairs, not all');
  const file = join(dir, 'picked.jsonl');
  writeFileSync(file, picked.join('\n') + '\n');
  const byDb = preferJson('score', '--model', model, '--db', db, '--language', 'typescript', '--source', 'human');
  assert.equal(byDb.code, 0, byDb.stderr);
  const byFile = preferJson('score', '--model', model, '--pairs', file);
  assert.equal(byFile.code, 0, byFile.stderr);
  assert.deepEqual(byDb.value, byFile.value);
  const all = preferJson('score', '--model', model, '--db', db);
  assert.equal((all.value.pairs as unknown[]).length, lines.length);
});

test('prefer score --json prints one object: each pair’s logps/chosen and logps/rejected, and their means', () => {
  const file = join(dir, 'pairs.jsonl');
  writeFileSync(file, pairs.map((p) => JSON.stringify({ prompt: p.prefix, chosen: p.chosen, rejected: p.rejected })).join('\n') + '\n');
  const r = preferJson('score', '--model', model, '--pairs', file, '--adapter', join(dir, 'trained'));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(Object.keys(r.value), ['pairs', 'mean']);
  const scored = r.value.pairs as Record<string, number>[];
  assert.equal(scored.length, pairs.length);
  for (const p of scored) {
    assert.deepEqual(Object.keys(p), ['logps/chosen', 'logps/rejected']);
    assert.ok(Number.isFinite(p['logps/chosen']) && Number.isFinite(p['logps/rejected']));
  }
  const mean = r.value.mean as Record<string, number>;
  assert.deepEqual(Object.keys(mean), ['logps/chosen', 'logps/rejected', 'rewards/accuracies']);
  close(mean['logps/chosen']!, scored.reduce((s, p) => s + p['logps/chosen']!, 0) / scored.length, 1e-6, 'mean');
  const [fp32, int4] = [['--weights', 'fp32'], ['--weights', 'int4']].map((flags) => {
    const run = preferJson('score', '--model', model, '--pairs', file, ...flags);
    assert.equal(run.code, 0, run.stderr);
    return (run.value.pairs as Record<string, number>[])[0]!;
  });
  close(int4!['logps/chosen']!, fp32!['logps/chosen']!, 0.1, '--weights int4');
  assert.notEqual(int4!['logps/chosen'], fp32!['logps/chosen'], '--weights int4 reaches the graph');
  const text = prefer('score', '--model', model, '--pairs', file);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^\s+pair\s+logps\/chosen\s+logps\/rejected\n/);
  assert.match(text.stdout, /\n\s+mean\s+-\d+\.\d{4}\s+-\d+\.\d{4}\n$/);
});
