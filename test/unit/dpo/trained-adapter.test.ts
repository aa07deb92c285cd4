import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { Graph } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import type { Checkpoint, ModelConfig, WeightSource } from '../../../src/engine/hf/types.ts';
import { causalLM } from '../../../src/engine/models/families.ts';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import { saveAdapter } from '../../../src/dpo/adapterFiles.ts';
import { LoraAdapter, type LoraConfig, initialLoraWeights } from '../../../src/dpo/lora.ts';
import { withAdapter } from '../../../src/engine/hf/adapter.ts';
import { ADAMW_DEFAULTS } from '../../../src/train/adamw.ts';
import { trainDpo } from '../../../src/dpo/trainer.ts';
import { uniform } from '../autodiff/gradcheck.ts';

const dir = mkdtempSync(join(tmpdir(), 'prefer-merge-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const tiny = { vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24 };
const checkpointOf = (config: ModelConfig, weights: WeightSource): Checkpoint => ({ dir: 'mem', config, weights, generation: {}, hash: 'base', tokenizer: null as never });

/** Last-position logits of each sequence, optionally with LoRA matrices fed as graph inputs. */
async function lastLogits(config: ModelConfig, weights: WeightSource, sequences: number[][], lora?: { config: LoraConfig; values: Map<string, Float32Array | Float64Array> }) {
  const T = sequences[0]!.length;
  const B = sequences.length;
  const g = new Graph();
  const lm = causalLM(g, config, weights, 'float32');
  const adapter = lora ? new LoraAdapter(g, lora.config, 'float32') : null;
  const ints = (d: number[]) => g.constant({ dtype: 'int64', shape: [B, T], data: BigInt64Array.from(d, BigInt) });
  const bias = g.constant({ dtype: 'float32', shape: [B, T, T], data: Float32Array.from({ length: B * T * T }, (_, i) => (i % T > Math.floor(i / T) % T ? -1e9 : 0)) });
  const { hidden } = lm.forward({ inputIds: ints(sequences.flat()), positions: ints(sequences.flatMap(() => [...Array(T).keys()])), attentionBias: bias, linearHook: adapter?.hook });
  g.output(lm.lmHead(hidden), 'logits');
  const session = await ort.InferenceSession.create(serialize(lower(g)).model);
  const feeds = Object.fromEntries([...(lora?.values ?? [])].map(([n, d]) => [n, new ort.Tensor('float32', Float32Array.from(d), g.inputs.find((v) => v.name === n)!.shape as number[])]));
  const logits = (await session.run(feeds)).logits!.data as Float32Array;
  await session.release();
  const V = config.vocabSize;
  return sequences.map((_, b) => logits.slice((b * T + T - 1) * V, (b * T + T) * V));
}

for (const [label, config] of [
  ['llama', llamaConfig(tiny)],
  ['gpt2 (Conv1D, fan_in_fan_out)', llamaConfig({ ...tiny, family: 'gpt2', modelType: 'gpt2', numKvHeads: 4 })],
] as const) {
  test(`${label}: a saved adapter merged into the weights gives the logits of the model running LoRA`, async () => {
    const weights = randomWeights(config, 5, 0.2);
    const lora: LoraConfig = { rank: 3, alpha: 6, rsLora: true };
    const g = new Graph();
    const adapter = new LoraAdapter(g, lora, 'float32');
    causalLM(g, config, weights, 'float32').forward({
      inputIds: g.input('i', 'int64', [1, 2]),
      positions: g.input('p', 'int64', [1, 2]),
      attentionBias: g.input('b', 'float32', [1, 2, 2]),
      linearHook: adapter.hook,
    });
    const values = new Map([...initialLoraWeights(adapter.layers, 2)].map(([n, d]) => [n, n.includes('lora_B') ? Float32Array.from(uniform(d.length, d.length + 1, -0.4, 0.4)) : (d as Float32Array)]));
    const out = join(dir, label.split(' ')[0]!);
    saveAdapter(out, lora, adapter.layers, values, { baseModelHash: 'base', baseModelPath: 'mem', fanInFanOut: config.family === 'gpt2' });
    const merged = await withAdapter(checkpointOf(config, weights), out);
    assert.notEqual(merged.hash, 'base');
    const sequences = [[3, 14, 15, 9, 2], [6, 5, 3, 5, 8]];
    const withLora = await lastLogits(config, weights, sequences, { config: lora, values });
    const withMerge = await lastLogits(config, merged.weights, sequences);
    const base = await lastLogits(config, weights, sequences);
    let diff = 0;
    let moved = 0;
    withLora.forEach((row, b) => row.forEach((v, i) => ((diff = Math.max(diff, Math.abs(v - withMerge[b]![i]!))), (moved = Math.max(moved, Math.abs(v - base[b]![i]!))))));
    assert.ok(moved > 1e-2, `the adapter changes the logits (${moved})`);
    assert.ok(diff < 1e-4, `merged vs LoRA logits differ by ${diff}`);
  });
}

test('after a DPO round on a synthetic preference, the merged adapter prefers the chosen token on held-out prompts more than the base', async () => {
  const config = llamaConfig(tiny);
  const weights = randomWeights(config, 5, 0.2);
  let s = 11;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % 30) + 10;
  const example = () => {
    const prompt = [next(), next(), next()];
    const middle = [next(), next()];
    return { prompt, chosen: [...middle, 7], rejected: [...middle, 9] };
  };
  const train = Array.from({ length: 40 }, example);
  const heldOut = Array.from({ length: 10 }, example);
  const lora: LoraConfig = { rank: 4, alpha: 8 };
  const options = { loss: { type: 'sigmoid' as const, beta: 0.1 }, lora, optimizer: ADAMW_DEFAULTS, learningRate: 2e-2, warmupRatio: 0.1, epochs: 3, pairsPerStep: 4, lengthStep: 4, maxLength: 8, evalFraction: 0, seed: 1, padId: 0 };
  const result = await trainDpo(config, weights, train, options);
  const out = join(dir, 'trained');
  saveAdapter(out, lora, result.layers, result.weights, { baseModelHash: 'base', baseModelPath: 'mem', fanInFanOut: false });
  const merged = await withAdapter(checkpointOf(config, weights), out);
  const contexts = heldOut.map((e) => [...e.prompt, ...e.chosen.slice(0, 2)]);
  const preference = (rows: Float32Array[]) => rows.map((logits) => logits[7]! - logits[9]!);
  const before = preference(await lastLogits(config, weights, contexts));
  const afterTraining = preference(await lastLogits(config, merged.weights, contexts));
  const wins = (xs: number[]) => xs.filter((x) => x > 0).length;
  assert.ok(afterTraining.every((x, i) => x > before[i]!), `log-odds of 7 over 9: before ${before.map((x) => x.toFixed(2))}, after ${afterTraining.map((x) => x.toFixed(2))}`);
  assert.ok(wins(afterTraining) > wins(before), `7 beats 9 in ${wins(afterTraining)}/10 held-out contexts after, ${wins(before)}/10 before`);
});
