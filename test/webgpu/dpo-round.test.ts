// The WebGPU tier: a whole LoRA-DPO round (reference pass, AdamW steps inside the graph, evaluation) on ONNX
// Runtime's WebGPU provider with CPU fallback disabled, matching the same round on the CPU provider.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADAMW_DEFAULTS } from '../../src/train/adamw.ts';
import { type TrainOptions, trainDpo } from '../../src/dpo/trainer.ts';
import { config, syntheticPairs, weights } from './syntheticTask.ts';

for (const recompute of ['products', 'layers'] as const) {
  test(`a LoRA-DPO round on WebGPU (--recompute ${recompute}) matches the CPU round step by step`, () => matchesCpu(recompute));
}

async function matchesCpu(recompute: TrainOptions['recompute']): Promise<void> {
  const examples = syntheticPairs();
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
    recompute,
  };
  const cpu = await trainDpo(config, weights(), examples, { ...options, device: 'cpu' });
  const gpu = await trainDpo(config, weights(), examples, { ...options, device: 'webgpu' });
  assert.equal(gpu.steps.length, cpu.steps.length);
  gpu.steps.forEach((m, i) => {
    for (const name of ['loss', 'rewards/margins', 'grad_norm'] as const) {
      const [a, b] = [cpu.steps[i]![name], m[name]];
      assert.ok(Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(a)), `step ${i + 1} ${name}: cpu ${a}, webgpu ${b}`);
    }
  });
  assert.ok(Math.abs(gpu.eval!.loss - cpu.eval!.loss) < 1e-4, `eval loss: cpu ${cpu.eval!.loss}, webgpu ${gpu.eval!.loss}`);
}
