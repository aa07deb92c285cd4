import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import { initialLoraWeights } from '../../../src/dpo/lora.ts';
import { dpoGraph, referenceGraph } from '../../../src/dpo/trainingGraph.ts';
import type { Graph } from '../../../src/engine/graph/ir.ts';
import type { CheckInput } from '../autodiff/gradcheck.ts';
import { batchFeeds, syntheticBatch } from './dpoGraph.ts';

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

for (const [label, tied] of [['tied head (row-blocked log-probs)', true], ['untied head', false]] as const) {
  test(`${label}: with a fresh adapter the policy equals the reference: loss log 2, zero rewards and margins`, async () => {
    const config = llamaConfig({ vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24, tieWordEmbeddings: tied });
    const weights = randomWeights(config, 5, 0.2);
    const batch = syntheticBatch(40, 3, 7, 3, 9);
    const data = Object.fromEntries(Object.entries(batchFeeds(batch, false)).map(([n, c]) => [n, tensor(c)]));
    const shape = { rows: 6, length: 7, dtype: 'float64' as const, headChunks: 4 };
    const reference = (await run(referenceGraph(config, weights, shape, { type: 'sigmoid', beta: 0.1 }), data)).sequence_logps!.data as Float64Array;
    assert.equal(reference.length, 6);
    assert.ok(reference.every((v) => v < 0 && Number.isFinite(v)));

    const { graph, adapter } = dpoGraph(config, weights, shape, { rank: 2, alpha: 4 }, { type: 'sigmoid', beta: 0.1 }, null);
    const lora = Object.fromEntries([...initialLoraWeights(adapter.layers, 2, 'float64')].map(([n, d]) => [n, new ort.Tensor('float64', d, graph.inputs.find((v) => v.name === n)!.shape as number[])]));
    const out = await run(graph, {
      ...data,
      ...lora,
      reference_chosen_logps: new ort.Tensor('float64', reference.slice(0, 3), [3]),
      reference_rejected_logps: new ort.Tensor('float64', reference.slice(3), [3]),
    });
    assert.ok(Math.abs(Number(out.loss!.data[0]) - Math.log(2)) < 1e-12);
    for (const name of ['rewards/chosen', 'rewards/rejected', 'rewards/margins', 'rewards/accuracies']) assert.equal(Number(out[name]!.data[0]), 0, name);
    const meanChosen = (reference[0]! + reference[1]! + reference[2]!) / 3;
    assert.ok(Math.abs(Number(out['logps/chosen']!.data[0]) - meanChosen) < 1e-12);
  });
}

test('a bucket must hold whole pairs and fit the model’s positions', () => {
  const config = llamaConfig({ vocabSize: 40, hiddenSize: 16, numLayers: 1, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24, maxPositions: 16 });
  const weights = randomWeights(config, 5);
  assert.throws(() => dpoGraph(config, weights, { rows: 3, length: 8 }, { rank: 2, alpha: 4 }, { type: 'sigmoid', beta: 0.1 }, null), /rows 3 must hold chosen and rejected rows/);
  assert.throws(() => referenceGraph(config, weights, { rows: 2, length: 32 }, { type: 'sigmoid', beta: 0.1 }), /length 32 exceeds max_position_embeddings 16/);
});
