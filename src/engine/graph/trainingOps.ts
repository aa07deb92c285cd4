/**
 * Op builders that training graphs need beyond the inference ops of ops.ts: the ops backward rules emit
 * (comparisons, zero padding, scatter-add) and the few forward ops that losses and gradient checks use
 * (Relu, Erf, Reciprocal). Same conventions as ops.ts: static shape checks, errors name the op.
 */
import { type DType, type Value, attr, isFloat } from './ir.ts';
import * as op from './ops.ts';

function fail(opName: string, message: string): never {
  throw new Error(`${opName}: ${message}`);
}

function staticShape(opName: string, v: Value): number[] {
  if (v.shape.some((d) => typeof d !== 'number')) fail(opName, `${v.name} needs a static shape, got [${v.shape.join(', ')}]`);
  return v.shape as number[];
}

function unaryFloat(opName: string, x: Value): Value {
  if (!isFloat(x.dtype)) fail(opName, `${x.name} ${x.dtype} must be a float tensor`);
  return x.graph.addNode(opName, [x], [{ dtype: x.dtype, shape: x.shape }])[0]!;
}

export const reciprocal = (x: Value) => unaryFloat('Reciprocal', x);
export const erf = (x: Value) => unaryFloat('Erf', x);
export const relu = (x: Value) => unaryFloat('Relu', x);

function compare(opName: string, a: Value, b: Value | number): Value {
  const rhs = typeof b === 'number' ? a.graph.scalar(b, a.dtype) : b;
  if (rhs.dtype !== a.dtype) fail(opName, `dtype mismatch: ${a.dtype} vs ${rhs.dtype}`);
  const shape = op.broadcastShapes(opName, a.shape, rhs.shape);
  return a.graph.addNode(opName, [a, rhs], [{ dtype: 'bool', shape }])[0]!;
}

export const less = (a: Value, b: Value | number) => compare('Less', a, b);
export const greater = (a: Value, b: Value | number) => compare('Greater', a, b);
export const equal = (a: Value, b: Value | number) => compare('Equal', a, b);

/** A zero tensor of a static shape, broadcast from one scalar (no large constant in the model file). */
export function zeros(like: Value, shape: readonly number[] = staticShape('zeros', like), dtype: DType = like.dtype): Value {
  return op.expand(like.graph.scalar(0, dtype), shape);
}

/** Zero padding: `before[i]` / `after[i]` zeros on each axis i (full rank). */
export function padZeros(x: Value, before: readonly number[], after: readonly number[]): Value {
  const shape = staticShape('Pad', x);
  if (before.length !== x.rank || after.length !== x.rank) fail('Pad', `pads must cover all ${x.rank} axes`);
  const out = shape.map((d, i) => d + before[i]! + after[i]!);
  const g = x.graph;
  return g.addNode('Pad', [x, g.int64s([...before, ...after])], [{ dtype: x.dtype, shape: out }], { mode: attr.string('constant') })[0]!;
}

/** data with `updates` added at rows `indices` of axis 0 (repeated indices accumulate): the adjoint of Gather. */
export function scatterNDAdd(data: Value, indices: Value, updates: Value): Value {
  if (indices.dtype !== 'int64') fail('ScatterND', `indices ${indices.name} must be int64`);
  return data.graph.addNode('ScatterND', [data, indices, updates], [{ dtype: data.dtype, shape: data.shape }], {
    reduction: attr.string('add'),
  })[0]!;
}

/** data with `updates` added at `indices` along `axis`: the adjoint of GatherElements. */
export function scatterElementsAdd(data: Value, indices: Value, updates: Value, axis: number): Value {
  if (indices.dtype !== 'int64') fail('ScatterElements', `indices ${indices.name} must be int64`);
  return data.graph.addNode('ScatterElements', [data, indices, updates], [{ dtype: data.dtype, shape: data.shape }], {
    axis: attr.int(axis),
    reduction: attr.string('add'),
  })[0]!;
}
