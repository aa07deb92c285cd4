import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADAMW_DEFAULTS, AdamW, type AdamWConfig, PRETRAIN_ADAMW_DEFAULTS } from '../../../src/train/adamw.ts';

test('one AdamW update matches the formula: bias-corrected moments and decoupled weight decay', async () => {
  const settings = { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1, maxGradNorm: null };
  const adam = new AdamW(settings);
  const w = Float32Array.from([1, -2]);
  const gain = Float32Array.from([1, 1]);
  const lr = 0.01;
  await adam.update([{ name: 'w', value: w, decay: true }, { name: 'gain', value: gain, decay: false }], new Map([['w', Float32Array.from([0.5, -4])], ['gain', Float32Array.from([2, 0])]]), lr);
  // after one step m̂ = g and v̂ = g², so the step is lr·g/(|g|+ε) plus decay lr·wd·w on matrices only
  const expected = (x: number, g: number, decay: boolean) => x * (decay ? 1 - lr * 0.1 : 1) - (lr * g) / (Math.abs(g) + 1e-8);
  assert.ok(Math.abs(w[0]! - expected(1, 0.5, true)) < 1e-6);
  assert.ok(Math.abs(w[1]! - expected(-2, -4, true)) < 1e-6);
  assert.ok(Math.abs(gain[0]! - expected(1, 2, false)) < 1e-6);
  assert.equal(gain[1], 1, 'a zero gradient on an undecayed weight leaves it unchanged');
  await adam.release();
});

test('clips the global gradient norm before the moments see it', async () => {
  const adam = new AdamW({ beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0, maxGradNorm: 1 });
  const w = new Float32Array(2);
  const norm = await adam.update([{ name: 'w', value: w, decay: false }], new Map([['w', Float32Array.from([3, 4])]]), 0.1);
  assert.equal(norm, 5);
  assert.ok(Math.abs(adam.moments.get('w')!.m[0]! - 0.1 * 0.6) < 1e-7, 'm = (1−β1)·g·(1/5)');
  await adam.release();
});

test('refuses a non-finite gradient and leaves the weights as they were', async () => {
  const adam = new AdamW();
  const w = Float32Array.from([1, 2]);
  await assert.rejects(adam.update([{ name: 'w', value: w, decay: true }], new Map([['w', Float32Array.from([NaN, 1])]]), 0.1), /gradient norm is NaN/);
  assert.deepEqual([...w], [1, 2]);
  assert.equal(adam.steps, 0);
  await adam.release();
});

/** Two torch AdamW steps with clip_grad_norm_, in doubles, for one weight. */
function handComputed(config: AdamWConfig, w0: number[], grads: number[][], lrs: number[], decay: boolean): number[] {
  let w = [...w0];
  let m = w.map(() => 0);
  let v = w.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    const norm = Math.hypot(...g);
    const clip = config.maxGradNorm === null ? 1 : Math.min(1, config.maxGradNorm / (norm + 1e-6));
    m = m.map((x, i) => config.beta1 * x + (1 - config.beta1) * g[i]! * clip);
    v = v.map((x, i) => config.beta2 * x + (1 - config.beta2) * (g[i]! * clip) ** 2);
    const lr = lrs[k]!;
    w = w.map((x, i) => x * (decay ? 1 - lr * config.weightDecay : 1) - (lr * m[i]!) / (1 - config.beta1 ** t) / (Math.sqrt(v[i]! / (1 - config.beta2 ** t)) + config.epsilon));
  });
  return w;
}

for (const [use, config] of [['DPO', ADAMW_DEFAULTS], ['pretraining', PRETRAIN_ADAMW_DEFAULTS]] as const) {
  test(`two updates with ${use}'s defaults match a hand-computed AdamW step, clipping and decay included`, async () => {
    const w0 = [0.5, -1.5, 2];
    // the first gradient's norm is above 1, so clipping acts; the second is below
    const grads = [[1.2, -0.4, 2.5], [0.1, 0.3, -0.2]];
    const lrs = [0.05, 0.02];
    const adam = new AdamW(config);
    const w = Float32Array.from(w0);
    for (const [k, g] of grads.entries()) await adam.update([{ name: 'w', value: w, decay: true }], new Map([['w', Float32Array.from(g)]]), lrs[k]!);
    await adam.release();
    const want = handComputed(config, w0, grads, lrs, true);
    want.forEach((x, i) => assert.ok(Math.abs(w[i]! - x) < 1e-6, `w[${i}] = ${w[i]}, hand-computed ${x}`));
    const otherBetas = handComputed({ ...config, beta2: config.beta2 === 0.95 ? 0.999 : 0.95 }, w0, grads, lrs, true);
    assert.ok(otherBetas.some((x, i) => Math.abs(w[i]! - x) > 1e-5), 'the two default sets give different steps');
  });
}
