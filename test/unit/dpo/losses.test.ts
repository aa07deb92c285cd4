import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { gradients } from '../../../src/engine/graph/autodiff.ts';
import { type Value, Graph } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import * as op from '../../../src/engine/graph/ops.ts';
import { DISCOPOP_TAU, type DpoLossConfig, type DpoLossType, type DpoMetricName, completionMean, dpoLoss, lossTerms, logSigmoid, sequenceLogps } from '../../../src/dpo/losses.ts';
import { gradientCheck, uniform } from '../autodiff/gradcheck.ts';

const PAIRS = 5;
const logps = {
  policyChosen: uniform(PAIRS, 1, -40, -10),
  policyRejected: uniform(PAIRS, 2, -40, -10),
  referenceChosen: uniform(PAIRS, 3, -40, -10),
  referenceRejected: uniform(PAIRS, 4, -40, -10),
};
/** The batch's chosen NLL per token (sft) and BCO's δ: scalars the trainer's graph feeds the loss. */
const extras = { chosenNll: [2.3], runningRewardMean: [0.4] };
const SCALARS = new Set(Object.keys(extras));

/** log σ(x) in plain numbers, stable on both sides. */
const logSig = (x: number) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));
const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const sig = (x: number) => 1 / (1 + Math.exp(-x));

/** One of TRL's formulas for one pair: c, r the chosen and rejected log-ratios. */
function pairLoss(type: DpoLossType, config: DpoLossConfig, c: number, r: number): number {
  const { beta } = config;
  const eps = config.labelSmoothing ?? 0;
  const d = c - r;
  const delta = extras.runningRewardMean[0]!;
  switch (type) {
    case 'sigmoid':
    case 'sigmoid_norm':
      return -logSig(beta * d) * (1 - eps) - logSig(-beta * d) * eps;
    case 'robust':
      return (-logSig(beta * d) * (1 - eps) + logSig(-beta * d) * eps) / (1 - 2 * eps);
    case 'ipo':
      return (d - 1 / (2 * beta)) ** 2;
    case 'hinge':
      return Math.max(0, 1 - beta * d);
    case 'apo_zero':
      return 1 - sig(beta * c) + sig(beta * r);
    case 'apo_down':
      return sig(beta * c) + 1 - sig(beta * d);
    case 'exo_pair': {
      const e = eps === 0 ? 1e-3 : eps;
      return sig(beta * d) * (logSig(beta * d) - Math.log(1 - e)) + sig(-beta * d) * (logSig(-beta * d) - Math.log(e));
    }
    case 'nca_pair':
      return -logSig(beta * c) - 0.5 * logSig(-beta * c) - 0.5 * logSig(-beta * r);
    case 'bco_pair':
      return -logSig(beta * c - delta) - logSig(-(beta * r - delta));
    case 'sppo_hard':
      return (c - 0.5 / beta) ** 2 + (r + 0.5 / beta) ** 2;
    case 'discopop': {
      const x = beta * d;
      const m = sig(x / (config.discopopTau ?? 0.05));
      return -logSig(x) * (1 - m) + Math.exp(-x) * m;
    }
    case 'sft':
      return extras.chosenNll[0]!;
    case 'kto':
      throw new Error('kto is unpaired: kto-loss.test.ts checks it');
  }
}

/** TRL's formulas, element by element, weighted and summed over the config's losses. */
function expected(config: DpoLossConfig) {
  const { beta } = config;
  const chosen = logps.policyChosen.map((p, i) => p - logps.referenceChosen[i]!);
  const rejected = logps.policyRejected.map((p, i) => p - logps.referenceRejected[i]!);
  const types: readonly DpoLossType[] = typeof config.type === 'string' ? [config.type] : config.type;
  const losses = chosen.map((c, i) => types.reduce((sum, type, k) => sum + (config.weights?.[k] ?? 1) * pairLoss(type, config, c, rejected[i]!), 0));
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
      Object.fromEntries(
        Object.entries(feeds)
          .filter(([n]) => g.inputs.some((v) => v.name === n))
          .map(([n, d]) => [n, new ort.Tensor('float64', Float64Array.from(d), SCALARS.has(n) ? [] : [d.length])]),
      ),
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
    chosenNll: g.input('chosenNll', 'float64', []),
    runningRewardMean: g.input('runningRewardMean', 'float64', []),
  };
}

/** What a loss is differentiated by: the policy's log-probs, and the chosen NLL where sft is among its losses. */
function gradientInputs(config: DpoLossConfig): string[] {
  const types = lossTerms(config).map((t) => t.type);
  return [...(types.some((t) => t !== 'sft') ? ['policyChosen', 'policyRejected'] : []), ...(types.includes('sft') ? ['chosenNll'] : [])];
}

const configs: DpoLossConfig[] = [
  { type: 'sigmoid', beta: 0.1 },
  { type: 'sigmoid', beta: 0.5, labelSmoothing: 0.2 },
  { type: 'robust', beta: 0.1, labelSmoothing: 0.1 },
  { type: 'robust', beta: 0.3 },
  { type: 'ipo', beta: 0.1 },
  { type: 'hinge', beta: 0.2 },
  { type: 'sigmoid_norm', beta: 0.1 },
  { type: 'sigmoid_norm', beta: 0.3, labelSmoothing: 0.1 },
  { type: 'apo_zero', beta: 0.1 },
  { type: 'apo_down', beta: 0.2 },
  { type: 'exo_pair', beta: 0.1 },
  { type: 'exo_pair', beta: 0.3, labelSmoothing: 0.2 },
  { type: 'nca_pair', beta: 0.1 },
  { type: 'bco_pair', beta: 0.1 },
  { type: 'sppo_hard', beta: 0.1 },
  { type: 'discopop', beta: 0.1 },
  { type: 'discopop', beta: 0.05, discopopTau: 0.5 },
  { type: 'sft', beta: 0.1 },
  { type: ['sigmoid', 'sft'], weights: [1, 0.2], beta: 0.1 },
  { type: ['ipo', 'bco_pair', 'discopop'], beta: 0.2 },
];

for (const config of configs) {
  const label = `${String(config.type)}${config.weights ? ` w=${config.weights.join(',')}` : ''} β=${config.beta} ε=${config.labelSmoothing ?? 0}${config.discopopTau ? ` τ=${config.discopopTau}` : ''}`;

  test(`${label}: loss, per-pair losses and TRL metrics match the formula`, async () => {
    const g = new Graph();
    const out = dpoLoss(logpInputs(g), config);
    const metricOutputs = Object.fromEntries(Object.entries(out.metrics).map(([k, v]) => [k.replace('/', '_'), v]));
    const got = await run({ loss: out.loss, losses: out.losses, ...metricOutputs }, { ...logps, ...extras }, g);
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
        chosenNll: { shape: [], data: extras.chosenNll },
        runningRewardMean: { shape: [], data: extras.runningRewardMean },
      },
      wrt: gradientInputs(config),
      build: (v) => dpoLoss(v as never, config).loss,
    });
    assert.ok(r.maxRelError <= 1e-6, `${r.maxRelError} at ${r.worst}`);
  });
}

test('several losses combine as the weighted sum of each alone, per pair and in the mean', async () => {
  const combined: DpoLossConfig = { type: ['sigmoid', 'sft', 'bco_pair'], weights: [1, 0.2, 3], beta: 0.1 };
  const g = new Graph();
  const v = logpInputs(g);
  const alone = ['sigmoid', 'sft', 'bco_pair'].map((type) => dpoLoss(v, { type: type as DpoLossType, beta: 0.1 }));
  const both = dpoLoss(v, combined);
  const got = await run(
    { loss: both.loss, losses: both.losses, ...Object.fromEntries(alone.flatMap((l, k) => [[`loss${k}`, l.loss], [`losses${k}`, l.losses]])) },
    { ...logps, ...extras },
    g,
  );
  const weights = combined.weights!;
  const sum = (name: string, i: number) => weights.reduce((s, w, k) => s + w * got[`${name}${k}`]![i]!, 0);
  assert.ok(Math.abs(got.loss![0]! - sum('loss', 0)) < 1e-12, `${got.loss![0]} vs ${sum('loss', 0)}`);
  for (let i = 0; i < PAIRS; i++) assert.ok(Math.abs(got.losses![i]! - sum('losses', i)) < 1e-12, `losses[${i}]`);
});

test('the sft loss is the chosen NLL for every pair, whatever the log-ratios', async () => {
  const g = new Graph();
  const out = dpoLoss(logpInputs(g), { type: 'sft', beta: 0.1 });
  const got = await run({ losses: out.losses }, { ...logps, ...extras }, g);
  assert.deepEqual(got.losses, Array(PAIRS).fill(extras.chosenNll[0]));
});

test('a loss refuses to build without the input it needs', () => {
  const g = new Graph();
  const { chosenNll: _n, runningRewardMean: _d, ...plain } = logpInputs(g);
  assert.throws(() => dpoLoss(plain, { type: 'sft', beta: 0.1 }), /loss: sft needs the chosen NLL/);
  assert.throws(() => dpoLoss(plain, { type: ['sigmoid', 'bco_pair'], beta: 0.1 }), /loss: bco_pair needs the running reward mean/);
  assert.equal(DISCOPOP_TAU, 0.05);
});

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
  const got = await run({ loss, dChosen: grads.get(v.policyChosen)!, dRejected: grads.get(v.policyRejected)! }, { ...same, ...extras }, g);
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
  assert.throws(() => dpoLoss(v, { type: 'orpo' as never, beta: 0.1 }), /unknown type orpo/);
  assert.throws(() => dpoLoss(v, { type: [], beta: 0.1 }), /loss: no loss type given/);
  assert.throws(() => dpoLoss(v, { type: ['sigmoid', 'sft', 'sigmoid'], beta: 0.1 }), /loss: sigmoid is listed twice/);
  assert.throws(() => dpoLoss(v, { type: ['sigmoid', 'sft'], weights: [1], beta: 0.1 }), /loss: 1 weights for 2 losses/);
  assert.throws(() => dpoLoss(v, { type: ['sigmoid', 'sft'], weights: [1, -0.2], beta: 0.1 }), /weights must be positive numbers, got -0.2/);
  assert.throws(() => dpoLoss(v, { type: 'sigmoid', weights: [Infinity], beta: 0.1 }), /weights must be positive numbers, got Infinity/);
  assert.throws(() => dpoLoss(v, { type: 'discopop', beta: 0.1, discopopTau: 0 }), /discopop tau must be a positive number, got 0/);
  assert.throws(() => dpoLoss(v, { type: ['ipo', 'sft'], beta: 0.1, labelSmoothing: 0.1 }), /label smoothing does not apply to ipo, sft/);
  assert.doesNotThrow(() => dpoLoss(v, { type: ['ipo', 'sigmoid'], beta: 0.1, labelSmoothing: 0.1 }));
});

test('sequence log-probs: masked sum, and mean over completion tokens; the completion mean over all rows', async () => {
  const g = new Graph();
  const tokens = g.input('tokens', 'float64', [2, 3]);
  const mask = g.input('mask', 'float64', [2, 3]);
  const feedsG = { tokens: [-1, -2, -3, -4, -5, -6], mask: [0, 1, 1, 1, 1, 0] };
  g.output(sequenceLogps(tokens, mask, false), 'sum');
  g.output(sequenceLogps(tokens, mask, true), 'mean');
  g.output(completionMean(tokens, mask), 'completion');
  const session = await ort.InferenceSession.create(serialize(lower(g, 'cpu')).model);
  const t = (d: number[]) => new ort.Tensor('float64', Float64Array.from(d), [2, 3]);
  const out = await session.run({ tokens: t(feedsG.tokens), mask: t(feedsG.mask) });
  await session.release();
  assert.deepEqual(Array.from(out.sum!.data as Float64Array), [-5, -9]);
  assert.deepEqual(Array.from(out.mean!.data as Float64Array), [-2.5, -4.5]);
  assert.deepEqual(Array.from(out.completion!.data as Float64Array), [(-2 - 3 - 4 - 5) / 4]);
});
