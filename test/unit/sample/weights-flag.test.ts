import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { AUTO_WEIGHTS, weightStorageFor } from '../../../src/engine/sample/engine.ts';
import { preferJson, tempDir } from '../cli/helpers.ts';

const dir = tempDir('cli-sample-weights');
let model: string;
const cache = join(dir, 'cache');
const sample = (...flags: string[]) => preferJson('sample', '--model', model, '--prefix', 'def f(x):\n    return', '--n', '2', '--max-tokens', '3', '--seed', '4', '--cache', cache, '--threads', '1', ...flags);

before(async () => {
  model = await makeCheckpoint('llama', join(dir, 'llama'));
});

test('prefer sample --weights int4 compiles int4 storage and reports it; auto reports what it picked', () => {
  for (const [flag, expected] of [['int4', 'int4'], ['fp32', 'fp32'], ['auto', AUTO_WEIGHTS.cpu]]) {
    const r = sample('--weights', flag!);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.value.weights, expected);
    assert.equal(r.value.device, 'cpu');
  }
  assert.equal(sample().value.weights, AUTO_WEIGHTS.cpu);
});

test('prefer sample --weights refuses an unknown storage with the ones it accepts', () => {
  const r = sample('--weights', 'int3');
  assert.equal(r.code, 2);
  assert.match(String(r.value.error), /--weights must be auto, fp32, fp16, int8, int4, got "int3"/);
});

test("'auto' picks per device; a storage asked for is kept on every device", () => {
  assert.equal(weightStorageFor('auto', 'webgpu'), 'fp16');
  assert.equal(weightStorageFor('auto', 'cpu'), AUTO_WEIGHTS.cpu);
  assert.equal(weightStorageFor('int4', 'webgpu'), 'int4');
});
