import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { float32ToBfloat16Bits, float32ToHalfBits } from '../../../src/engine/hf/halfPrecision.ts';
import { encodeSafetensors } from '../../../src/engine/hf/safetensors-write.ts';
import { loadWeights } from '../../../src/engine/hf/weights.ts';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { tempDir } from './temp-dir.ts';

async function weightsOf(tensors: Parameters<typeof encodeSafetensors>[0], options: Parameters<typeof encodeSafetensors>[1] = {}) {
  const dir = await tempDir('st');
  await writeFile(join(dir, 'model.safetensors'), encodeSafetensors(tensors, options));
  return loadWeights(dir);
}

test('f32 tensors round-trip exactly and are views on the file bytes, not copies', async () => {
  const a = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i) * 1e3);
  const weights = await weightsOf([
    { name: 'a', shape: [3, 4], data: a },
    { name: 'b', shape: [2], data: Float32Array.of(-0, Number.MIN_VALUE) },
  ]);
  const got = weights.get('a');
  assert.deepEqual(got.shape, [3, 4]);
  assert.equal(got.storedDtype, 'F32');
  assert.deepEqual(got.data, a);
  assert.equal(got.data.buffer, weights.files[0]!.bytes.buffer, 'aligned f32 must not be copied');
  assert.deepEqual(weights.get('b').data, Float32Array.of(-0, Number.MIN_VALUE));
  assert.deepEqual(weights.names(), ['a', 'b']);
});

test('f16 encodes to the IEEE half bit patterns and decodes back', () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -14, 0x0400], // smallest normal
    [Infinity, 0x7c00],
    [1e6, 0x7c00], // overflow → infinity
    [1 + 2 ** -11, 0x3c00], // tie rounds to even
    [1 + 3 * 2 ** -11, 0x3c02],
  ];
  for (const [value, bits] of cases) assert.equal(float32ToHalfBits(value), bits, `half(${value})`);
});

test('f16 tensors read back as float32 within half precision, converted once', async () => {
  const values = Float32Array.from({ length: 64 }, (_, i) => (i - 32) * 0.37 + 1 / (i + 1));
  const weights = await weightsOf([{ name: 'h', shape: [8, 8], data: values, dtype: 'F16' }]);
  const got = weights.get('h');
  assert.equal(got.storedDtype, 'F16');
  for (let i = 0; i < values.length; i++) {
    assert.ok(Math.abs((got.data[i] as number) - (values[i] as number)) <= Math.abs(values[i] as number) * 2 ** -11, `element ${i}`);
  }
  assert.equal(float32ToHalfBits(got.data[5] as number), float32ToHalfBits(values[5] as number));
  assert.equal(weights.get('h').data, got.data, 'second get must return the cached conversion');
});

test('bf16 tensors read back as the top 16 bits of float32, rounded to nearest even', async () => {
  assert.equal(float32ToBfloat16Bits(1), 0x3f80);
  assert.equal(float32ToBfloat16Bits(-2), 0xc000);
  const values = Float32Array.of(1, -2, 3.14159, 1e-20, 65504.5, 1 + 2 ** -8, 1 + 3 * 2 ** -8);
  const weights = await weightsOf([{ name: 'b', shape: [7], data: values, dtype: 'BF16' }]);
  const got = weights.get('b').data;
  const expected = [1, -2, 3.140625, 9.99e-21, 65536, 1, 1 + 2 ** -6];
  for (let i = 0; i < values.length; i++) {
    assert.ok(Math.abs((got[i] as number) - (expected[i] as number)) <= Math.abs(expected[i] as number) * 2 ** -8, `element ${i}: ${got[i]}`);
  }
  assert.equal(got[0], 1);
  assert.equal(got[5], 1); // 1 + 2^-8 is a tie: rounds to even (1)
  assert.equal(got[6], 1 + 2 ** -6); // 1 + 3·2^-8 rounds up
});

test('unaligned f32 data (data section at an offset not divisible by 4) is copied and read correctly', async () => {
  const a = Float32Array.from({ length: 10 }, (_, i) => i * 1.5 - 3);
  for (const shift of [1, 2, 3]) {
    const weights = await weightsOf([{ name: 'a', shape: [10], data: a }], { dataShift: shift });
    const entry = weights.files[0]!.tensors.get('a')!;
    assert.notEqual(entry.begin % 4, 0, `shift ${shift} must misalign the tensor`);
    const got = weights.get('a');
    assert.deepEqual(got.data, a);
    assert.notEqual(got.data.buffer, weights.files[0]!.bytes.buffer);
  }
});

test('sharded checkpoints load through model.safetensors.index.json with the same tensors as one file', async () => {
  const root = await tempDir('shard');
  const single = await loadWeights(await makeCheckpoint('qwen2', join(root, 'single')));
  const sharded = await loadWeights(await makeCheckpoint('qwen2', join(root, 'sharded'), { sharded: true }));
  assert.equal(sharded.files.length, 2);
  assert.deepEqual([...sharded.names()].sort(), [...single.names()].sort());
  for (const name of single.names()) assert.deepEqual(sharded.get(name).data, single.get(name).data, name);
});

test('the same tensor has the same values whatever the stored dtype (f16/bf16 fixtures)', async () => {
  const root = await tempDir('dtype');
  const f32 = await loadWeights(await makeCheckpoint('llama', join(root, 'f32')));
  const f16 = await loadWeights(await makeCheckpoint('llama', join(root, 'f16'), { dtype: 'F16' }));
  const bf16 = await loadWeights(await makeCheckpoint('llama', join(root, 'bf16'), { dtype: 'BF16' }));
  const name = 'model.layers.1.mlp.down_proj.weight';
  const [a, b, c] = [f32.get(name).data, f16.get(name).data, bf16.get(name).data];
  assert.equal(f16.get(name).storedDtype, 'F16');
  assert.equal(bf16.get(name).storedDtype, 'BF16');
  for (let i = 0; i < a.length; i += 97) {
    const x = a[i] as number;
    assert.ok(Math.abs((b[i] as number) - x) <= Math.abs(x) * 2 ** -11 + 2 ** -24, `f16 ${i}`);
    assert.ok(Math.abs((c[i] as number) - x) <= Math.abs(x) * 2 ** -8, `bf16 ${i}`);
  }
});
