import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Graph } from '../../../src/engine/graph/ir.ts';
import * as op from '../../../src/engine/graph/ops.ts';

test('elementwise ops broadcast like numpy, symbolic dims included', () => {
  const g = new Graph();
  const a = g.input('a', 'float32', ['batch', 1, 4]);
  const b = g.input('b', 'float32', [3, 1]);
  assert.deepEqual(op.add(a, b).shape, ['batch', 3, 4]);
  assert.throws(() => op.add(a, g.input('c', 'float32', [5])), /Add: cannot broadcast \[batch, 1, 4\] with \[5\]/);
});

test('matmul checks inner dims and dtypes and broadcasts batch dims', () => {
  const g = new Graph();
  const q = g.input('q', 'float32', [2, 3, 4, 5, 8]);
  const k = g.input('k', 'float32', [2, 3, 1, 8, 7]);
  assert.deepEqual(op.matmul(q, k).shape, [2, 3, 4, 5, 7]);
  assert.throws(() => op.matmul(k, q), /MatMul: inner dimensions differ/);
  assert.throws(() => op.matmul(q, g.input('d', 'float64', [8, 2])), /MatMul: dtype mismatch/);
});

test('reductions refuse empty axes', () => {
  const g = new Graph();
  const x = g.input('x', 'float32', [2, 3]);
  assert.throws(() => op.reduceSum(x, []), /ReduceSum: axes must not be empty/);
  assert.deepEqual(op.reduceSum(x, [-1], false).shape, [2]);
});

test('reshape infers -1 and passes a symbolic dim through', () => {
  const g = new Graph();
  const x = g.input('x', 'float32', [2, 'past', 12]);
  assert.deepEqual(op.reshape(x, [0, 0, 3, 4]).shape, [2, 'past', 3, 4]);
  const y = g.input('y', 'float32', [2, 3, 4]);
  assert.deepEqual(op.reshape(y, [-1, 4]).shape, [6, 4]);
  assert.throws(() => op.reshape(y, [5, 5]), /Reshape: .* has 24 elements/);
});

test('concat sums the axis, symbolic lengths as an expression', () => {
  const g = new Graph();
  const past = g.input('past', 'float32', [1, 2, 'past', 8]);
  const now = g.input('now', 'float32', [1, 2, 1, 8]);
  assert.deepEqual(op.concat([past, now], 2).shape, [1, 2, 'past+1', 8]);
  assert.throws(() => op.concat([past, g.input('bad', 'float32', [1, 3, 1, 8])], 2), /Concat: shapes differ/);
});

test('gather, slice, unsqueeze, squeeze, transpose compute shapes', () => {
  const g = new Graph();
  const table = g.input('table', 'float32', [10, 6]);
  const ids = g.input('ids', 'int64', [2, 3]);
  assert.deepEqual(op.gather(table, ids).shape, [2, 3, 6]);
  assert.deepEqual(op.slice(table, [2], [100], [0]).shape, [8, 6]);
  assert.deepEqual(op.unsqueeze(table, [0, -1]).shape, [1, 10, 6, 1]);
  assert.throws(() => op.squeeze(table, [0]), /Squeeze: axis 0/);
  assert.deepEqual(op.transpose(table, [1, 0]).shape, [6, 10]);
  assert.throws(() => op.gather(table, table), /Gather: indices/);
});

test('each node records its producer and appends in topological order', () => {
  const g = new Graph();
  const x = g.input('x', 'float32', [2]);
  const y = op.exp(x);
  const z = op.mul(y, 2);
  assert.equal(x.producer, null);
  assert.equal(y.producer?.opType, 'Exp');
  assert.equal(z.producer?.inputs[0], y);
  assert.ok(g.nodes.indexOf(y.producer!) < g.nodes.indexOf(z.producer!));
});
