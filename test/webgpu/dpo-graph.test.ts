// The WebGPU tier: a whole LoRA-DPO training graph (forward, fused token log-probs, DPO loss, gradients wrt
// LoRA) runs on ONNX Runtime's WebGPU provider with CPU fallback disabled, and matches the CPU provider.
// Runs under Mesa 25 lavapipe (software Vulkan) where there is no GPU: scripts/test-webgpu.sh sets it up.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { gradients } from '../../src/engine/graph/autodiff.ts';
import { lower } from '../../src/engine/graph/lower.ts';
import { serialize } from '../../src/engine/graph/onnx.ts';
import { llamaConfig, randomWeights } from '../../src/engine/models/random.ts';
import type { WeightStorage } from '../../src/engine/models/weights.ts';
import { weightFeed } from '../../src/dpo/deviceState.ts';
import { dpoGraph } from '../../src/dpo/trainingGraph.ts';
import { batchFeeds, syntheticBatch } from '../unit/dpo/dpoGraph.ts';

async function run(
  model: Uint8Array,
  device: 'cpu' | 'webgpu',
  feeds: Record<string, ort.Tensor>,
  fetches: string[],
) {
  const session = await ort.InferenceSession.create(model, {
    executionProviders: [device],
    // A node the WebGPU provider cannot run must fail the test, not fall back to CPU silently.
    extra: device === 'webgpu' ? { session: { disable_cpu_ep_fallback: '1' } } : {},
  });
  try {
    const out = await session.run(feeds, fetches);
    return Object.fromEntries(
      fetches.map((name) => [name, Float32Array.from(out[name]!.data as Float32Array)]),
    );
  } finally {
    await session.release();
  }
}

describe('LoRA-DPO training graph on WebGPU', () => {
  it('the WebGPU provider is available', () => {
    assert.ok(
      ort.listSupportedBackends().some((b) => b.name === 'webgpu'),
      'onnxruntime-node lists webgpu',
    );
  });

  // int4 is refused on WebGPU (its nibble unpacking has no WebGPU kernels; test/unit/dpo/quantized-base.test.ts)
  for (const baseWeights of ['fp32', 'fp16', 'int8'] as const) {
    it(`${baseWeights} base: loss and LoRA gradients match the CPU provider with CPU fallback disabled`, () =>
      matchesCpu(baseWeights));
  }
});

/** The training graph over a base stored as `baseWeights` (the frozen linears dequantized a layer at a time), on both providers. */
async function matchesCpu(baseWeights: WeightStorage): Promise<void> {
  const config = llamaConfig({
    vocabSize: 64,
    hiddenSize: 32,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    intermediateSize: 48,
  });
  const batch = syntheticBatch(config.vocabSize, 2, 12, 5, 7);
  const built = dpoGraph(
    config,
    randomWeights(config, 3, 0.2),
    { rows: 4, length: 12, headChunks: 2, baseWeights },
    { rank: 4, alpha: 8 },
    { type: 'sigmoid', beta: 0.1 },
    null,
  );
  const inputs = built.adapter.parameters();
  const grads = gradients(built.graph, built.loss, inputs);
  const gradNames = inputs.map((v) => {
    const name = `grad_${v.name}`;
    built.graph.output(grads.get(v)!, name);
    return name;
  });
  // Non-zero B so that gradients flow into A as well.
  let s = 11;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * 0.2;
  const data = Object.entries(batchFeeds(batch)).map(([name, c]) => [
    name,
    c.dtype === 'int64'
      ? new ort.Tensor('int64', BigInt64Array.from(c.data as bigint[]), c.shape)
      : new ort.Tensor('float32', Float32Array.from(c.data as number[]), c.shape),
  ]);
  const feeds = Object.fromEntries([
    ...data,
    ...inputs.map((v) => {
      const shape = v.shape as number[];
      const size = shape.reduce((a, b) => a * b, 1);
      return [v.name, new ort.Tensor('float32', Float32Array.from({ length: size }, rand), shape)];
    }),
  ]);
  const fetches = ['loss', ...gradNames];
  // base weights fed as inputs, as the trainer feeds them: nothing that reads them can be folded at session creation
  const onDevice = async (device: 'cpu' | 'webgpu') => {
    const { model, fedWeights } = serialize(lower(built.graph, device), 'inputs');
    const weights = Object.fromEntries([...fedWeights].map(([name, t]) => [name, weightFeed(t)]));
    return run(model, device, { ...feeds, ...weights }, fetches);
  };
  const cpu = await onDevice('cpu');
  const gpu = await onDevice('webgpu');
  for (const name of fetches) {
    const a = cpu[name]!;
    const b = gpu[name]!;
    assert.equal(a.length, b.length);
    const scale = Math.max(1e-6, ...a.map(Math.abs));
    const err = Math.max(...a.map((x, i) => Math.abs(x - b[i]!))) / scale;
    assert.ok(Number.isFinite(err) && err < 1e-4, `${name}: relative difference ${err.toExponential(2)}`);
    assert.ok(
      a.some((x) => x !== 0),
      `${name} is not all zero`,
    );
  }
}
