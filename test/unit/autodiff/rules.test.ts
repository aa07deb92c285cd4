import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { Graph } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import { type GradientCase, gradientCheck, uniform } from './gradcheck.ts';
import * as op from '../../../src/engine/graph/ops.ts';
import { erf, reciprocal, relu } from '../../../src/engine/graph/trainingOps.ts';

const TOLERANCE = 1e-6;

async function expectGradients(c: GradientCase, tolerance = TOLERANCE): Promise<void> {
  const r = await gradientCheck(c);
  assert.ok(r.checked > 0, 'no element was checked');
  assert.ok(r.maxRelError <= tolerance, `max relative error ${r.maxRelError.toExponential(2)} > ${tolerance} at ${r.worst}`);
}

const n = (shape: number[]) => shape.reduce((p, d) => p * d, 1);
const rand = (shape: number[], seed: number, lo = -1, hi = 1) => ({ shape, data: uniform(n(shape), seed, lo, hi) });

test('Add, Sub and Mul sum broadcast gradients back to each operand', () =>
  expectGradients({
    inputs: { a: rand([2, 1, 3], 1), b: rand([4, 1], 2), c: rand([3], 3) },
    wrt: ['a', 'b', 'c'],
    build: ({ a, b, c }) => op.mul(op.sub(op.add(a!, b!), c!), c!),
  }));

test('a value used several times accumulates every gradient (x·x·y + x)', () =>
  expectGradients({
    inputs: { x: rand([3, 2], 4), y: rand([3, 2], 5) },
    wrt: ['x', 'y'],
    build: ({ x, y }) => op.add(op.mul(op.mul(x!, x!), y!), x!),
  }));

test('Div and Neg', () =>
  expectGradients({
    inputs: { a: rand([2, 3], 6), b: rand([3], 7, 0.5, 2) },
    wrt: ['a', 'b'],
    build: ({ a, b }) => op.neg(op.div(a!, b!)),
  }));

test('Pow with a tensor exponent and with a constant exponent', () =>
  expectGradients({
    inputs: { a: rand([2, 3], 8, 0.5, 2), b: rand([2, 3], 9, -1.5, 1.5) },
    wrt: ['a', 'b'],
    build: ({ a, b }) => op.add(op.pow(a!, b!), op.pow(a!, 3)),
  }));

test('Sqrt, Reciprocal, Exp and Log', () =>
  expectGradients({
    inputs: { x: rand([5], 10, 0.3, 2) },
    wrt: ['x'],
    build: ({ x }) => op.concat([op.sqrt(x!), reciprocal(x!), op.exp(x!), op.log(x!)], 0),
  }));

test('Tanh and Sigmoid', () =>
  expectGradients({
    inputs: { x: rand([6], 11, -2, 2) },
    wrt: ['x'],
    build: ({ x }) => op.add(op.tanh(x!), op.sigmoid(op.mul(x!, 1.5))),
  }));

test('Relu away from its kink', () =>
  expectGradients({
    inputs: { x: { shape: [6], data: [-1.2, -0.4, -0.1, 0.2, 0.7, 1.9] } },
    wrt: ['x'],
    build: ({ x }) => op.mul(relu(x!), x!),
  }));

test('Erf (float32: ONNX Runtime has no float64 Erf kernel; tolerance 2e-3)', () =>
  expectGradients(
    {
      inputs: { x: rand([6], 12, -1.5, 1.5) },
      wrt: ['x'],
      build: ({ x }) => erf(x!),
      dtype: 'float32',
    },
    2e-3,
  ));

test('Cast from float32 to float64 passes the gradient back in float32', () =>
  expectGradients(
    {
      // dyadic values and step: x ± h are exact in float32, so the float64 loss sees the true perturbation
      inputs: { x: { shape: [4], data: [0.5, -0.25, 0.75, 1.125], dtype: 'float32' } },
      wrt: ['x'],
      build: ({ x }) => {
        const x64 = op.cast(x!, 'float64');
        return op.mul(op.mul(x64, x64), x64);
      },
      step: 2 ** -12,
    },
    1e-6,
  ));

test('Where routes the gradient to the chosen branch, broadcasting both', () =>
  expectGradients({
    inputs: {
      c: { shape: [2, 3], data: [true, false, true, false, false, true], dtype: 'bool' },
      a: rand([2, 3], 13),
      b: rand([3], 14),
    },
    wrt: ['a', 'b'],
    build: ({ c, a, b }) => op.where(c!, a!, b!),
  }));

test('MatMul: batched activations against a 2-D weight', () =>
  expectGradients({
    inputs: { a: rand([2, 3, 4], 15), w: rand([4, 5], 16) },
    wrt: ['a', 'w'],
    build: ({ a, w }) => op.matmul(a!, w!),
  }));

test('MatMul: batched operands with a broadcast batch dim', () =>
  expectGradients({
    inputs: { a: rand([2, 2, 3, 4], 17), b: rand([1, 2, 4, 3], 18) },
    wrt: ['a', 'b'],
    build: ({ a, b }) => op.matmul(a!, b!),
  }));

test('Gemm a × bᵀ (the tied LM head)', () =>
  expectGradients({
    inputs: { a: rand([3, 4], 19), b: rand([5, 4], 20) },
    wrt: ['a', 'b'],
    build: ({ a, b }) => op.gemmTransB(a!, b!),
  }));

test('ReduceSum without keepdims and ReduceMean over two axes', () =>
  expectGradients({
    inputs: { x: rand([2, 3, 4], 21) },
    wrt: ['x'],
    build: ({ x }) => op.concat([op.reshape(op.reduceSum(x!, [1], false), [8]), op.reshape(op.reduceMean(x!, [0, 2], true), [3])], 0),
  }));

test('ReduceMax sends the gradient to the maximum', () =>
  expectGradients({
    inputs: { x: rand([3, 5], 22) },
    wrt: ['x'],
    build: ({ x }) => op.reduceMax(op.mul(x!, x!), [-1], false),
  }));

test('Softmax on the last axis and on a middle axis', () =>
  expectGradients({
    inputs: { x: rand([2, 3, 4], 23, -2, 2) },
    wrt: ['x'],
    build: ({ x }) => op.add(op.softmax(x!, -1), op.softmax(x!, 1)),
  }));

test('LogSoftmax', () =>
  expectGradients({
    inputs: { x: rand([3, 5], 24, -2, 2) },
    wrt: ['x'],
    build: ({ x }) => op.logSoftmax(x!, -1),
  }));

test('Reshape, Transpose, Unsqueeze, Squeeze and Expand move the gradient with the data', () =>
  expectGradients({
    inputs: { x: rand([2, 3, 4], 25), b: rand([3, 1], 26) },
    wrt: ['x', 'b'],
    build: ({ x, b }) => {
      const t = op.transpose(op.reshape(x!, [6, 4]), [1, 0]);
      const u = op.squeeze(op.unsqueeze(t, [0, 2]), [0]);
      return op.add(op.reshape(u, [4, 6]), op.reshape(op.expand(b!, [2, 3, 4]), [4, 6]));
    },
  }));

test('Concat splits the gradient among its inputs', () =>
  expectGradients({
    inputs: { a: rand([2, 1, 3], 27), b: rand([2, 2, 3], 28), c: rand([2, 3, 3], 29) },
    wrt: ['a', 'b', 'c'],
    build: ({ a, b, c }) => op.concat([a!, b!, op.mul(c!, c!)], 1),
  }));

test('Slice pads the gradient with zeros (negative starts, ends past the end)', () =>
  expectGradients({
    inputs: { x: rand([3, 6], 30) },
    wrt: ['x'],
    build: ({ x }) => op.concat([op.slice(x!, [1, -4], [3, 1e9], [0, 1]), op.slice(x!, [0], [2], [0])], 1),
  }));

test('Gather scatters row gradients back, repeated rows accumulate', () =>
  expectGradients({
    inputs: { table: rand([5, 3], 31), ids: { shape: [2, 3], data: [4n, 1n, 4n, 0n, 2n, 4n], dtype: 'int64' } },
    wrt: ['table'],
    build: ({ table, ids }) => op.gather(table!, ids!, 0),
  }));

test('GatherElements scatters element gradients back', () =>
  expectGradients({
    inputs: { x: rand([2, 4], 32), idx: { shape: [2, 3], data: [3n, 0n, 3n, 1n, 1n, 2n], dtype: 'int64' } },
    wrt: ['x'],
    build: ({ x, idx }) => op.gatherElements(x!, idx!, 1),
  }));

test('Identity', () =>
  expectGradients({ inputs: { x: rand([3], 33) }, wrt: ['x'], build: ({ x }) => op.mul(op.identity(x!), x!) }));

test('RmsNorm: gradients for the input and the gain', () =>
  expectGradients({
    inputs: { x: rand([2, 3, 4], 34), w: rand([4], 35, 0.5, 1.5) },
    wrt: ['x', 'w'],
    build: ({ x, w }) => op.rmsNorm(x!, w!, 1e-5),
  }));

test('LayerNorm: gradients for the input, the gain and the bias', () =>
  expectGradients({
    inputs: { x: rand([3, 5], 36), w: rand([5], 37, 0.5, 1.5), b: rand([5], 38) },
    wrt: ['x', 'w', 'b'],
    build: ({ x, w, b }) => op.layerNorm(x!, w!, b!, 1e-5),
  }));

test('Rotary: the gradient is the inverse rotation', () =>
  expectGradients({
    inputs: { x: rand([2, 3, 4], 39), cos: rand([3, 2], 40), sin: rand([3, 2], 41) },
    wrt: ['x'],
    build: ({ x, cos, sin }) => op.rotary(x!, cos!, sin!),
  }));

test('GeluTanh', () =>
  expectGradients({ inputs: { x: rand([7], 42, -3, 3) }, wrt: ['x'], build: ({ x }) => op.geluTanh(x!) }));

test('TokenLogProbs: g · (onehot(target) − softmax(logits))', () =>
  expectGradients({
    inputs: { logits: rand([2, 3, 5], 43, -2, 2), targets: { shape: [2, 3], data: [0n, 4n, 4n, 2n, 1n, 4n], dtype: 'int64' } },
    wrt: ['logits'],
    build: ({ logits, targets }) => op.tokenLogProbs(logits!, targets!),
  }));

for (const chunks of [1, 3]) {
  test(`HeadTokenLogProbs in ${chunks} row block(s): gradients for the hidden states and the head`, () =>
    expectGradients({
      inputs: {
        hidden: rand([7, 4], 44),
        head: rand([6, 4], 45),
        targets: { shape: [7], data: [0n, 5n, 5n, 2n, 1n, 3n, 5n], dtype: 'int64' },
      },
      wrt: ['hidden', 'head'],
      build: ({ hidden, head, targets }) => op.headTokenLogProbs(hidden!, head!, targets!, chunks),
    }));
}

for (const blocks of [1, 3]) {
  test(`FrozenHeadTokenLogProbs over ${blocks} vocabulary block(s): the gradient for the hidden states (the head frozen)`, () =>
    expectGradients({
      inputs: {
        hidden: rand([7, 4], 48),
        head: rand([6, 4], 49),
        targets: { shape: [7], data: [0n, 5n, 5n, 2n, 1n, 3n, 5n], dtype: 'int64' },
      },
      wrt: ['hidden'],
      build: ({ hidden, head, targets }) => op.frozenHeadTokenLogProbs(hidden!, targets!, { table: head!, blocks: op.rowBlocks(6, blocks).map(([a, b]) => op.slice(head!, [a], [b], [0])) })[0],
    }));
}

test('FrozenHeadTokenLogProbs equals TokenLogProbs of the full logits, and its second output is softmax · head', async () => {
  const g = new Graph();
  const hidden = g.input('hidden', 'float64', [7, 4]);
  const head = g.input('head', 'float64', [6, 4]);
  const targets = g.input('targets', 'int64', [7]);
  const [logps, expected] = op.frozenHeadTokenLogProbs(hidden, targets, { table: head, blocks: [op.slice(head, [0], [4], [0]), op.slice(head, [4], [6], [0])] });
  g.output(logps, 'blocked');
  g.output(expected, 'expected');
  g.output(op.tokenLogProbs(op.gemmTransB(hidden, head), targets), 'full');
  g.output(op.matmul(op.softmax(op.gemmTransB(hidden, head)), head), 'softmax_head');
  const session = await ort.InferenceSession.create(serialize(lower(g)).model);
  const out = await session.run({
    hidden: new ort.Tensor('float64', Float64Array.from(uniform(28, 50, -3, 3)), [7, 4]),
    head: new ort.Tensor('float64', Float64Array.from(uniform(24, 51, -3, 3)), [6, 4]),
    targets: new ort.Tensor('int64', BigInt64Array.from([0n, 5n, 5n, 2n, 1n, 3n, 5n]), [7]),
  });
  await session.release();
  for (const [a, b] of [['blocked', 'full'], ['expected', 'softmax_head']] as const) {
    const [x, y] = [out[a]!.data as Float64Array, out[b]!.data as Float64Array];
    assert.equal(x.length, y.length);
    y.forEach((v, i) => assert.ok(Math.abs(x[i]! - v) < 1e-12, `${a}[${i}]: ${x[i]} vs ${v}`));
  }
  assert.throws(() => op.frozenHeadTokenLogProbs(hidden, targets, { table: head, blocks: [op.slice(head, [0], [4], [0])] }), /vocabulary blocks of 4 rows in all for a head of 6/);
});

test('HeadTokenLogProbs in row blocks equals TokenLogProbs of the full logits', async () => {
  const g = new Graph();
  const hidden = g.input('hidden', 'float64', [7, 4]);
  const head = g.input('head', 'float64', [6, 4]);
  const targets = g.input('targets', 'int64', [7]);
  g.output(op.headTokenLogProbs(hidden, head, targets, 3), 'blocked');
  g.output(op.tokenLogProbs(op.gemmTransB(hidden, head), targets), 'full');
  const session = await ort.InferenceSession.create(serialize(lower(g)).model);
  const out = await session.run({
    hidden: new ort.Tensor('float64', Float64Array.from(uniform(28, 46)), [7, 4]),
    head: new ort.Tensor('float64', Float64Array.from(uniform(24, 47)), [6, 4]),
    targets: new ort.Tensor('int64', BigInt64Array.from([0n, 5n, 5n, 2n, 1n, 3n, 5n]), [7]),
  });
  await session.release();
  const [blocked, full] = [out.blocked!.data as Float64Array, out.full!.data as Float64Array];
  full.forEach((v, i) => assert.ok(Math.abs(blocked[i]! - v) < 1e-14, `row ${i}: ${blocked[i]} vs ${v}`));
  assert.throws(() => op.headTokenLogProbs(hidden, head, targets, 8), /cannot split .* into 8 row blocks/);
});
