import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { Graph } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import { ModelProto } from '../../../src/engine/graph/onnxProto.ts';
import * as op from '../../../src/engine/graph/ops.ts';
import { type QuantBits, concatRows, dequantizeBlocks, quantizeBlocks, repackGgmlBlocks } from '../../../src/engine/graph/quantize.ts';
import { float32ToHalfBits } from '../../../src/engine/hf/halfPrecision.ts';

function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

for (const bits of [8, 4] as QuantBits[]) {
  test(`int${bits}: every value within half a step of its block's scale (int4: a step at the clipped end), padded last block`, () => {
    const rows = 3;
    const cols = 40; // one whole block of 32 and one padded
    const w = randn(rows * cols, bits);
    const q = quantizeBlocks(w, rows, cols, bits, 32);
    assert.deepEqual([q.packed.length, q.scales.length], [(rows * 2 * 32 * bits) / 8, rows * 2]);
    const back = dequantizeBlocks(q);
    for (let i = 0; i < w.length; i++) {
      const scale = Math.abs(q.scales[Math.floor(i / cols) * 2 + Math.floor((i % cols) / 32)]!);
      // int4's codes reach 8 steps on the side of the block's extreme, 7 on the other (llama.cpp's Q4_0)
      const bound = bits === 8 || Math.abs(w[i]!) <= 7.5 * scale ? scale / 2 : scale;
      assert.ok(Math.abs(back[i]! - w[i]!) <= bound + 1e-7, `element ${i}: ${w[i]} → ${back[i]}`);
    }
    // the largest magnitude of a block is represented exactly (int4 maps it to code 0, int8 to ±127)
    const first = w.subarray(0, 32).reduce((m, v) => (Math.abs(v) > Math.abs(m) ? v : m), 0);
    assert.ok(Math.abs(back[w.subarray(0, 32).indexOf(first)]! - first) < 1e-6);
  });
}

test('columns layout quantizes the transpose (GPT-2 Conv1D weights stored [in, out])', () => {
  const w = randn(6 * 64, 3); // [in 64, out 6]
  const transposed = new Float32Array(6 * 64);
  for (let o = 0; o < 6; o++) for (let i = 0; i < 64; i++) transposed[o * 64 + i] = w[i * 6 + o]!;
  assert.deepEqual(quantizeBlocks(w, 6, 64, 4, 32, 'columns'), quantizeBlocks(transposed, 6, 64, 4, 32));
});

test('concatRows stacks the rows of weights with the same columns', () => {
  const a = quantizeBlocks(randn(2 * 32, 1), 2, 32, 8, 32);
  const b = quantizeBlocks(randn(3 * 32, 2), 3, 32, 8, 32);
  const both = concatRows([a, b]);
  assert.equal(both.rows, 5);
  assert.deepEqual(dequantizeBlocks(both), Float32Array.from([...dequantizeBlocks(a), ...dequantizeBlocks(b)]));
  assert.throws(() => concatRows([a, quantizeBlocks(randn(64, 2), 1, 64, 8, 32)]), /columns/);
});

/** One GGML block: an f16 scale, then the code bytes. */
const ggmlBlock = (scale: number, codes: number[]) => [float32ToHalfBits(scale) & 255, float32ToHalfBits(scale) >> 8, ...codes];

test('GGUF Q8_0 blocks repack as they are: value = q × scale, codes shifted by 128', () => {
  const codes = Array.from({ length: 32 }, (_, j) => j * 8 - 128); // −128 … 120
  const bytes = Uint8Array.from([...ggmlBlock(0.5, codes.map((q) => q & 255)), ...ggmlBlock(-0.25, codes.map((q) => -q & 255))]);
  const q = repackGgmlBlocks('Q8_0', 2, 32, bytes);
  assert.deepEqual([q.bits, q.blockSize], [8, 32]);
  const expected = [...codes.map((c) => c * 0.5), ...codes.map((c) => -((-c << 24) >> 24) * 0.25)];
  assert.deepEqual([...dequantizeBlocks(q)], expected);
});

test('GGUF Q4_0 blocks repack as they are: value = (q − 8) × scale, element j and j+16 share a GGUF byte', () => {
  const codes = Array.from({ length: 64 }, (_, e) => (e * 5 + 3) % 16); // two blocks' element codes
  const block = (b: number) => Array.from({ length: 16 }, (_, j) => codes[b * 32 + j]! | (codes[b * 32 + j + 16]! << 4));
  const bytes = Uint8Array.from([...ggmlBlock(2, block(0)), ...ggmlBlock(0.125, block(1))]);
  const q = repackGgmlBlocks('Q4_0', 1, 64, bytes);
  assert.deepEqual([q.bits, q.blockSize, q.packed.length], [4, 32, 32]);
  assert.deepEqual([...dequantizeBlocks(q)], codes.map((c, e) => (c - 8) * (e < 32 ? 2 : 0.125)));
  // MatMulNBits' nibble order: byte i holds elements 2i (low) and 2i+1 (high)
  assert.equal(q.packed[0], codes[0]! | (codes[1]! << 4));
});

test('GGML types that are not MatMulNBits blocks, and wrong sizes, are refused', () => {
  assert.throws(() => repackGgmlBlocks('Q4_K', 1, 256, new Uint8Array(144)), /dequantize/);
  assert.throws(() => repackGgmlBlocks('Q8_0', 1, 32, new Uint8Array(33)), /needs 34 bytes/);
});

for (const bits of [8, 4] as QuantBits[]) {
  test(`MatMulBlocks lowers to com.microsoft MatMulNBits (int${bits}) and matches the dequantized product`, async () => {
    const [M, K, N] = [3, 64, 5];
    const q = quantizeBlocks(randn(N * K, 9), N, K, bits, 32);
    const g = new Graph('nbits');
    const x = g.input('x', 'float32', [M, K]);
    const packed = g.initializer('w.q', { dtype: 'uint8', shape: [N, 2, (32 * bits) / 8], data: q.packed }, { weight: true });
    const scales = g.initializer('w.scales', { dtype: 'float32', shape: [N * 2], data: q.scales }, { weight: true });
    g.output(op.matmulBlocks(x, packed, scales, bits, 32), 'y');
    const lowered = lower(g, 'cpu');
    const nbits = lowered.nodes.find((n) => n.opType === 'MatMulNBits')!;
    assert.equal(nbits.domain, 'com.microsoft');
    assert.equal(nbits.attributes.accuracy_level?.kind === 'int' && nbits.attributes.accuracy_level.value, 4);
    const { model } = serialize(lowered, 'embedded');
    const decoded = ModelProto.toObject(ModelProto.decode(model), { longs: Number }) as { opset_import: { domain?: string; version: number }[]; graph: { initializer: { name: string; data_type: number }[] } };
    assert.ok(decoded.opset_import.some((o) => o.domain === 'com.microsoft' && o.version === 1));
    assert.equal(decoded.graph.initializer.find((t) => t.name === 'w.q')?.data_type, 2);
    const xs = randn(M * K, 4);
    const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
    const y = (await session.run({ x: new ort.Tensor('float32', xs, [M, K]) })).y!.data as Float32Array;
    await session.release();
    const w = dequantizeBlocks(q);
    let worst = 0;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let sum = 0;
        for (let k = 0; k < K; k++) sum += xs[m * K + k]! * w[n * K + k]!;
        worst = Math.max(worst, Math.abs(sum - y[m * N + n]!));
      }
    }
    // accuracy level 4 quantizes the activations to int8 per block: a small error on top of the weights'
    assert.ok(worst < 0.02, `max |Δ| ${worst}`);
    assert.throws(() => op.matmulBlocks(x, packed, scales, bits, 16), /blocks of 16/);
  });
}
