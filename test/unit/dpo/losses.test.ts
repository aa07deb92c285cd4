import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { gradients } from '../../../src/engine/graph/autodiff.ts';
import { type Value, Graph } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import * as op from '../../../src/engine/graph/ops.ts';
import { type DpoLossConfig, type DpoMetricName, dpoLoss, logSigmoid, sequenceLogps } from '../../../src/dpo/losses.ts';
import { gradientCheck, uniform } from '../autodiff/gradcheck.ts';

const PAIRS = 5;
const logps = {
  policyChosen: uniform(PAIRS, 1, -40, -10),
  policyRejected: uniform(PAIRS, 2, -40, -10),
  referenceChosen: uniform(PAIRS, 3, -40, -10),
  referenceRejected: uniform(PAIRS, 4, -40, -10),
};

/** log σ(x) in plain numbers, stable on both sides. */
const logSig = (x: number) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));
const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** TRL's formulas, element by element. */
function expected(config: DpoLossConfig) {
  const { beta } = config;
  const eps = config.labelSmoothing ?? 0;
  const chosen = logps.policyChosen.map((p, i) => p - logps.referenceChosen[i]!);
  const rejected = logps.policyRejected.map((p, i) => p - logps.referenceRejected[i]!);
  const losses = chosen.map((c, i) => {
    const d = c - rejected[i]!;
    switch (config.type) {
      case 'sigmoid':
        return -logSig(beta * d) * (1 - eps) - logSig(-beta * d) * eps;
      case 'robust':
        return (-logSig(beta * d) * (1 - eps) + logSig(-beta * d) * eps) / (1 - 2 * eps);
      case 'ipo':
        return (d - 1 / (2 * beta)) ** 2;
      case 'hinge':
        return Math.max(0, 1 - beta * d);
    }
  });
  const rc = chosen.map((c) => beta * c);
  const rr = rejected.map((r) => beta * r);
  const metrics: Record<DpoMetricName, number> = {
    'rewards/chosen': avg(rc),
    'rewards/rejected': avg(rr),
    'rewards/margins': avg(rc.map((c, i) => c - rr[i]!)),
    'rewards/accuracies': avg(rc.map((c, i) => (c > rr[i]! ? 1 : 0))),
    'logps/chosen': avg(logps.policyChosen),
    'logps/rejected': avg(logps.policyRejected),
  };
  return { loss: avg(losses), losses, metrics };
}

async function run(outputs: Record<string, Value>, feeds: Record<string, number[]>, g: Graph): Promise<Record<string, number[]>> {
  for (const [name, v] of Object.entries(outputs)) g.output(v, name);
  const session = await ort.InferenceSession.create(serialize(lower(g, 'cpu')).model);
  try {
    const result = await session.run(
      Object.fromEntries(Object.entries(feeds).map(([n, d]) => [n, new ort.Tensor('float64', Float64Array.from(d), [d.length])])),
    );
    return Object.fromEntries(Object.entries(result).map(([n, t]) => [n, Array.from(t.data as Float64Array)]));
  } finally {
    await session.release();
  }
}

function logpInputs(g: Graph) {
  return {
    policyChosen: g.input('policyChosen', 'float64', [PAIRS]),
    policyRejected: g.input('policyRejected', 'float64', [PAIRS]),
    referenceChosen: g.input('referenceChosen', 'float64', [PAIRS]),
    referenceRejected: g.input('referenceRejected', 'float64', [PAIRS]),
  };
}

const configs: DpoLossConfig[] = [
  { type: 'sigmoid', beta: 0.1 },
  { type: 'sigmoid', beta: 0.5, labelSmoothing: 0.2 },
  { type: 'robust', beta: 0.1, labelSmoothing: 0.1 },
  { type: 'robust', beta: 0.3 },
  { type: 'ipo', beta: 0.1 },
  { type: 'hinge', beta: 0.2 },
];

for (const config of configs) {
  const label = `${config.type} β=${config.beta} ε=${config.labelSmoothing ?? 0}`;

  test(`${label}: loss, per-pair losses and TRL metrics match the formula`, async () => {
    const g = new Graph();
    const out = dpoLoss(logpInputs(g), config);
    const metricOutputs = Object.fromEntries(Object.entries(out.metrics).map(([k, v]) => [k.replace('/', '_'), v]));
    const got = await run({ loss: out.loss, losses: out.losses, ...metricOutputs }, logps, g);
    const want = expected(config);
    assert.ok(Math.abs(got.loss![0]! - want.loss) < 1e-12, `loss ${got.loss![0]} vs ${want.loss}`);
    want.losses.forEach((l, i) => assert.ok(Math.abs(got.losses![i]! - l) < 1e-12, `losses[${i}] ${got.losses![i]} vs ${l}`));
    for (const [name, value] of Object.entries(want.metrics)) {
      assert.ok(Math.abs(got[name.replace('/', '_')]![0]! - value) < 1e-12, `${name}: ${got[name.replace('/', '_')]![0]} vs ${value}`);
    }
  });

  test(`${label}: gradient wrt the policy log-probs matches finite differences`, async () => {
    const r = await gradientCheck({
      inputs: {
        policyChosen: { shape: [PAIRS], data: logps.policyChosen },
        policyRejected: { shape: [PAIRS], data: logps.policyRejected },
        referenceChosen: { shape: [PAIRS], data: logps.referenceChosen },
        referenceRejected: { shape: [PAIRS], data: logps.referenceRejected },
      },
      wrt: ['policyChosen', 'policyRejected'],
      build: (v) => dpoLoss(v as never, config).loss,
    });
    assert.ok(r.maxRelError <= 1e-6, `${r.maxRelError} at ${r.worst}`);
  });
}

test('logSigmoid is finite far out on both sides, with gradient ½ at 0', async () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [5]);
  const y = logSigmoid(x);
  const grad = gradients(g, op.reduceSum(y, [0], false), [x]).get(x)!;
  const got = await run({ y, grad }, { x: [-1000, -31, 0, 31, 1000] }, g);
  assert.deepEqual(got.y!.map((v) => Number.isFinite(v)), [true, true, true, true, true]);
  assert.ok(Math.abs(got.y![0]! + 1000) < 1e-9 && Math.abs(got.y![2]! - Math.log(0.5)) < 1e-15 && Math.abs(got.y![4]!) < 1e-15);
  [1, 1, 0.5, 0, 0].forEach((d, i) => assert.ok(Math.abs(got.grad![i]! - d) < 1e-12, `dlogσ/dx at ${i}: ${got.grad![i]}`));
});

test('at policy = reference the sigmoid loss is log 2 and pushes chosen up and rejected down by β/2', async () => {
  const g = new Graph();
  const v = logpInputs(g);
  const { loss } = dpoLoss(v, { type: 'sigmoid', beta: 0.1 });
  const grads = gradients(g, loss, [v.policyChosen, v.policyRejected]);
  const same = { policyChosen: logps.policyChosen, policyRejected: logps.policyRejected, referenceChosen: logps.policyChosen, referenceRejected: logps.policyRejected };
  const got = await run({ loss, dChosen: grads.get(v.policyChosen)!, dRejected: grads.get(v.policyRejected)! }, same, g);
  assert.ok(Math.abs(got.loss![0]! - Math.log(2)) < 1e-15);
  got.dChosen!.forEach((d) => assert.ok(Math.abs(d + 0.05 / PAIRS) < 1e-15, `dChosen ${d}`));
  got.dRejected!.forEach((d) => assert.ok(Math.abs(d - 0.05 / PAIRS) < 1e-15, `dRejected ${d}`));
});

test('rejects a bad configuration with one line naming the field', () => {
  const g = new Graph();
  const v = logpInputs(g);
  assert.throws(() => dpoLoss(v, { type: 'sigmoid', beta: 0 }), /loss: beta must be a positive number, got 0/);
  assert.throws(() => dpoLoss(v, { type: 'robust', beta: 0.1, labelSmoothing: 0.5 }), /label smoothing must lie in \[0, 0.5\)/);
  assert.throws(() => dpoLoss(v, { type: 'ipo', beta: 0.1, labelSmoothing: 0.1 }), /label smoothing does not apply to ipo/);
  assert.throws(() => dpoLoss(v, { type: 'kto' as never, beta: 0.1 }), /unknown type kto/);
});

test('sequence log-probs: masked sum, and mean over completion tokens', async () => {
  const g = new Graph();
  const tokens = g.input('tokens', 'float64', [2, 3]);
  const mask = g.input('mask', 'float64', [2, 3]);
  const feedsG = { tokens: [-1, -2, -3, -4, -5, -6], mask: [0, 1, 1, 1, 1, 0] };
  g.output(sequenceLogps(tokens, mask, false), 'sum');
  g.output(sequenceLogps(tokens, mask, true), 'mean');
  const session = await ort.InferenceSession.create(serialize(lower(g, 'cpu')).model);
  const t = (d: number[]) => new ort.Tensor('float64', Float64Array.from(d), [2, 3]);
  const out = await session.run({ tokens: t(feedsG.tokens), mask: t(feedsG.mask) });
  await session.release();
  assert.deepEqual(Array.from(out.sum!.data as Float64Array), [-5, -9]);
  assert.deepEqual(Array.from(out.mean!.data as Float64Array), [-2.5, -4.5]);
});
