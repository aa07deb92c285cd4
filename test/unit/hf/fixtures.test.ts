import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { parseModelConfig } from '../../../src/engine/models/families.ts';
import { checkpointConfig, makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { tempDir } from './temp-dir.ts';

const root = await tempDir('fixtures');

test('fixture checkpoints are byte-for-byte deterministic', async () => {
  for (const kind of ['llama', 'gpt2'] as const) {
    const a = await makeCheckpoint(kind, join(root, `${kind}-a`));
    const b = await makeCheckpoint(kind, join(root, `${kind}-b`));
    const files = (await readdir(a)).sort();
    assert.deepEqual(files, ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    for (const file of files) assert.deepEqual(await readFile(join(b, file)), await readFile(join(a, file)), `${kind}/${file}`);
  }
});

test('fixture weights have the intended scales: norms near 1, projections ~1/sqrt(fan-in)', async () => {
  const checkpoint = await loadCheckpoint(await makeCheckpoint('llama', join(root, 'scales')));
  const stats = (name: string): { mean: number; std: number } => {
    const data = checkpoint.weights.get(name).data;
    const mean = data.reduce((s, v) => s + v, 0) / data.length;
    const variance = data.reduce((s, v) => s + (v - mean) ** 2, 0) / data.length;
    return { mean, std: Math.sqrt(variance) };
  };
  const norm = stats('model.layers.0.input_layernorm.weight');
  assert.ok(Math.abs(norm.mean - 1) < 0.05 && norm.std > 0.05 && norm.std < 0.15, JSON.stringify(norm));
  const q = stats('model.layers.0.self_attn.q_proj.weight');
  assert.ok(Math.abs(q.mean) < 0.01 && Math.abs(q.std - 1 / 8) < 0.01, JSON.stringify(q));
  const down = stats('model.layers.1.mlp.down_proj.weight');
  assert.ok(Math.abs(down.std - 1 / Math.sqrt(160)) < 0.01, JSON.stringify(down));
  assert.notDeepEqual(checkpoint.weights.get('model.layers.0.self_attn.q_proj.weight').data.slice(0, 8), checkpoint.weights.get('model.layers.1.self_attn.q_proj.weight').data.slice(0, 8));
});

test('the SmolLM2-135M-shaped config matches the published model shapes', () => {
  // Only the config is checked here: its 540 MB of weights are written for benchmarks, not unit tests.
  const config = parseModelConfig(checkpointConfig('smollm2-135m'), 'smollm2-135m/config.json');
  assert.deepEqual(
    [config.hiddenSize, config.numLayers, config.numHeads, config.numKvHeads, config.headDim, config.intermediateSize, config.vocabSize],
    [576, 30, 9, 3, 64, 1536, 49152],
  );
  assert.deepEqual([config.tieWordEmbeddings, config.ropeTheta, config.normEps], [true, 100000, 1e-5]);
});
