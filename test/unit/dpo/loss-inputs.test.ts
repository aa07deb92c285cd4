/**
 * What the step graph feeds its losses beyond the sequence log-probs: the chosen NLL (sft), BCO's δ as an
 * input, and TRL's logits/chosen and logits/rejected, checked against the reference pass and full logits.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { Graph } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import * as op from '../../../src/engine/graph/ops.ts';
import { causalLM } from '../../../src/engine/models/families.ts';
import { MASKED } from '../../../src/engine/models/family.ts';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import type { ModelConfig, WeightSource } from '../../../src/engine/hf/types.ts';
import { initialLoraWeights } from '../../../src/dpo/lora.ts';
import { RUNNING_REWARD_MEAN, dpoGraph, referenceGraph } from '../../../src/dpo/trainingGraph.ts';
import type { CheckInput } from '../autodiff/gradcheck.ts';
import { type PreferenceBatch, batchFeeds, syntheticBatch } from './dpoGraph.ts';

const tensor = (c: CheckInput) =>
  c.dtype === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(c.data as bigint[]), c.shape) : new ort.Tensor('float64', Float64Array.from(c.data as number[]), c.shape);

async function run(g: Graph, feeds: Record<string, ort.Tensor>) {
  const session = await ort.InferenceSession.create(serialize(lower(g)).model, { graphOptimizationLevel: 'basic' });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** The base model's full logits [rows, T, vocab] over the batch, from a plain forward pass. */
async function fullLogits(config: ModelConfig, weights: WeightSource, batch: PreferenceBatch): Promise<Float64Array> {
  const [R, T] = [2 * batch.pairs, batch.length];
  const g = new Graph('logits');
  const lm = causalLM(g, config, weights, 'float64');
  const inputIds = g.input('input_ids', 'int64', [R, T]);
  const positions = g.constant({ dtype: 'int64', shape: [R, T], data: BigInt64Array.from({ length: R * T }, (_, i) => BigInt(i % T)) });
  const causal = g.constant({ dtype: 'float64', shape: [1, T, T], data: Float64Array.from({ length: T * T }, (_, i) => (i % T > Math.floor(i / T) ? MASKED : 0)) });
  const { hidden } = lm.forward({ inputIds, positions, attentionBias: op.expand(causal, [R, T, T]) });
  g.output(lm.lmHead(hidden), 'logits');
  const out = await run(g, { input_ids: new ort.Tensor('int64', BigInt64Array.from(batch.ids.map(BigInt)), [R, T]) });
  return out.logits!.data as Float64Array;
}

/** TRL's logits/<side>: the mean of the logits over the vocabulary and the side's completion tokens. */
function meanCompletionLogit(logits: Float64Array, batch: PreferenceBatch, vocab: number, rows: number[]): number {
  let sum = 0;
  let tokens = 0;
  for (const row of rows) {
    for (let t = 0; t < batch.length; t++) {
      const at = row * batch.length + t;
      if (batch.completionMask[at] !== 1) continue;
      for (let v = 0; v < vocab; v++) sum += logits[at * vocab + v]!;
      tokens++;
    }
  }
  return sum / (tokens * vocab);
}

const logSig = (x: number) => (x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x)));

for (const [label, tied] of [['tied head (mean row of the table)', true], ['untied head (full logits)', false]] as const) {
  test(`${label}: a fresh adapter's sigmoid + sft + bco_pair loss, and TRL's logits metrics`, async () => {
    const vocab = 40;
    const config = llamaConfig({ vocabSize: vocab, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24, tieWordEmbeddings: tied });
    const weights = randomWeights(config, 5, 0.2);
    const P = 3;
    const batch = syntheticBatch(vocab, P, 7, 3, 9);
    const data = Object.fromEntries(Object.entries(batchFeeds(batch, false)).map(([n, c]) => [n, tensor(c)]));
    const shape = { rows: 2 * P, length: 7, dtype: 'float64' as const, headChunks: 2 };
    const reference = (await run(referenceGraph(config, weights, shape, { type: 'sigmoid', beta: 0.1 }), data)).sequence_logps!.data as Float64Array;

    const loss = { type: ['sigmoid', 'sft', 'bco_pair'] as const, weights: [1, 0.5, 2], beta: 0.1 };
    const { graph, adapter } = dpoGraph(config, weights, shape, { rank: 2, alpha: 4 }, loss, null);
    const lora = Object.fromEntries([...initialLoraWeights(adapter.layers, 2, 'float64')].map(([n, d]) => [n, new ort.Tensor('float64', d, graph.inputs.find((v) => v.name === n)!.shape as number[])]));
    const delta = 0.3;
    const out = await run(graph, {
      ...data,
      ...lora,
      reference_chosen_logps: new ort.Tensor('float64', reference.slice(0, P), [P]),
      reference_rejected_logps: new ort.Tensor('float64', reference.slice(P), [P]),
      [RUNNING_REWARD_MEAN]: new ort.Tensor('float64', Float64Array.of(delta), []),
    });

    // the policy is the reference: every log-ratio is 0
    const chosenTokens = batch.completionMask.slice(0, P * batch.length).reduce((s, m) => s + m, 0);
    const nll = -(reference[0]! + reference[1]! + reference[2]!) / chosenTokens;
    const want = Math.log(2) + 0.5 * nll + 2 * (-logSig(-delta) - logSig(delta));
    assert.ok(Math.abs(Number(out.loss!.data[0]) - want) < 1e-12, `loss ${out.loss!.data[0]} vs ${want}`);

    const logits = await fullLogits(config, weights, batch);
    const chosen = meanCompletionLogit(logits, batch, vocab, [0, 1, 2]);
    const rejected = meanCompletionLogit(logits, batch, vocab, [3, 4, 5]);
    assert.ok(Math.abs(Number(out['logits/chosen']!.data[0]) - chosen) < 1e-12, `logits/chosen ${out['logits/chosen']!.data[0]} vs ${chosen}`);
    assert.ok(Math.abs(Number(out['logits/rejected']!.data[0]) - rejected) < 1e-12, `logits/rejected ${out['logits/rejected']!.data[0]} vs ${rejected}`);
    assert.notEqual(chosen, rejected);
  });
}

test('only a loss that uses δ gets the running reward mean input, and any averaging loss averages them all', () => {
  const config = llamaConfig({ vocabSize: 40, hiddenSize: 16, numLayers: 1, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24 });
  const weights = randomWeights(config, 5);
  const inputs = (type: 'sigmoid' | 'bco_pair') => dpoGraph(config, weights, { rows: 2, length: 4 }, { rank: 2, alpha: 4 }, { type, beta: 0.1 }, null).graph.inputs.map((v) => v.name);
  assert.ok(inputs('bco_pair').includes(RUNNING_REWARD_MEAN));
  assert.ok(!inputs('sigmoid').includes(RUNNING_REWARD_MEAN));
  const divisions = (type: 'sigmoid' | readonly ('sigmoid' | 'ipo')[]) =>
    referenceGraph(config, weights, { rows: 2, length: 4 }, { type, beta: 0.1 }).nodes.filter((n) => n.opType === 'Div').length;
  assert.equal(divisions(['sigmoid', 'ipo']), divisions('sigmoid') + 1, 'the sums divided by the completion lengths');
});
