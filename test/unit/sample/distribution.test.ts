import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseToken, logSumExp, penalizeRepeats, seededRandom, truncatedDistribution } from '../../../src/engine/sample/distribution.ts';

const logits = Float32Array.from([2, 1, 0.5, 0, -1, -3, 3, 0.1]);
const plain = { temperature: 1, topK: 0, topP: 1, minP: 0 };

function softmax(xs: ArrayLike<number>, t = 1): number[] {
  const max = Math.max(...Array.from(xs));
  const e = Array.from(xs, (x) => Math.exp((x - max) / t));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

test('top-k keeps exactly the k most likely tokens, renormalized', () => {
  const { ids, probs } = truncatedDistribution(logits, { ...plain, topK: 3 });
  assert.deepEqual(ids, [6, 0, 1]);
  const p = softmax(logits);
  const z = p[6]! + p[0]! + p[1]!;
  assert.ok(Math.abs(probs[0]! - p[6]! / z) < 1e-12);
  assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-12);
});

test('top-p keeps the smallest most-likely set whose mass reaches p', () => {
  const p = softmax(logits);
  const sorted = [...p].sort((a, b) => b - a);
  for (const topP of [0.5, 0.8, 0.95, 0.999]) {
    const { ids } = truncatedDistribution(logits, { ...plain, topP });
    const mass = ids.reduce((s, i) => s + p[i]!, 0);
    assert.ok(mass >= topP - 1e-12, `top-p ${topP}: kept mass ${mass}`);
    const withoutLast = mass - p[ids.at(-1)!]!;
    assert.ok(withoutLast < topP, `top-p ${topP}: set is not minimal`);
    assert.deepEqual(ids.map((i) => p[i]), sorted.slice(0, ids.length));
  }
});

test('min-p drops tokens below min-p times the top probability', () => {
  const p = softmax(logits);
  const { ids } = truncatedDistribution(logits, { ...plain, minP: 0.2 });
  const top = Math.max(...p);
  for (let i = 0; i < p.length; i++) assert.equal(ids.includes(i), p[i]! >= 0.2 * top, `token ${i}`);
});

test('temperature sharpens the distribution before truncation', () => {
  const cold = truncatedDistribution(logits, { ...plain, temperature: 0.5, topK: 8 });
  const p = softmax(logits, 0.5);
  assert.ok(Math.abs(cold.probs[0]! - Math.max(...p)) < 1e-12);
});

test('sampling frequencies follow the truncated distribution; temperature 0 is greedy', () => {
  const options = { ...plain, topK: 3 };
  const random = seededRandom(42);
  const counts = new Map<number, number>();
  const draws = 20000;
  for (let i = 0; i < draws; i++) {
    const { id } = chooseToken(logits, options, random);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const { ids, probs } = truncatedDistribution(logits, options);
  assert.deepEqual([...counts.keys()].sort(), [...ids].sort());
  ids.forEach((id, k) => assert.ok(Math.abs(counts.get(id)! / draws - probs[k]!) < 0.015, `token ${id}`));
  assert.equal(chooseToken(logits, { ...plain, temperature: 0 }, random).id, 6);
});

test('the reported log-prob is the model log-prob, independent of temperature', () => {
  const random = seededRandom(1);
  const p = softmax(logits);
  const hot = chooseToken(logits, { ...plain, temperature: 2 }, random);
  assert.ok(Math.abs(hot.logprob - Math.log(p[hot.id]!)) < 1e-6);
});

test('a seed fixes the draws; another seed changes them', () => {
  const run = (seed: number) => {
    const r = seededRandom(seed);
    return Array.from({ length: 32 }, () => chooseToken(logits, plain, r).id);
  };
  assert.deepEqual(run(7), run(7));
  assert.notDeepEqual(run(7), run(8));
});

test('the repetition penalty divides positive and multiplies negative logits of seen tokens only', () => {
  const out = new Float32Array(logits.length);
  const penalized = penalizeRepeats(logits, new Set([0, 4, 6]), 2, out);
  assert.equal(penalized, out);
  assert.deepEqual([...penalized], [1, 1, 0.5, 0, -2, -3, 1.5, 0.1].map(Math.fround));
  assert.deepEqual([...logits], [2, 1, 0.5, 0, -1, -3, 3, 0.1].map(Math.fround), 'the logits are left as they were');
  // greedy: the top token (6) loses its place to the next one once seen
  assert.equal(chooseToken(logits, { ...plain, temperature: 0 }, seededRandom(1)).id, 6);
  assert.equal(chooseToken(penalizeRepeats(logits, new Set([6]), 2, out), { ...plain, temperature: 0 }, seededRandom(1)).id, 0);
});

test('a token drawn from a penalized copy reports its log-prob under the model’s own logits', () => {
  const copy = penalizeRepeats(logits, new Set([6]), 2, new Float32Array(logits.length));
  const choice = chooseToken(copy, { ...plain, temperature: 0 }, seededRandom(1), logits);
  assert.equal(choice.id, 0);
  assert.equal(choice.logprob, logits[0]! - logSumExp(logits));
  assert.notEqual(choice.logprob, chooseToken(copy, { ...plain, temperature: 0 }, seededRandom(1)).logprob);
});
