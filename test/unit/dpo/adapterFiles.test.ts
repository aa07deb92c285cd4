import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Graph } from '../../../src/engine/graph/ir.ts';
import { readSafetensors } from '../../../src/engine/hf/safetensors.ts';
import { LoraAdapter, initialLoraWeights } from '../../../src/dpo/lora.ts';
import { readAdapterConfig, saveAdapter } from '../../../src/dpo/adapterFiles.ts';
import * as op from '../../../src/engine/graph/ops.ts';

function adapter() {
  const g = new Graph();
  const lora = new LoraAdapter(g, { rank: 2, alpha: 16, rsLora: true }, 'float32');
  for (const [i, name] of ['model.layers.0.self_attn.q_proj', 'model.layers.0.mlp.down_proj'].entries()) {
    const x = g.input(`x${i}`, 'float32', [1, 3]);
    lora.hook({ name, layer: 0, inFeatures: 3, outFeatures: 4 }, x, op.matmul(x, g.input(`w${i}`, 'float32', [3, 4])));
  }
  return lora;
}

test('saves a PEFT adapter: config, tensors by PEFT name and shape, Prefer’s record; replaces an older version whole', async () => {
  const lora = adapter();
  const weights = initialLoraWeights(lora.layers, 1);
  const dir = join(mkdtempSync(join(tmpdir(), 'prefer-adapter-')), 'v1');
  const record = { baseModelHash: 'abc', baseModelPath: '/models/base', fanInFanOut: false, steps: 3 };
  saveAdapter(dir, lora.config, lora.layers, weights, record);
  assert.throws(() => saveAdapter(dir, lora.config, lora.layers, weights, { ...record, steps: 4 }), /v1: already exists/, 'never over a folder unless told');
  saveAdapter(dir, lora.config, lora.layers, weights, { ...record, steps: 4 }, { replace: true });
  const config = readAdapterConfig(dir);
  assert.equal(config.peft_type, 'LORA');
  assert.equal(config.r, 2);
  assert.equal(config.lora_alpha, 16);
  assert.equal(config.use_rslora, true);
  assert.deepEqual(config.target_modules, ['q_proj', 'down_proj']);
  assert.equal(JSON.parse(readFileSync(join(dir, 'prefer_adapter.json'), 'utf8')).steps, 4);
  const file = await readSafetensors(join(dir, 'adapter_model.safetensors'));
  const aName = 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight';
  const a = file.tensors.get(aName)!;
  assert.deepEqual([a.dtype, a.shape], ['F32', [2, 3]]);
  const stored = new Float32Array(file.bytes.slice(a.begin, a.end).buffer);
  assert.deepEqual(Array.from(stored), Array.from(weights.get(aName)!));
  assert.deepEqual(file.tensors.get('base_model.model.model.layers.0.mlp.down_proj.lora_B.weight')!.shape, [4, 2]);
  assert.equal(JSON.parse(file.metadata.prefer!).baseModelHash, 'abc');
  assert.deepEqual(readdirSync(join(dir, '..')), ['v1'], 'no staging folder left behind');
});
