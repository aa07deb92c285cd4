import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { Graph } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize, writeModel } from '../../../src/engine/graph/onnx.ts';
import * as op from '../../../src/engine/graph/ops.ts';
import { ModelProto } from '../../../src/engine/graph/onnxProto.ts';

function randn(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

/** y = RmsNorm(x @ w) · gain, then log-probs of targets: exercises MatMul, composites and lowering. */
function buildGraph(dtype: 'float32' | 'float64') {
  const g = new Graph('writer_test');
  const x = g.input('x', dtype, [2, 3, 4]);
  const targets = g.input('targets', 'int64', [2, 3]);
  const wData = randn(4 * 5, 7);
  const gainData = randn(5, 8).map((v) => v + 1);
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  const w = g.initializer('w', { dtype, shape: [4, 5], data: Arr.from(wData) }, { weight: true });
  const gain = g.initializer('gain', { dtype, shape: [5], data: Arr.from(gainData) });
  const h = op.rmsNorm(op.matmul(x, w), gain, 1e-5);
  g.output(h, 'h');
  g.output(op.tokenLogProbs(h, targets), 'logp');
  return { g, wData, gainData };
}

/** The same math in plain loops. */
function reference(x: number[], w: number[], gain: number[], targets: number[]) {
  const h: number[] = [];
  const logp: number[] = [];
  for (let r = 0; r < 6; r++) {
    const row = Array.from({ length: 5 }, (_, j) => x.slice(r * 4, r * 4 + 4).reduce((s, xv, k) => s + xv * w[k * 5 + j]!, 0));
    const ms = row.reduce((s, v) => s + v * v, 0) / 5;
    const normed = row.map((v, j) => (v / Math.sqrt(ms + 1e-5)) * gain[j]!);
    h.push(...normed);
    const max = Math.max(...normed);
    const lse = max + Math.log(normed.reduce((s, v) => s + Math.exp(v - max), 0));
    logp.push(normed[targets[r]!]! - lse);
  }
  return { h, logp };
}

async function runBoth(dtype: 'float32' | 'float64', target: 'cpu' | 'webgpu') {
  const { g, wData, gainData } = buildGraph(dtype);
  const lowered = lower(g, target);
  const { model } = serialize(lowered, 'embedded');
  const session = await ort.InferenceSession.create(model);
  const xData = randn(24, 3);
  const t = [0, 4, 2, 1, 3, 0];
  const Arr = dtype === 'float32' ? Float32Array : Float64Array;
  const out = await session.run({
    x: new ort.Tensor(dtype, Arr.from(xData), [2, 3, 4]),
    targets: new ort.Tensor('int64', BigInt64Array.from(t, BigInt), [2, 3]),
  });
  await session.release();
  return { out, ref: reference(xData, wData, gainData, t), lowered };
}

test('a lowered graph with composites runs in ONNX Runtime and matches a loop reference (f32)', async () => {
  const { out, ref } = await runBoth('float32', 'cpu');
  const h = out.h!.data as Float32Array;
  ref.h.forEach((v, i) => assert.ok(Math.abs(h[i]! - v) < 1e-5, `h[${i}] ${h[i]} vs ${v}`));
  const logp = out.logp!.data as Float32Array;
  ref.logp.forEach((v, i) => assert.ok(Math.abs(logp[i]! - v) < 1e-5, `logp[${i}] ${logp[i]} vs ${v}`));
});

test('float64 graphs run end to end on CPU to 1e-12', async () => {
  const { out, ref } = await runBoth('float64', 'cpu');
  assert.equal(out.logp!.type, 'float64');
  const logp = out.logp!.data as Float64Array;
  ref.logp.forEach((v, i) => assert.ok(Math.abs(logp[i]! - v) < 1e-12, `logp[${i}] ${logp[i]} vs ${v}`));
});

test('lowering for webgpu rebuilds LogSoftmax from basic ops with the same values', async () => {
  const { out, ref, lowered } = await runBoth('float32', 'webgpu');
  assert.ok(!lowered.nodes.some((n) => n.opType === 'LogSoftmax'));
  assert.ok(lowered.nodes.some((n) => n.opType === 'ReduceMax'));
  const logp = out.logp!.data as Float32Array;
  ref.logp.forEach((v, i) => assert.ok(Math.abs(logp[i]! - v) < 1e-5));
});

test('serialize refuses a graph that still holds composites', () => {
  const { g } = buildGraph('float32');
  assert.throws(() => serialize(g), /composite RmsNorm left in graph writer_test/);
});

test('never writes ReduceSum without axes; index tensors are int64', () => {
  const lowered = lower(buildGraph('float32').g);
  const decoded = ModelProto.toObject(ModelProto.decode(serialize(lowered).model), { longs: Number }) as {
    graph: { node: { op_type: string; input: string[] }[]; initializer: { name: string; data_type: number }[] };
  };
  const reduces = decoded.graph.node.filter((n) => n.op_type.startsWith('Reduce'));
  assert.ok(reduces.length > 0);
  for (const n of reduces) {
    assert.equal(n.input.length, 2, `${n.op_type} carries its axes`);
    const axes = decoded.graph.initializer.find((i) => i.name === n.input[1]);
    assert.equal(axes?.data_type, 7);
  }
});

test('external weights are 4 KiB-aligned in one side file and load memory-mapped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prefer-writer-'));
  const g = new Graph('ext');
  const x = g.input('x', 'float32', [1, 3]);
  const w1 = g.initializer('w1', { dtype: 'float32', shape: [3, 3], data: Float32Array.from(randn(9, 1)) }, { weight: true });
  const w2 = g.initializer('w2', { dtype: 'float32', shape: [3, 2], data: Float32Array.from(randn(6, 2)) }, { weight: true });
  g.output(op.matmul(op.matmul(x, w1), w2), 'y');
  const path = join(dir, 'model.onnx');
  const s = writeModel(g, path, 'external');
  assert.deepEqual(s.external.map((e) => e.offset), [0, 4096]);
  assert.equal(statSync(`${path}.data`).size, 4096 + 24);
  const session = await ort.InferenceSession.create(path, { extra: { session: { disable_prepacking: '1' } } } as ort.InferenceSession.SessionOptions);
  const y = (await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3]), [1, 3]) })).y!.data as Float32Array;
  const embedded = await ort.InferenceSession.create(serialize(g).model);
  const y2 = (await embedded.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3]), [1, 3]) })).y!.data as Float32Array;
  assert.deepEqual([...y], [...y2]);
  assert.ok(readFileSync(path).byteLength < 1000, 'weights stay out of the model file');
});

test('weights as inputs are declared as graph inputs and handed to the runtime', async () => {
  const { g } = buildGraph('float32');
  const s = serialize(lower(g), 'inputs');
  assert.deepEqual([...s.fedWeights.keys()], ['w']);
  const session = await ort.InferenceSession.create(s.model);
  assert.ok(session.inputNames.includes('w'));
  const w = s.fedWeights.get('w')!;
  const out = await session.run({
    x: new ort.Tensor('float32', new Float32Array(24).fill(0.5), [2, 3, 4]),
    targets: new ort.Tensor('int64', new BigInt64Array(6), [2, 3]),
    w: new ort.Tensor('float32', w.data as Float32Array, w.shape),
  });
  assert.equal(out.h!.dims.join(','), '2,3,5');
});
