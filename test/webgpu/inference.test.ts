// The sampling engine's inference graph (prefill + KV-cache decode) on ONNX Runtime's WebGPU provider with
// CPU fallback disabled, against the CPU provider. Runs under Mesa 25 lavapipe where there is no GPU.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { lower } from '../../src/engine/graph/lower.ts';
import { serialize } from '../../src/engine/graph/onnx.ts';
import { inferenceGraph } from '../../src/engine/models/inference.ts';
import { llamaConfig, randomWeights } from '../../src/engine/models/random.ts';
import type { WeightStorage } from '../../src/engine/models/weights.ts';
import type { ModelConfig, WeightSource } from '../../src/engine/hf/types.ts';
import { KvDecoder } from '../../src/engine/runtime/session.ts';

test('prefill and cached decode logits on WebGPU match the CPU provider (qwen3 and gpt2 shapes)', async () => {
  const configs = [
    llamaConfig({ modelType: 'qwen3', qkNorm: true, attentionBias: true }),
    llamaConfig({ family: 'gpt2', modelType: 'gpt2', numKvHeads: 4, intermediateSize: 128 }),
  ];
  for (const config of configs) {
    const weights = randomWeights(config, 3);
    const rows: Record<string, Float32Array[]> = {};
    for (const device of ['cpu', 'webgpu'] as const) {
      const session = await ort.InferenceSession.create(serialize(lower(inferenceGraph(config, weights), device)).model, {
        executionProviders: [device],
        // a node WebGPU cannot run must fail here, not fall back to the CPU silently
        extra: device === 'webgpu' ? { session: { disable_cpu_ep_fallback: '1' } } : {},
      });
      const decoder = new KvDecoder(session, config);
      rows[device] = [Float32Array.from(await decoder.step({ tokens: [[1, 2, 3, 4, 5, 6, 7]], positions: [[0, 1, 2, 3, 4, 5, 6]] }))];
      for (let t = 7; t < 10; t++) rows[device]!.push(Float32Array.from(await decoder.step({ tokens: [[t]], positions: [[t]] })));
      await session.release();
    }
    let worst = 0;
    rows.cpu!.forEach((row, i) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - rows.webgpu![i]![j]!)))));
    assert.ok(worst < 1e-4, `${config.modelType}: max |Δlogit| ${worst}`);
  }
});

/** Logits of a prefill and three cached decode steps of `storage`'s graph on `device`. */
async function storageLogits(config: ModelConfig, weights: WeightSource, storage: WeightStorage, device: 'cpu' | 'webgpu'): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(serialize(lower(inferenceGraph(config, weights, 'float32', storage), device)).model, {
    executionProviders: [device],
    extra: device === 'webgpu' ? { session: { disable_cpu_ep_fallback: '1' } } : {},
  });
  const decoder = new KvDecoder(session, config);
  const rows = [Float32Array.from(await decoder.step({ tokens: [[1, 2, 3, 4, 5, 6, 7]], positions: [[0, 1, 2, 3, 4, 5, 6]] }))];
  for (let t = 7; t < 10; t++) rows.push(Float32Array.from(await decoder.step({ tokens: [[t]], positions: [[t]] })));
  await session.release();
  return rows;
}

test('fp16 and int4 weight storage run on WebGPU (MatMulNBits, fp16 MatMul) and match the CPU provider', async () => {
  const config = llamaConfig({ modelType: 'qwen2', attentionBias: true, hiddenSize: 64, intermediateSize: 96, headDim: 16 });
  const weights = randomWeights(config, 5);
  const fp32 = await storageLogits(config, weights, 'fp32', 'cpu');
  for (const storage of ['fp16', 'int4'] as const) {
    const [cpu, gpu] = [await storageLogits(config, weights, storage, 'cpu'), await storageLogits(config, weights, storage, 'webgpu')];
    let worst = 0;
    let fromFp32 = 0;
    cpu.forEach((row, i) => row.forEach((v, j) => {
      worst = Math.max(worst, Math.abs(v - gpu[i]![j]!));
      fromFp32 = Math.max(fromFp32, Math.abs(gpu[i]![j]! - fp32[i]![j]!));
    }));
    // CPU runs int4 with int8 activations (accuracy level 4), WebGPU with float ones: they differ by that rounding
    assert.ok(worst < (storage === 'int4' ? 0.05 : 1e-2), `${storage}: max |Δlogit| WebGPU vs CPU ${worst}`);
    assert.ok(fromFp32 > 0, `${storage}: logits equal fp32's, the storage was not used`);
  }
});
