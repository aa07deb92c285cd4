// The WebGPU tier: a whole LoRA-DPO round (reference pass, AdamW steps inside the graph, evaluation) on ONNX
// Runtime's WebGPU provider with CPU fallback disabled, matching the same round on the CPU provider.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { llamaConfig, randomWeights } from '../../src/engine/models/random.ts';
import { ADAMW_DEFAULTS } from '../../src/dpo/optimizer.ts';
import { type TrainOptions, trainDpo } from '../../src/dpo/trainer.ts';

const config = llamaConfig({ vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24 });

test('a LoRA-DPO round on WebGPU matches the CPU round step by step', async () => {
  let s = 3;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % 30) + 10;
  const examples = Array.from({ length: 12 }, () => {
    const middle = [next(), next()];
    return { prompt: [next(), next(), next()], chosen: [...middle, 7], rejected: [...middle, 9] };
  });
  const options: TrainOptions = {
    loss: { type: 'sigmoid', beta: 0.1 },
    lora: { rank: 4, alpha: 8 },
    optimizer: ADAMW_DEFAULTS,
    learningRate: 2e-2,
    warmupRatio: 0,
    epochs: 1,
    pairsPerStep: 4,
    lengthStep: 4,
    maxLength: 8,
    evalFraction: 0.25,
    seed: 1,
    padId: 0,
    headChunks: 2,
  };
  const cpu = await trainDpo(config, randomWeights(config, 5, 0.2), examples, { ...options, device: 'cpu' });
  const gpu = await trainDpo(config, randomWeights(config, 5, 0.2), examples, { ...options, device: 'webgpu' });
  assert.equal(gpu.steps.length, cpu.steps.length);
  gpu.steps.forEach((m, i) => {
    for (const name of ['loss', 'rewards/margins', 'grad_norm'] as const) {
      const [a, b] = [cpu.steps[i]![name], m[name]];
      assert.ok(Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(a)), `step ${i + 1} ${name}: cpu ${a}, webgpu ${b}`);
    }
  });
  assert.ok(Math.abs(gpu.eval!.loss - cpu.eval!.loss) < 1e-4, `eval loss: cpu ${cpu.eval!.loss}, webgpu ${gpu.eval!.loss}`);
});
