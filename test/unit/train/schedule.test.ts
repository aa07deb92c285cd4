import assert from 'node:assert/strict';
import { test } from 'node:test';
import { learningRate } from '../../../src/train/schedule.ts';

const schedule = { decay: 'cosine', peakLr: 1e-3, minLr: 1e-4, warmupSteps: 10, totalSteps: 110 } as const;

test('warms up linearly to the peak, then decays along a cosine to the minimum', () => {
  assert.equal(learningRate(schedule, 0), 1e-4);
  assert.equal(learningRate(schedule, 9), 1e-3);
  assert.ok(Math.abs(learningRate(schedule, 10) - 1e-3) < 1e-12);
  assert.ok(Math.abs(learningRate(schedule, 60) - 5.5e-4) < 1e-12, 'half way down the cosine: the mean of peak and minimum');
  assert.ok(Math.abs(learningRate(schedule, 110) - 1e-4) < 1e-12);
  assert.ok(Math.abs(learningRate(schedule, 500) - 1e-4) < 1e-12, 'stays at the minimum past the end');
});

test('the linear schedule warms up, then decays to zero, as Hugging Face’s does', () => {
  const linear = { decay: 'linear', peakLr: 1, minLr: 0, warmupSteps: 2, totalSteps: 6 } as const;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((k) => learningRate(linear, k)), [0, 0.5, 1, 0.75, 0.5, 0.25, 0]);
});
