import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { gradients } from '../../../src/engine/graph/autodiff.ts';
import { Graph, type Value } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import { type DpoLossConfig, checkDpoLossConfig, dpoLoss, ktoLoss } from '../../../src/dpo/losses.ts';
import { uniform } from '../autodiff/gradcheck.ts';

const ROWS = 6;
const inputs = {
  policy: uniform(ROWS, 1, -40, -10),
  reference: uniform(ROWS, 2, -40, -10),
  desirable: [1, 0, 1, 1, 0, 0],
  policyKl: uniform(ROWS, 3, -40, -10),
  referenceKl: uniform(ROWS, 4, -40, -10),
};
type Inputs = typeof inputs;

const sig = (x: number) => 1 / (1 + Math.exp(-x));
const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** TRL's KTOTrainer in plain numbers: z0, the losses of each side weighted and averaged over all rows. */
function expected(config: DpoLossConfig, x: Inputs) {
  const { beta } = config;
  const z0 = Math.max(0, avg(x.policyKl.map((p, i) => p - x.referenceKl[i]!)));
  const ratio = x.policy.map((p, i) => p - x.reference[i]!);
  const losses = ratio.map((r, i) =>
    x.desirable[i] ? (config.desirableWeight ?? 1) * (1 - sig(beta * (r - z0))) : (config.undesirableWeight ?? 1) * (1 - sig(beta * (z0 - r))),
  );
  const side = (want: number) => ratio.flatMap((r, i) => (x.desirable[i] === want ? [beta * r] : []));
  const logps = (want: number) => x.policy.filter((_, i) => x.desirable[i] === want);
  return { z0, ratio, loss: avg(losses), chosen: avg(side(1)), rejected: avg(side(0)), logpsChosen: avg(logps(1)), logpsRejected: avg(logps(0)) };
}

/** The loss graph over fed log-probs (float64), its outputs and the gradient wrt the policy's log-probs. */
async function evaluate(config: DpoLossConfig, x: Inputs) {
  const g = new Graph();
  const input = (name: keyof Inputs) => g.input(name, 'float64', [ROWS]);
  const policy = input('policy');
  const { loss, metrics } = ktoLoss(
    { policy, reference: input('reference'), desirable: input('desirable'), policyKl: input('policyKl'), referenceKl: input('referenceKl') },
    config,
  );
  const outputs: Record<string, Value> = { loss, ...metrics, dPolicy: gradients(g, loss, [policy]).get(policy)! };
  for (const [name, v] of Object.entries(outputs)) g.output(v, name);
  const session = await ort.InferenceSession.create(serialize(lower(g, 'cpu')).model);
  try {
    const feeds = Object.fromEntries(Object.entries(x).map(([n, d]) => [n, new ort.Tensor('float64', Float64Array.from(d), [ROWS])]));
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([n, t]) => [n, Array.from(t.data as Float64Array)]));
  } finally {
    await session.release();
  }
}

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

for (const config of [
  { type: 'kto', beta: 0.1 },
  { type: 'kto', beta: 0.5, desirableWeight: 1.33, undesirableWeight: 0.75 },
] as DpoLossConfig[]) {
  test(`kto (β ${config.beta}, weights ${config.desirableWeight ?? 1}/${config.undesirableWeight ?? 1}) is TRL's formula, with TRL's metrics`, async () => {
    // mismatched rows whose policy sits above the reference: a positive KL estimate, so z0 takes part
    const x = { ...inputs, policyKl: inputs.referenceKl.map((r, i) => r + 0.5 + i) };
    const want = expected(config, x);
    assert.ok(want.z0 > 0);
    const got = await evaluate(config, x);
    close(got.loss![0]!, want.loss, 'loss');
    close(got.kl![0]!, want.z0, 'kl');
    close(got['rewards/chosen']![0]!, want.chosen, 'rewards/chosen');
    close(got['rewards/rejected']![0]!, want.rejected, 'rewards/rejected');
    close(got['rewards/margins']![0]!, want.chosen - want.rejected, 'rewards/margins');
    close(got['logps/chosen']![0]!, want.logpsChosen, 'logps/chosen');
    close(got['logps/rejected']![0]!, want.logpsRejected, 'logps/rejected');
    const rightSide = want.ratio.map((r, i) => ((r > 0 ? 1 : 0) === x.desirable[i] ? 1 : 0));
    close(got['rewards/accuracies']![0]!, avg(rightSide), 'rewards/accuracies');
    // z0 is a constant to the gradient: d/dρ of 1 − σ(β(ρ − z0)) alone
    want.ratio.forEach((r, i) => {
      const desirable = x.desirable[i] === 1;
      const s = sig(config.beta * (desirable ? r - want.z0 : want.z0 - r));
      const weight = desirable ? (config.desirableWeight ?? 1) : (config.undesirableWeight ?? 1);
      const d = ((desirable ? -1 : 1) * weight * config.beta * s * (1 - s)) / ROWS;
      close(got.dPolicy![i]!, d, `d loss / d policy[${i}]`);
    });
  });
}

test('a negative KL estimate is clamped to 0, as TRL clamps it', async () => {
  const x = { ...inputs, policyKl: inputs.referenceKl.map((r) => r - 2) };
  const got = await evaluate({ type: 'kto', beta: 0.1 }, x);
  assert.equal(got.kl![0], 0);
  close(got.loss![0]!, expected({ type: 'kto', beta: 0.1 }, x).loss, 'loss at z0 = 0');
});

test('a batch without one side reports 0 for that side instead of NaN', async () => {
  const got = await evaluate({ type: 'kto', beta: 0.1 }, { ...inputs, desirable: inputs.desirable.map(() => 1) });
  assert.equal(Math.abs(got['rewards/rejected']![0]!), 0);
  assert.equal(Math.abs(got['logps/rejected']![0]!), 0);
  assert.ok(Number.isFinite(got.loss![0]!));
});

test('kto refuses the paired losses and bad weights in one line each', () => {
  assert.throws(() => checkDpoLossConfig({ type: ['sigmoid', 'kto'], beta: 0.1 }), /^Error: loss: kto trains on unpaired examples and cannot be combined with sigmoid$/);
  assert.throws(() => checkDpoLossConfig({ type: 'kto', beta: 0.1, desirableWeight: 0 }), /loss: the desirable weight must be a positive number, got 0/);
  assert.throws(() => checkDpoLossConfig({ type: 'kto', beta: 0.1, undesirableWeight: Infinity }), /loss: the undesirable weight must be a positive number, got Infinity/);
  const g = new Graph();
  const v = (n: string) => g.input(n, 'float64', [ROWS]);
  assert.throws(() => dpoLoss({ policyChosen: v('a'), policyRejected: v('b'), referenceChosen: v('c'), referenceRejected: v('d') }, { type: 'kto', beta: 0.1 }), /kto trains on unpaired examples \(ktoLoss\)/);
  assert.throws(
    () => ktoLoss({ policy: v('e'), reference: v('f'), desirable: v('g'), policyKl: v('h'), referenceKl: v('i') }, { type: 'sigmoid', beta: 0.1 }),
    /ktoLoss takes the kto loss, not sigmoid/,
  );
});
