import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { type UnpairedExample, mismatched, packBatch, packRows, unpairedFromPair } from '../../../src/dpo/examples.ts';
import { checkUnpaired, unpairedBatches } from '../../../src/dpo/ktoObjective.ts';
import { type TrainOptions, trainDpo } from '../../../src/dpo/trainer.ts';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import { importPairs } from '../../../src/io/importPairs.ts';
import { defaultTraining, defaultValues, trainingFrom } from '../../../src/rounds/options.ts';
import { runRound } from '../../../src/rounds/round.ts';
import { readRoundRecord } from '../../../src/dpo/checkpoint.ts';
import { readSafetensors } from '../../../src/engine/hf/safetensors.ts';
import { openStore } from '../../../src/store/store.ts';
import { ADAMW_DEFAULTS } from '../../../src/train/adamw.ts';

let dir: string;
let model = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prefer-kto-'));
  model = await makeCheckpoint('llama', join(dir, 'llama'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const example = (prompt: number[], completion: number[], desirable: boolean): UnpairedExample => ({ prompt, completion, desirable });

test("the mismatched rows give each prompt the batch's previous completion, as TRL's KL dataset does, cut to the maximum length", () => {
  const batch = [example([1, 2], [10], true), example([3], [11, 12, 13], false), example([4, 5, 6], [14, 15], true)];
  assert.deepEqual(mismatched(batch, 16), [example([1, 2], [14, 15], true), example([3], [10], false), example([4, 5, 6], [11, 12, 13], true)]);
  assert.deepEqual(mismatched(batch, 5)[2], example([4, 5, 6], [11, 12], true));
});

test('a pair becomes a desirable and an undesirable example; unpaired rows pack as the chosen rows of pairs do', () => {
  assert.deepEqual(unpairedFromPair({ prefix: 'p', suffix: 's', chosen: 'a', rejected: 'b' }), [
    { prefix: 'p', suffix: 's', completion: 'a', desirable: true },
    { prefix: 'p', suffix: 's', completion: 'b', desirable: false },
  ]);
  const rows = [example([1, 2], [3, 4], true), example([5], [6], false)];
  const packed = packRows(rows, 6, 0);
  const asPairs = packBatch(rows.map((e) => ({ prompt: e.prompt, chosen: e.completion, rejected: [9] })), 6, 0);
  assert.equal(packed.inputIds.length, 12);
  assert.deepEqual(packed.inputIds, asPairs.inputIds.subarray(0, 12));
  assert.deepEqual(packed.targets, asPairs.targets.subarray(0, 12));
  assert.deepEqual(packed.completionMask, asPairs.completionMask.subarray(0, 12));
});

test('batches alternate desirable and undesirable examples, and a lone example joins a neighbouring batch', () => {
  const options = { pairsPerStep: 2, lengthStep: 4, maxLength: 16 };
  const examples = [example([1], [2], true), example([1], [2], true), example([1], [2], false), example([1], [2], false), example([1, 2, 3, 4, 5], [6], true)];
  const batches = unpairedBatches(examples, [0, 1, 2, 3, 4], options);
  assert.deepEqual(batches, [
    { indices: [0, 2], length: 4 },
    { indices: [1, 3, 4], length: 8 },
  ]);
  assert.throws(() => unpairedBatches(examples, [4], options), /^InputError: --loss kto: a batch of one example has no other completion/);
});

test('kto asks for both kinds of example and a batch of two, in one line each', () => {
  const both = [example([1], [2], true), example([1], [3], false)];
  assert.doesNotThrow(() => checkUnpaired(both, 2));
  assert.throws(() => checkUnpaired(both, 1), /^InputError: --loss kto needs --batch 2 or more: /);
  assert.throws(() => checkUnpaired([both[0]!, both[0]!], 2), /^InputError: --loss kto needs desirable and undesirable examples; got 2 desirable of 2$/);
  assert.throws(() => checkUnpaired([both[1]!], 2), /got 0 desirable of 1$/);
});

test('the options table takes kto with its weights, and refuses it beside a paired loss', () => {
  const values = { ...defaultValues(), loss: ['kto'], 'desirable-weight': 1.33, 'undesirable-weight': 0.5 };
  assert.deepEqual(trainingFrom(values).loss, { type: 'kto', beta: 0.1, labelSmoothing: 0, desirableWeight: 1.33, undesirableWeight: 0.5 });
  assert.equal(trainingFrom(defaultValues()).loss.desirableWeight, undefined, 'a paired round keeps its checkpoint fingerprint');
  assert.throws(() => trainingFrom({ ...values, loss: ['sigmoid', 'kto'] }), /^InputError: --loss: kto trains on unpaired examples and cannot be combined with sigmoid$/);
});

const config = llamaConfig({ vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24 });

/** After any prompt, completions ending in token 7 are desirable and those ending in token 9 are not. */
function syntheticFeedback(count: number, seed: number): UnpairedExample[] {
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % 30) + 10;
  return Array.from({ length: count }, (_, i) => example(Array.from({ length: 3 + (next() % 3) }, next), [next(), next(), i % 3 === 0 ? 9 : 7], i % 3 !== 0));
}

const options: TrainOptions = {
  loss: { type: 'kto', beta: 0.1 },
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

test('a KTO round on unbalanced synthetic feedback starts at ½ with a zero KL estimate and learns the labels', async () => {
  const result = await trainDpo(config, randomWeights(config, 5, 0.2), syntheticFeedback(48, 3), options);
  assert.equal(result.evalPairs + result.trainPairs, 48);
  const first = result.steps[0]!;
  // a fresh adapter (B = 0): every log-ratio and the KL estimate are 0, so every loss is 1 − σ(0)
  assert.ok(Math.abs(first.loss - 0.5) < 1e-6, `a fresh adapter starts at ½, got ${first.loss}`);
  assert.equal(first.kl, 0);
  for (const m of result.steps) {
    for (const [k, v] of Object.entries(m)) assert.ok(Number.isFinite(v), `${k} at step ${m.step}`);
    assert.ok(m.kl! >= 0, `kl ${m.kl} at step ${m.step}`);
  }
  const held = result.eval!;
  assert.ok(held.loss < 0.5, `held-out loss ${held.loss}`);
  assert.ok(held['rewards/chosen'] > held['rewards/rejected'], JSON.stringify(held));
  assert.ok(held['rewards/accuracies'] >= 0.9, `held-out accuracy ${held['rewards/accuracies']}`);
});

const pairs = Array.from({ length: 4 }, (_, i) => ({ prompt: `let v${i} =`, chosen: ` ${i} + 1;`, rejected: ` ${i}+1` }));
const judged = (prefix: string, completion: string, desirable: boolean) => ({ prompt: { prefix }, completion, desirable, source: 'inline' });

/** A store holding the four pairs and two completions judged on their own. */
async function storeWithFeedback(name: string): Promise<string> {
  const db = join(dir, `${name}.sqlite`);
  const file = join(dir, `${name}.jsonl`);
  writeFileSync(file, pairs.map((p) => JSON.stringify(p)).join('\n') + '\n');
  const store = openStore(db);
  try {
    await importPairs(store, file);
    store.recordFeedback([judged('const a =', ' 1;', true), judged('const b =', ' 2', false)]);
  } finally {
    store.close();
  }
  return db;
}

const training = defaultTraining({ loss: { type: 'kto', beta: 0.1 }, lora: { rank: 2, alpha: 4 }, maxLength: 32, lengthStep: 32, evalFraction: 0, pairsPerStep: 4, threads: 1 });

test('a KTO round from the store trains on both halves of every pair and on the judged completions, once each', async () => {
  const db = await storeWithFeedback('round');
  const result = await runRound({ modelDir: model, outDir: join(dir, 'adapter'), database: db, training });
  assert.equal(result.trainPairs, 2 * pairs.length + 2);
  assert.equal(result.steps, 3);
  await assert.rejects(
    runRound({ modelDir: model, outDir: join(dir, 'adapter-2'), pairs: [{ prefix: 'let x =', suffix: '', chosen: ' 1;', rejected: ' 1' }], training: { ...training, pairsPerStep: 1 } }),
    /--loss kto needs --batch 2 or more/,
  );
});

async function adapterTensors(out: string): Promise<Map<string, number[]>> {
  const file = await readSafetensors(join(out, 'adapter_model.safetensors'));
  return new Map([...file.tensors].map(([name, t]) => [name, Array.from(new Float32Array(file.bytes.slice(t.begin, t.end).buffer))]));
}

test('a cancelled KTO round resumes on its recorded pairs and judged completions to the adapter of an uninterrupted round', async () => {
  const steady = { ...training, pairsPerStep: 2, epochs: 2, warmupRatio: 0 };
  const whole = await runRound({ modelDir: model, outDir: join(dir, 'whole'), database: await storeWithFeedback('whole'), training: steady });
  const db = await storeWithFeedback('cancelled');
  const folder = join(dir, 'cancelled-checkpoint');
  const cancel = new AbortController();
  const first = await runRound(
    { modelDir: model, outDir: join(dir, 'cancelled'), database: db, training: { ...steady, checkpoint: { dir: folder, every: 1, resume: false } } },
    { signal: cancel.signal, onStep: (m) => m.step === 2 && cancel.abort() },
  );
  assert.ok(first.cancelled && first.steps === 2);
  assert.equal(readRoundRecord(folder)!.feedbackIds!.length, 2);
  // completions judged after the cancel must not join the resumed round
  const store = openStore(db);
  store.recordFeedback([judged('const c =', ' 3;', true)]);
  store.close();
  const resumed = await runRound({ modelDir: model, outDir: join(dir, 'resumed'), database: db, training: { ...steady, checkpoint: { dir: folder, every: 1, resume: true } } });
  assert.equal(resumed.resumedAfter, 2);
  assert.equal(resumed.steps, whole.steps);
  assert.deepEqual(await adapterTensors(resumed.adapter), await adapterTensors(whole.adapter));
});
