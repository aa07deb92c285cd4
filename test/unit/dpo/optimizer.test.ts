import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { gradients } from '../../../src/engine/graph/autodiff.ts';
import { Graph } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import * as op from '../../../src/engine/graph/ops.ts';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import { ADAMW_DEFAULTS, type AdamWConfig, adamwStep, nextName, optimizerStateNames } from '../../../src/train/adamw.ts';
import { initialLoraWeights } from '../../../src/dpo/lora.ts';
import { uniform } from '../autodiff/gradcheck.ts';
import { dpoGraph } from '../../../src/dpo/trainingGraph.ts';
import { batchFeeds, syntheticBatch } from './dpoGraph.ts';

type Tensors = Map<string, Float64Array>;

/** torch.optim.AdamW after clip_grad_norm_, in plain numbers. */
function referenceStep(params: Tensors, grads: Tensors, state: Tensors, t: number, lr: number, c: AdamWConfig) {
  const norm = Math.sqrt([...grads.values()].reduce((s, g) => s + g.reduce((q, x) => q + x * x, 0), 0));
  const clip = c.maxGradNorm === null ? 1 : Math.min(1, c.maxGradNorm / (norm + 1e-6));
  const next: Tensors = new Map();
  for (const [name, p] of params) {
    const g = grads.get(name)!.map((x) => x * clip);
    const m = state.get(`${name}.exp_avg`)!.map((x, i) => c.beta1 * x + (1 - c.beta1) * g[i]!);
    const v = state.get(`${name}.exp_avg_sq`)!.map((x, i) => c.beta2 * x + (1 - c.beta2) * g[i]! * g[i]!);
    const [b1, b2] = [1 - c.beta1 ** t, 1 - c.beta2 ** t];
    next.set(name, p.map((x, i) => x * (1 - lr * c.weightDecay) - ((lr / b1) * m[i]!) / (Math.sqrt(v[i]!) / Math.sqrt(b2) + c.epsilon)));
    next.set(`${name}.exp_avg`, m);
    next.set(`${name}.exp_avg_sq`, v);
  }
  return { next, norm };
}

async function runSteps(config: AdamWConfig, scale: number) {
  const g = new Graph();
  const shapes: Record<string, number[]> = { w: [2, 3], b: [4] };
  const params = Object.entries(shapes).map(([n, s]) => g.input(n, 'float64', s));
  const targets = Object.fromEntries(Object.entries(shapes).map(([n, s], k) => [n, uniform(s[0]! * (s[1] ?? 1), 10 + k, -scale, scale)]));
  // loss = Σ (p − target)² · scale: gradient 2·scale·(p − target)
  const loss = params
    .map((p) => {
      const d = op.sub(p, g.constant({ dtype: 'float64', shape: p.shape as number[], data: Float64Array.from(targets[p.name]!) }));
      return op.reduceSum(op.mul(op.mul(d, d), scale), p.shape.map((_, i) => i), false);
    })
    .reduce((a, b) => op.add(a, b));
  adamwStep(g, params, gradients(g, loss, params), config);
  const session = await ort.InferenceSession.create(serialize(lower(g)).model, { graphOptimizationLevel: 'basic' });

  let state: Tensors = new Map();
  for (const [n, s] of Object.entries(shapes)) {
    const size = s[0]! * (s[1] ?? 1);
    state.set(n, Float64Array.from(uniform(size, 20 + size)));
    state.set(optimizerStateNames(n).expAvg, new Float64Array(size));
    state.set(optimizerStateNames(n).expAvgSq, new Float64Array(size));
  }
  let worst = 0;
  const norms: number[] = [];
  for (let t = 1; t <= 3; t++) {
    const lr = 0.01 * t;
    const feeds: Record<string, ort.Tensor> = { learning_rate: new ort.Tensor('float64', Float64Array.of(lr), []), step: new ort.Tensor('float64', Float64Array.of(t), []) };
    for (const [n, d] of state) feeds[n] = new ort.Tensor('float64', d, shapes[n.split('.')[0]!]!);
    const out = await session.run(feeds);
    const params0 = new Map([...state].filter(([n]) => !n.includes('.')));
    const grads = new Map([...params0].map(([n, p]) => [n, p.map((x, i) => 2 * scale * (x - targets[n]![i]!))]));
    const want = referenceStep(params0, grads, state, t, lr, config);
    norms.push(want.norm);
    worst = Math.max(worst, Math.abs((out.grad_norm!.data as Float64Array)[0]! - want.norm));
    const next: Tensors = new Map();
    for (const [n, w] of want.next) {
      const got = out[nextName(n)]!.data as Float64Array;
      w.forEach((x, i) => (worst = Math.max(worst, Math.abs(got[i]! - x))));
      next.set(n, Float64Array.from(got));
    }
    state = next;
  }
  await session.release();
  return { worst, norms };
}

test('AdamW with clipping and weight decay matches torch’s update rule over three steps', async () => {
  const { worst, norms } = await runSteps({ ...ADAMW_DEFAULTS, weightDecay: 0.01, maxGradNorm: 1 }, 5);
  assert.ok(norms.every((n) => n > 1), 'the gradient norm is above the clip threshold, so clipping acts');
  assert.ok(worst < 1e-12, `max deviation ${worst}`);
});

test('AdamW without clipping, small gradients, defaults otherwise', async () => {
  const { worst, norms } = await runSteps({ ...ADAMW_DEFAULTS, maxGradNorm: null }, 0.05);
  assert.ok(norms.every((n) => n < 1));
  assert.ok(worst < 1e-12, `max deviation ${worst}`);
});

test('one DPO step with a fresh LoRA adapter lowers the loss on its batch', async () => {
  const config = llamaConfig({ vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24 });
  const shape = { rows: 4, length: 8, headChunks: 2 };
  const { graph, adapter } = dpoGraph(config, randomWeights(config, 5, 0.2), shape, { rank: 4, alpha: 8 }, { type: 'sigmoid', beta: 0.1 }, { ...ADAMW_DEFAULTS, maxGradNorm: null });
  const params = adapter.parameters();
  const session = await ort.InferenceSession.create(serialize(lower(graph)).model);
  const data = Object.entries(batchFeeds(syntheticBatch(40, 2, 8, 3, 4))).map(([n, c]) => [n, c.dtype === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(c.data as bigint[]), c.shape) : new ort.Tensor('float32', Float32Array.from(c.data as number[]), c.shape)]);
  const feeds = (values: Map<string, Float32Array | Float64Array>) => {
    const f: Record<string, ort.Tensor> = { ...Object.fromEntries(data), learning_rate: new ort.Tensor('float32', Float32Array.of(1e-2), []), step: new ort.Tensor('float32', Float32Array.of(1), []) };
    for (const p of params) {
      const pShape = p.shape as number[];
      f[p.name] = new ort.Tensor('float32', Float32Array.from(values.get(p.name)!), pShape);
      for (const s of Object.values(optimizerStateNames(p.name))) f[s] = new ort.Tensor('float32', new Float32Array(values.get(p.name)!.length), pShape);
    }
    return f;
  };
  const first = await session.run(feeds(initialLoraWeights(adapter.layers, 1)));
  const updated = new Map(params.map((p) => [p.name, first[nextName(p.name)]!.data as Float32Array]));
  const second = await session.run(feeds(updated));
  await session.release();
  const [before, after] = [Number(first.loss!.data[0]), Number(second.loss!.data[0])];
  assert.ok(after < before - 1e-4, `loss ${before} → ${after}`);
  const movedB = params.filter((p) => p.name.includes('lora_B')).every((p) => updated.get(p.name)!.some((x) => x !== 0));
  assert.ok(movedB, 'every B left zero');
});
