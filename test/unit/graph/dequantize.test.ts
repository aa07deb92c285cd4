import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { gradients } from '../../../src/engine/graph/autodiff.ts';
import { gradientRules } from '../../../src/engine/graph/gradients.ts';
import { Graph } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import * as op from '../../../src/engine/graph/ops.ts';
import { type QuantBits, dequantizeBlocks, quantizeBlocks } from '../../../src/engine/graph/quantize.ts';
import { timesTransposed } from '../../../src/engine/models/weights.ts';

function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

async function run(g: Graph, feeds: Record<string, ort.Tensor> = {}): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(serialize(lower(g, 'cpu'), 'embedded').model, { intraOpNumThreads: 1 });
  const out = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

for (const bits of [8, 4] as QuantBits[]) {
  test(`DequantizeBlocks int${bits} runs on CPU and gives the stored weight exactly (padded last block)`, async () => {
    const [rows, cols] = [5, 40];
    const q = quantizeBlocks(randn(rows * cols, 7 + bits), rows, cols, bits, 32);
    const g = new Graph('dequantize');
    const packed = g.initializer('w.q', { dtype: 'uint8', shape: [rows, 2, (32 * bits) / 8], data: q.packed }, { weight: true });
    const scales = g.initializer('w.scales', { dtype: 'float32', shape: [rows * 2], data: q.scales }, { weight: true });
    g.output(op.dequantizeBlocks(packed, scales, bits, 32, cols), 'w');
    assert.deepEqual((await run(g)).w, dequantizeBlocks(q));
  });
}

test('the stored base is a constant: x·Wᵀ over dequantized blocks gives dx = g·W and no gradient into the blocks', async () => {
  const [rows, cols, n] = [3, 64, 4];
  const q = quantizeBlocks(randn(rows * cols, 3), rows, cols, 4, 32);
  const g = new Graph('dx');
  const x = g.input('x', 'float32', [n, cols]);
  const packed = g.initializer('w.q', { dtype: 'uint8', shape: [rows, 2, 16], data: q.packed }, { weight: true });
  const scales = g.initializer('w.scales', { dtype: 'float32', shape: [rows * 2], data: q.scales }, { weight: true });
  const y = timesTransposed(x, op.dequantizeBlocks(packed, scales, 4, 32, cols));
  const loss = op.reduceSum(op.mul(y, y), [0, 1], false);
  g.output(gradients(g, loss, [x], gradientRules).get(x)!, 'dx');
  const xs = randn(n * cols, 9);
  const { dx } = await run(g, { x: new ort.Tensor('float32', xs, [n, cols]) });
  const w = dequantizeBlocks(q);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < cols; c++) {
      let expected = 0;
      for (let r = 0; r < rows; r++) {
        let yr = 0;
        for (let k = 0; k < cols; k++) yr += xs[i * cols + k]! * w[r * cols + k]!;
        expected += 2 * yr * w[r * cols + c]!;
      }
      assert.ok(Math.abs(dx![i * cols + c]! - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `dx[${i}, ${c}]: ${dx![i * cols + c]} vs ${expected}`);
    }
  }
  assert.throws(() => gradients(g, loss, [scales], gradientRules), /no gradient for input 1/);
});

test('MatMulBlocks passes dx = g·W to its input, W dequantized from the same blocks, and nothing to the blocks', async () => {
  const [rows, cols, n] = [3, 64, 4];
  const q = quantizeBlocks(randn(rows * cols, 5), rows, cols, 8, 32);
  const g = new Graph('dx-blocks');
  const x = g.input('x', 'float32', [n, cols]);
  const packed = g.initializer('w.q', { dtype: 'uint8', shape: [rows, 2, 32], data: q.packed }, { weight: true });
  const scales = g.initializer('w.scales', { dtype: 'float32', shape: [rows * 2], data: q.scales }, { weight: true });
  // a loss linear in y: its gradient g = c is exact, whatever the kernel does to the product's activations
  const c = randn(n * rows, 11);
  const loss = op.reduceSum(op.mul(op.matmulBlocks(x, packed, scales, 8, 32), g.constant({ dtype: 'float32', shape: [n, rows], data: c }, 'c')), [0, 1], false);
  g.output(gradients(g, loss, [x], gradientRules).get(x)!, 'dx');
  const { dx } = await run(g, { x: new ort.Tensor('float32', randn(n * cols, 13), [n, cols]) });
  const w = dequantizeBlocks(q);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < cols; k++) {
      let expected = 0;
      for (let r = 0; r < rows; r++) expected += c[i * rows + r]! * w[r * cols + k]!;
      assert.ok(Math.abs(dx![i * cols + k]! - expected) <= 1e-5 * Math.max(1, Math.abs(expected)), `dx[${i}, ${k}]: ${dx![i * cols + k]} vs ${expected}`);
    }
  }
  assert.throws(() => gradients(g, loss, [scales], gradientRules), /no gradient for input 2/);
});
