import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gradients } from '../../../src/engine/graph/autodiff.ts';
import { gradientRules } from '../../../src/engine/graph/gradients.ts';
import { Graph } from '../../../src/engine/graph/ir.ts';
import * as op from '../../../src/engine/graph/ops.ts';
import { less } from '../../../src/engine/graph/trainingOps.ts';
import { gradientCheck, uniform } from './gradcheck.ts';

function scalarLoss(v: ReturnType<typeof op.add>) {
  return op.reduceSum(v, v.shape.map((_, i) => i), false);
}

test('a frozen weight gets no gradient nodes: one backward MatMul for the activations only', () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [2, 3, 4]);
  const frozen = g.input('frozen', 'float64', [4, 5]);
  const loss = scalarLoss(op.matmul(x, frozen));
  const before = g.nodes.length;
  gradients(g, loss, [x]);
  const backward = g.nodes.slice(before);
  assert.equal(backward.filter((n) => n.opType === 'MatMul').length, 1);
  assert.ok(!backward.some((n) => n.inputs.includes(x)), 'dx = g·Wᵀ never reads x');
});

test('nodes off the path from the trainable values to the loss are not differentiated', () => {
  const g = new Graph();
  const w = g.input('w', 'float64', [3]);
  const c = g.input('c', 'float64', [3]);
  const side = op.exp(c);
  const loss = scalarLoss(op.add(op.mul(w, w), side));
  const before = g.nodes.length;
  gradients(g, loss, [w]);
  const backward = g.nodes.slice(before);
  assert.ok(!backward.some((n) => n.inputs.includes(side) || n.inputs.includes(c)));
  assert.equal(backward.filter((n) => n.opType === 'Mul').length, 2);
});

test('a broadcast operand’s gradient is a ReduceSum with explicit axes, then a Reshape', () => {
  const g = new Graph();
  const a = g.input('a', 'float64', [2, 3]);
  const b = g.input('b', 'float64', [1, 3]);
  const loss = scalarLoss(op.mul(a, b));
  const before = g.nodes.length;
  const grad = gradients(g, loss, [b]).get(b)!;
  assert.deepEqual(grad.shape, [1, 3]);
  assert.equal(grad.producer?.opType, 'Reshape');
  const sum = g.nodes.slice(before).find((n) => n.opType === 'ReduceSum' && n.outputs[0] === grad.producer!.inputs[0]);
  assert.ok(sum, 'the Reshape reads a ReduceSum');
  const axes = g.initializers.get(sum.inputs[1]!)!.tensor.data as BigInt64Array;
  assert.deepEqual([...axes], [0n]);
});

test('refuses an op without a rule, a loss that ignores a wrt value, and a non-scalar loss', () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [3]);
  const other = g.input('other', 'float64', [3]);
  const y = g.addNode('Softsign', [x], [{ dtype: 'float64', shape: [3] }])[0]!;
  assert.throws(() => gradients(g, scalarLoss(y), [x]), /autodiff: no gradient rule for Softsign/);
  assert.throws(() => gradients(g, scalarLoss(op.exp(x)), [x, other]), /the loss does not depend on other/);
  assert.throws(() => gradients(g, op.exp(x), [x]), /must be a float scalar/);
});

test('negative control: the check fails when one rule is broken', async () => {
  const inputs = { a: { shape: [2, 3], data: uniform(6, 1) }, b: { shape: [2, 3], data: uniform(6, 2) } };
  const build = ({ a, b }: Record<string, ReturnType<typeof op.add>>) => op.sub(op.mul(a!, b!), op.mul(a!, a!));
  const good = await gradientCheck({ inputs, wrt: ['a', 'b'], build });
  assert.ok(good.maxRelError <= 1e-6, `correct rules: ${good.maxRelError}`);

  const wrongMul = { ...gradientRules, Mul: (gy, [a]) => [() => op.mul(gy, a), () => op.mul(gy, a)] } as typeof gradientRules;
  const broken = await gradientCheck({ inputs, wrt: ['a', 'b'], build, rules: wrongMul });
  assert.ok(broken.maxRelError > 1e-2, `a swapped Mul operand must be caught, got ${broken.maxRelError}`);

  const wrongSign = { ...gradientRules, Sub: (gy) => [() => gy, () => gy] } as typeof gradientRules;
  const flipped = await gradientCheck({ inputs, wrt: ['a', 'b'], build, rules: wrongSign });
  assert.ok(flipped.maxRelError > 1e-2, `a flipped Sub sign must be caught, got ${flipped.maxRelError}`);
});

test('a comparison of a trainable value carries no gradient: Where(x < 0, x, x²) differentiates through the branches only', () =>
  gradientCheck({
    inputs: { x: { shape: [6], data: [-1.5, -0.5, -0.2, 0.3, 0.8, 1.4] } },
    wrt: ['x'],
    build: ({ x }) => op.where(less(x!, 0), x!, op.mul(x!, x!)),
  }).then((r) => assert.ok(r.maxRelError <= 1e-6, `${r.maxRelError} at ${r.worst}`)));

test('every op that ops.ts lists for the model families has a gradient rule', () => {
  const header = readFileSync(join(import.meta.dirname, '../../../src/engine/graph/ops.ts'), 'utf8').split('*/')[0]!;
  const standard = [...header.matchAll(/^ \*\s+(?:elementwise|linear|reductions|softmax|layout)\s+(.*)$/gm)].flatMap((m) => m[1]!.replace(/\(.*?\)/g, '').split(/[\s,]+/));
  const composites = [...header.matchAll(/^ \*\s+([A-Z]\w+)\(/gm)].map((m) => m[1]!);
  const listed = [...standard, ...composites].filter((name) => /^[A-Z]\w+$/.test(name));
  assert.ok(listed.length >= 35, `read ${listed.length} ops from the header: ${listed.join(' ')}`);
  assert.deepEqual(listed.filter((name) => !(name in gradientRules)), []);
});
