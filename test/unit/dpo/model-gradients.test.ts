import assert from 'node:assert/strict';
import { test } from 'node:test';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import { initialLoraWeights } from '../../../src/dpo/lora.ts';
import type { ModelConfig } from '../../../src/engine/hf/types.ts';
import type { DpoLossConfig } from '../../../src/dpo/losses.ts';
import { type CheckInput, checkGraphGradients, uniform } from '../autodiff/gradcheck.ts';
import { dpoGraph } from '../../../src/dpo/trainingGraph.ts';
import { batchFeeds, syntheticBatch } from './dpoGraph.ts';

const tiny = { vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24 };

/** [label, config, adapted linears per layer] */
const families: [string, ModelConfig, number][] = [
  ['llama (GQA, tied embeddings)', llamaConfig(tiny), 7],
  ['qwen3 (q_norm/k_norm, head_dim ≠ hidden/heads, untied head)', llamaConfig({ ...tiny, modelType: 'qwen3', qkNorm: true, headDim: 6, tieWordEmbeddings: false }), 7],
  ['qwen2 (q/k/v bias)', llamaConfig({ ...tiny, modelType: 'qwen2', attentionBias: true }), 7],
  ['gpt2 (LayerNorm, fused qkv, GELU-tanh, learned positions)', llamaConfig({ ...tiny, family: 'gpt2', modelType: 'gpt2', architecture: 'GPT2LMHeadModel', numKvHeads: 4 }), 4],
];

async function checkModel(config: ModelConfig, linearsPerLayer: number, loss: DpoLossConfig) {
  const batch = syntheticBatch(config.vocabSize, 2, 6, 3, 11);
  const built = dpoGraph(config, randomWeights(config, 5, 0.2), { rows: 4, length: 6, dtype: 'float64', headChunks: 3 }, { rank: 2, alpha: 4 }, loss, null);
  const inputs: Record<string, CheckInput> = batchFeeds(batch);
  // B ≠ 0, unlike a fresh adapter, so that A's gradient is not identically zero
  for (const [name, data] of initialLoraWeights(built.adapter.layers, 3, 'float64')) {
    const isB = name.includes('lora_B');
    const v = built.graph.inputs.find((i) => i.name === name)!;
    inputs[name] = { shape: v.shape as number[], data: isB ? uniform(data.length, data.length, -0.3, 0.3) : data };
  }
  const wrt = built.adapter.parameters().map((v) => v.name);
  assert.equal(wrt.length, config.numLayers * linearsPerLayer * 2);
  return checkGraphGradients(built.graph, built.loss, wrt, inputs, { samplesPerTensor: 3 });
}

for (const [label, config, linears] of families) {
  test(`${label}: DPO loss gradients wrt every LoRA A and B match finite differences (f64)`, async () => {
    const r = await checkModel(config, linears, { type: 'sigmoid', beta: 0.5 });
    assert.ok(r.checked >= config.numLayers * linears * 2 * 3);
    assert.ok(r.maxRelError <= 1e-6, `max relative error ${r.maxRelError.toExponential(2)} at ${r.worst}`);
  });
}

test('IPO on length-averaged log-probs: whole-model gradients match finite differences (f64)', async () => {
  const r = await checkModel(families[0]![1], 7, { type: 'ipo', beta: 0.1 });
  assert.ok(r.maxRelError <= 1e-6, `max relative error ${r.maxRelError.toExponential(2)} at ${r.worst}`);
});
