import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdamW, learningRate } from '../../../src/engine/pretrain/adamw.ts';

const schedule = { peakLr: 1e-3, minLr: 1e-4, warmupSteps: 10, totalSteps: 110 };

test('warms up linearly to the peak, then decays along a cosine to the minimum', () => {
  assert.equal(learningRate(schedule, 0), 1e-4);
  assert.equal(learningRate(schedule, 9), 1e-3);
  assert.ok(Math.abs(learningRate(schedule, 10) - 1e-3) < 1e-12);
  assert.ok(Math.abs(learningRate(schedule, 60) - 5.5e-4) < 1e-12, 'half way down the cosine: the mean of peak and minimum');
  assert.ok(Math.abs(learningRate(schedule, 110) - 1e-4) < 1e-12);
  assert.ok(Math.abs(learningRate(schedule, 500) - 1e-4) < 1e-12, 'stays at the minimum past the end');
});

test('one AdamW update matches the formula: bias-corrected moments and decoupled weight decay', () => {
  const settings = { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1, maxGradNorm: 0 };
  const adam = new AdamW(settings);
  const w = Float32Array.from([1, -2]);
  const gain = Float32Array.from([1, 1]);
  const lr = 0.01;
  adam.update([{ name: 'w', value: w, decay: true }, { name: 'gain', value: gain, decay: false }], new Map([['w', Float32Array.from([0.5, -4])], ['gain', Float32Array.from([2, 0])]]), lr);
  // after one step m̂ = g and v̂ = g², so the step is lr·g/(|g|+ε) plus decay lr·wd·w on matrices only
  const expected = (x: number, g: number, decay: boolean) => x * (decay ? 1 - lr * 0.1 : 1) - (lr * g) / (Math.abs(g) + 1e-8);
  assert.ok(Math.abs(w[0]! - expected(1, 0.5, true)) < 1e-6);
  assert.ok(Math.abs(w[1]! - expected(-2, -4, true)) < 1e-6);
  assert.ok(Math.abs(gain[0]! - expected(1, 2, false)) < 1e-6);
  assert.equal(gain[1], 1, 'a zero gradient on an undecayed weight leaves it unchanged');
});

test('clips the global gradient norm before the moments see it', () => {
  const adam = new AdamW({ beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0, maxGradNorm: 1 });
  const w = new Float32Array(2);
  const norm = adam.update([{ name: 'w', value: w, decay: false }], new Map([['w', Float32Array.from([3, 4])]]), 0.1);
  assert.equal(norm, 5);
  assert.ok(Math.abs(adam.moments.get('w')!.m[0]! - 0.1 * 0.6) < 1e-7, 'm = (1−β1)·g·(1/5)');
});

test('refuses a non-finite gradient and leaves the weights as they were', () => {
  const adam = new AdamW();
  const w = Float32Array.from([1, 2]);
  assert.throws(() => adam.update([{ name: 'w', value: w, decay: true }], new Map([['w', Float32Array.from([NaN, 1])]]), 0.1), /gradient norm is NaN/);
  assert.deepEqual([...w], [1, 2]);
  assert.equal(adam.steps, 0);
});
