import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Graph } from '../../../src/engine/graph/ir.ts';
import { causalLM } from '../../../src/engine/models/families.ts';
import { MASKED } from '../../../src/engine/models/family.ts';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';

const config = llamaConfig({ vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24 });
const T = 3;

function forwardGraph(linearsAsStored: boolean) {
  const g = new Graph('layout');
  const weights = randomWeights(config, 3, 0.2);
  const lm = causalLM(g, config, weights, 'float32');
  const ids = g.input('input_ids', 'int64', [1, T]);
  const positions = g.constant({ dtype: 'int64', shape: [1, T], data: BigInt64Array.of(0n, 1n, 2n) });
  const bias = g.constant({ dtype: 'float32', shape: [1, T, T], data: Float32Array.from({ length: T * T }, (_, i) => (i % T > Math.floor(i / T) ? MASKED : 0)) });
  const { hidden } = lm.forward({ inputIds: ids, positions, attentionBias: bias, linearsAsStored });
  g.output(hidden, 'hidden');
  return { g, weights };
}

test('linears read as stored share the checkpoint tensors ([out, in], no copy); the default layout transposes them', () => {
  const name = 'model.layers.1.mlp.gate_proj.weight';
  const stored = forwardGraph(true);
  const init = [...stored.g.initializers].find(([v]) => v.name === name)![1];
  assert.deepEqual(init.tensor.shape, [config.intermediateSize, config.hiddenSize]);
  assert.equal(init.tensor.data, stored.weights.get(name).data);

  const transposed = forwardGraph(false);
  const copy = [...transposed.g.initializers].find(([v]) => v.name === name)![1];
  assert.deepEqual(copy.tensor.shape, [config.hiddenSize, config.intermediateSize]);
  assert.notEqual(copy.tensor.data, transposed.weights.get(name).data);
});

test('linears read as stored go through Gemm with transB and no Transpose of a weight', () => {
  const { g } = forwardGraph(true);
  const isWeight = (v: unknown) => [...g.initializers].some(([w, init]) => w === v && init.weight);
  const linearGemms = g.nodes.filter((n) => n.opType === 'Gemm' && n.attributes.transB?.kind === 'int' && n.attributes.transB.value === 1 && isWeight(n.inputs[1]));
  assert.equal(linearGemms.length, config.numLayers * 7);
  assert.equal(g.nodes.filter((n) => n.opType === 'Transpose' && isWeight(n.inputs[0])).length, 0);
  assert.equal(g.nodes.filter((n) => n.opType === 'MatMul' && n.inputs.some(isWeight)).length, 0);
});

test('both layouts compute the same hidden states', async () => {
  const ort = await import('onnxruntime-node');
  const { lower } = await import('../../../src/engine/graph/lower.ts');
  const { serialize } = await import('../../../src/engine/graph/onnx.ts');
  const run = async (stored: boolean) => {
    const session = await ort.InferenceSession.create(serialize(lower(forwardGraph(stored).g)).model, { intraOpNumThreads: 1 });
    try {
      const out = await session.run({ input_ids: new ort.Tensor('int64', BigInt64Array.of(5n, 7n, 11n), [1, T]) });
      return out.hidden!.data as Float32Array;
    } finally {
      await session.release();
    }
  };
  const [a, b] = [await run(true), await run(false)];
  assert.equal(a.length, T * config.hiddenSize);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-5 * (1 + Math.abs(b[i]!)), `element ${i}: ${a[i]} vs ${b[i]}`);
});
