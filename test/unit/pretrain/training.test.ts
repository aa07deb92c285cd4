import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { CheckpointTokenizer } from '../../../src/engine/hf/tokenizer.ts';
import { Engine } from '../../../src/engine/sample/engine.ts';
import { documentsOf, makeBatch } from '../../../src/pretrain/batches.ts';
import { initialWeights, modelConfigOf } from '../../../src/pretrain/modelShape.ts';
import { StepSession } from '../../../src/pretrain/stepSession.ts';
import { type PretrainRecipe, Pretrainer } from '../../../src/pretrain/trainer.ts';
import { fixtureTokenizer } from '../../../scripts/fixtures/make-checkpoints.ts';
import { TOKENIZER_CORPUS } from '../../../scripts/fixtures/corpus.ts';

const root = mkdtempSync(join(tmpdir(), 'prefer-pretrain-'));
after(() => rmSync(root, { recursive: true, force: true }));

const tokenizerDir = join(root, 'tokenizer');
const files = fixtureTokenizer();
rmSync(tokenizerDir, { recursive: true, force: true });
(await import('node:fs')).mkdirSync(tokenizerDir);
writeFileSync(join(tokenizerDir, 'tokenizer.json'), JSON.stringify(files.tokenizer));
writeFileSync(join(tokenizerDir, 'tokenizer_config.json'), JSON.stringify(files.config));
const tokenizer = await CheckpointTokenizer.fromDir(tokenizerDir);
const id = (t: string) => tokenizer.tokenId(t)!;
const fim = { prefix: id('<|fim_prefix|>'), suffix: id('<|fim_suffix|>'), middle: id('<|fim_middle|>'), endOfText: id('<|endoftext|>'), pad: id('<|fim_pad|>') };

function tokenCorpus(texts: string[]) {
  const tokens = Uint16Array.from(texts.flatMap((t) => [...tokenizer.encode(t), fim.endOfText]));
  return { tokens, documents: documentsOf(tokens, fim.endOfText) };
}
const paragraphs = TOKENIZER_CORPUS.split('\n\n').filter((p) => p.trim().length > 0);
const data = { train: tokenCorpus(paragraphs.slice(0, -3)), heldout: tokenCorpus(paragraphs.slice(-3)), fim };

function recipe(overrides: Partial<PretrainRecipe> = {}): PretrainRecipe {
  return {
    shape: { vocabSize: tokenizer.vocabSize, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 64, maxPositions: 64 },
    batch: 2,
    seq: 24,
    fimRate: 0.5,
    seed: 7,
    schedule: { peakLr: 3e-3, minLr: 3e-4, warmupSteps: 2, totalSteps: 40 },
    adamw: { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1, maxGradNorm: 1 },
    headChunks: 2,
    evalEvery: 1000,
    evalBatches: 2,
    checkpointEvery: 1000,
    ...overrides,
  };
}

let runs = 0;
const open = (r: PretrainRecipe, outDir = join(root, `run${runs++}`), resume = false) => Pretrainer.open(r, { outDir, tokenizerDir }, data, { resume, threads: 1 });

test('the gradient of every weight matches a central difference of the loss along that gradient', async () => {
  const r = recipe();
  const config = modelConfigOf(r.shape, { endOfText: fim.endOfText, pad: fim.pad });
  const session = await StepSession.open(config, initialWeights(config, 3), { batch: 2, seq: 12, withGradients: true, headChunks: 2 }, join(root, 'graphs'), 1);
  const batch = makeBatch(data.train, { batch: 2, seq: 12, fimRate: 0.5, seed: 1 }, 0, fim);
  const base = new Map(session.weights.map((w) => [w.name, Float32Array.from(w.initial)]));
  const { grads } = await session.run(batch, base);
  assert.equal(grads.size, session.weights.length, 'one gradient per weight');
  // per weight, step along its own unit gradient: the slope must equal the gradient's norm (a missing, scaled
  // or misdirected gradient gives a smaller or different slope); float32 noise allows a few percent
  const eps = 0.03;
  for (const w of session.weights) {
    const g = grads.get(w.name)!;
    const norm = Math.hypot(...g);
    assert.ok(norm > 1e-4, `${w.name}: gradient norm ${norm}`);
    const shifted = (sign: number) => new Map([...base].map(([name, v]) => [name, name === w.name ? Float32Array.from(v, (x, i) => x + (sign * eps * g[i]!) / norm) : v]));
    const slope = ((await session.run(batch, shifted(1))).loss - (await session.run(batch, shifted(-1))).loss) / (2 * eps);
    assert.ok(Math.abs(slope - norm) < 0.05 * norm, `${w.name}: slope ${slope}, gradient norm ${norm}`);
  }
  await session.release();
});

test('the same seed gives the same first-step loss; another seed does not', async () => {
  const first = async (seed: number) => {
    const trainer = await open(recipe({ seed }));
    const log = await trainer.step();
    await trainer.close();
    return log.loss;
  };
  const a = await first(7);
  assert.equal(await first(7), a);
  assert.notEqual(await first(8), a);
});

test('training lowers the loss, also on a batch it never stepped on', async () => {
  const trainer = await open(recipe({ schedule: { peakLr: 1e-2, minLr: 1e-3, warmupSteps: 2, totalSteps: 40 } }));
  const before = await trainer.batchLoss(1000);
  const losses: number[] = [];
  for (let k = 0; k < 40; k++) losses.push((await trainer.step()).loss);
  const after = await trainer.batchLoss(1000);
  await trainer.close();
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(losses.slice(-5)) < mean(losses.slice(0, 5)) - 0.5, `train loss ${mean(losses.slice(0, 5))} → ${mean(losses.slice(-5))}`);
  assert.ok(after < before - 0.5, `loss on a batch never trained on ${before} → ${after}`);
});

test('a resumed run continues exactly where an uninterrupted one would be', async () => {
  const straight = await open(recipe());
  for (let k = 0; k < 4; k++) await straight.step();
  const expected = await straight.batchLoss(100);
  await straight.close();

  const dir = join(root, 'resumed');
  const first = await open(recipe(), dir);
  await first.run({ maxSteps: 2 });
  await first.close();
  const second = await open(recipe(), dir, true);
  assert.equal(second.state.step, 2);
  await second.run({ maxSteps: 2 });
  assert.equal(second.state.step, 4);
  const loss = await second.batchLoss(100);
  await second.close();
  assert.ok(Math.abs(loss - expected) < 1e-5, `resumed ${loss}, straight ${expected}`);
  await assert.rejects(open(recipe({ seed: 8 }), dir, true), /different recipe/);
  await assert.rejects(open(recipe({ exampleRate: 0.5 }), dir, true), /different recipe/, 'another share of prepared examples draws other batches');
});

test('a checkpoint is an HF folder the sampler loads and samples from, FIM prompts included', async () => {
  const dir = join(root, 'sampled');
  const trainer = await open(recipe(), dir);
  await trainer.run({ maxSteps: 3 });
  const trainedLoss = await trainer.batchLoss(50);
  await trainer.close();

  const checkpoint = await loadCheckpoint(join(dir, 'last'));
  assert.equal(checkpoint.config.architecture, 'LlamaForCausalLM');
  assert.deepEqual(checkpoint.weights.get('model.layers.0.mlp.gate_proj.weight').shape, [64, 32], 'linears saved [out, in] as in HF');
  assert.equal(checkpoint.tokenizer.fim?.style, 'qwen');
  // the saved weights reproduce the trainer's loss when loaded back as a fresh run's initial weights
  const config = modelConfigOf(recipe().shape, { endOfText: fim.endOfText, pad: fim.pad });
  const session = await StepSession.open(config, checkpoint.weights, { batch: 2, seq: 24, withGradients: false, headChunks: 2 }, join(root, 'graphs'), 1);
  const values = new Map(session.weights.map((w) => [w.name, w.initial]));
  const reloaded = (await session.run(makeBatch(data.train, { batch: 2, seq: 24, fimRate: 0.5, seed: 7 }, 50, fim), values)).loss;
  await session.release();
  assert.ok(Math.abs(reloaded - trainedLoss) < 1e-5, `reloaded ${reloaded}, trained ${trainedLoss}`);

  const engine = await Engine.open({ modelDir: join(dir, 'last'), cacheDir: join(root, 'compiled'), threads: 1 });
  const plain = await engine.complete({ prefix: 'export function ', n: 2, maxTokens: 6, temperature: 1, seed: 1 });
  const infill = await engine.complete({ prefix: 'const x = ', suffix: ';\n', n: 2, maxTokens: 6, temperature: 1, seed: 1 });
  await engine.close();
  for (const result of [plain, infill]) {
    assert.equal(result.candidates.length, 2);
    for (const c of result.candidates) assert.ok(c.tokens >= 1 && c.tokens <= 6 && Number.isFinite(c.logprob));
  }
  assert.ok(readFileSync(join(dir, 'last', 'trainer_state.json'), 'utf8').includes('"step": 3'));
});

test('continued pretraining starts from the weights of a checkpoint, with fresh optimizer state and step count', async () => {
  const dir = join(root, 'phase1');
  const phase1 = await open(recipe(), dir);
  await phase1.run({ maxSteps: 3 });
  const expected = await phase1.batchLoss(77);
  await phase1.close();
  const phase2 = await Pretrainer.open(recipe({ seed: 8 }), { outDir: join(root, 'phase2'), tokenizerDir }, data, { initFrom: join(dir, 'last'), threads: 1 });
  assert.equal(phase2.state.step, 0);
  assert.equal(phase2.optimizer.moments.size, 0);
  const loss = await phase2.batchLoss(77);
  await phase2.close();
  const fresh = await open(recipe({ seed: 8 }));
  assert.notEqual(await fresh.batchLoss(77), loss, 'random init gives another loss on the same batch');
  await fresh.close();
  const same = await Pretrainer.open(recipe(), { outDir: join(root, 'phase2b'), tokenizerDir }, data, { initFrom: join(dir, 'last'), threads: 1 });
  assert.ok(Math.abs((await same.batchLoss(77)) - expected) < 1e-5);
  await same.close();
});
