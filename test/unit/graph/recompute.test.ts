import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import type { Graph, Value } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import * as op from '../../../src/engine/graph/ops.ts';
import { Graph as IrGraph } from '../../../src/engine/graph/ir.ts';
import { gradients } from '../../../src/engine/graph/autodiff.ts';
import { gradientRules } from '../../../src/engine/graph/gradients.ts';
import type { ModelConfig } from '../../../src/engine/hf/types.ts';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import { initialLoraWeights } from '../../../src/dpo/lora.ts';
import { accumulatorName, dpoGraph } from '../../../src/dpo/trainingGraph.ts';
import { nextName } from '../../../src/train/adamw.ts';
import { uniform } from '../autodiff/gradcheck.ts';
import { batchFeeds, syntheticBatch } from '../dpo/dpoGraph.ts';

const tiny = { vocabSize: 40, hiddenSize: 16, numLayers: 3, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24 };
const families: [string, ModelConfig][] = [
  ['llama', llamaConfig(tiny)],
  ['gpt2', llamaConfig({ ...tiny, family: 'gpt2', modelType: 'gpt2', architecture: 'GPT2LMHeadModel', numKvHeads: 4 })],
];

/** The accumulate graph: its outputs are this micro-batch's LoRA gradients plus the fed (zero) sums. */
function gradientGraph(config: ModelConfig, recompute: boolean, keepProducts = false) {
  const shape = { rows: 4, length: 6, dtype: 'float64' as const, headChunks: 2, recompute, keepProducts };
  return dpoGraph(config, randomWeights(config, 5, 0.2), shape, { rank: 2, alpha: 4 }, { type: 'sigmoid', beta: 0.5 }, null, 'accumulate');
}

async function runGradients(config: ModelConfig, recompute: boolean, keepProducts = false): Promise<Map<string, Float64Array>> {
  const { graph, adapter } = gradientGraph(config, recompute, keepProducts);
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, c] of Object.entries(batchFeeds(syntheticBatch(config.vocabSize, 2, 6, 3, 11)))) {
    feeds[name] = c.dtype === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(c.data as bigint[]), c.shape) : new ort.Tensor('float64', Float64Array.from(c.data as number[]), c.shape);
  }
  for (const [name, data] of initialLoraWeights(adapter.layers, 3, 'float64')) {
    const shape = graph.inputs.find((v) => v.name === name)!.shape as number[];
    // B ≠ 0 so that every A has a gradient
    feeds[name] = new ort.Tensor('float64', name.includes('lora_B') ? Float64Array.from(uniform(data.length, data.length, -0.3, 0.3)) : data, shape);
    feeds[accumulatorName(name)] = new ort.Tensor('float64', new Float64Array(data.length), shape);
  }
  const session = await ort.InferenceSession.create(serialize(lower(graph)).model, { graphOptimizationLevel: 'basic', intraOpNumThreads: 1 });
  try {
    const out = await session.run(feeds);
    return new Map(adapter.parameters().map((p) => [p.name, out[nextName(accumulatorName(p.name))]!.data as Float64Array]));
  } finally {
    await session.release();
  }
}

const count = (g: Graph, opType: string) => g.nodes.filter((n) => n.opType === opType).length;

function ancestors(v: Value): Set<Value> {
  const seen = new Set<Value>();
  const stack = [v];
  while (stack.length > 0) {
    const u = stack.pop()!;
    for (const i of u.producer?.inputs ?? []) {
      if (i && !seen.has(i)) {
        seen.add(i);
        stack.push(i);
      }
    }
  }
  return seen;
}

for (const [label, config] of families) {
  test(`${label}: LoRA gradients with per-layer recompute equal those with kept activations (f64)`, async () => {
    const kept = await runGradients(config, false);
    const recomputed = await runGradients(config, true);
    const recomputedAroundProducts = await runGradients(config, true, true);
    assert.equal(recomputed.size, kept.size);
    let nonzero = 0;
    for (const [name, g] of kept) {
      assert.deepEqual(Array.from(recomputed.get(name)!), Array.from(g), name);
      assert.deepEqual(Array.from(recomputedAroundProducts.get(name)!), Array.from(g), name);
      if (g.some((x) => x !== 0)) nonzero++;
    }
    assert.equal(nonzero, kept.size, 'every LoRA matrix has a non-zero gradient');
  });

  test(`${label}: the backward holds one recomputed copy of every layer's forward, each waiting for the backward of the layer above`, () => {
    const plain = gradientGraph(config, false);
    const rec = gradientGraph(config, true);
    const attention = (g: Graph) => count(g, 'Softmax');
    assert.equal(attention(rec.graph) - attention(plain.graph), config.numLayers);
    assert.ok(rec.graph.nodes.length > plain.graph.nodes.length);
    // the runtime may start a layer's copy only once the backward has reached that layer: after the whole
    // forward, and (walking back) after the copy of the layer above
    const forward = plain.graph.nodes.filter((n) => n.opType === 'Softmax').slice(0, config.numLayers).map((n) => n.outputs[0]!.name);
    const copies = rec.graph.nodes.filter((n) => n.opType === 'Softmax' && !forward.includes(n.outputs[0]!.name) && n.inputs[0]?.producer?.opType !== 'Gemm').map((n) => n.outputs[0]!);
    assert.equal(copies.length, config.numLayers);
    const lastForward = rec.graph.find(forward.at(-1)!)!;
    assert.ok(ancestors(copies[0]!).has(lastForward), 'the last layer is recomputed after the forward');
    for (let i = 1; i < copies.length; i++) {
      const before = ancestors(copies[i]!);
      assert.ok(before.has(copies[i - 1]!), `copy ${i} waits for copy ${i - 1}`);
      // and for the adapter gradients of the layer above (the runtime would otherwise defer them and keep their inputs)
      const above = rec.adapter.layers.filter((l) => l.site.layer === config.numLayers - i);
      assert.ok(above.length > 0);
      for (const { a, b } of above) {
        for (const p of [a, b]) {
          const gradient = rec.graph.find(nextName(accumulatorName(p.name)))!.producer!.inputs[1]!;
          assert.ok(before.has(gradient), `copy ${i} waits for the gradient of ${p.name}`);
        }
      }
    }
  });
}

for (const [label, config] of families) {
  test(`${label}: keeping products recomputes neither those with base weights nor the attention context, only the scores and what lies between`, () => {
    const weightProducts = (g: Graph) => g.nodes.filter((n) => (n.opType === 'MatMul' || n.opType === 'Gemm') && n.inputs.some((v) => v && g.initializers.get(v)?.weight)).length;
    // probabilities × values (the forward's; the backward's products read the softmax output second or transposed)
    const contexts = (g: Graph) => g.nodes.filter((n) => n.opType === 'MatMul' && n.inputs[0]?.producer?.opType === 'Softmax').length;
    const plain = gradientGraph(config, false).graph;
    const full = gradientGraph(config, true).graph;
    const around = gradientGraph(config, true, true).graph;
    assert.ok(weightProducts(full) > weightProducts(plain));
    assert.equal(weightProducts(around), weightProducts(plain));
    assert.equal(contexts(full) - contexts(plain), config.numLayers);
    assert.equal(contexts(around), contexts(plain));
    assert.equal(count(around, 'Softmax'), count(full, 'Softmax'));
  });
}

test('a copy computed from kept products alone still waits for the backward (LoRA on down_proj only: SiLU from the kept gate/up)', () => {
  const config = families[0]![1];
  const build = (recompute: boolean) =>
    dpoGraph(config, randomWeights(config, 5, 0.2), { rows: 4, length: 6, dtype: 'float64', headChunks: 2, recompute, keepProducts: true }, { rank: 2, alpha: 4, targetModules: ['down_proj'] }, { type: 'sigmoid', beta: 0.5 }, null, 'accumulate').graph;
  const plain = build(false);
  const rec = build(true);
  const forwardSigmoids = plain.nodes.filter((n) => n.opType === 'Sigmoid').slice(0, config.numLayers).map((n) => n.outputs[0]!.name);
  const lastAttention = rec.find(plain.nodes.filter((n) => n.opType === 'Softmax')[config.numLayers - 1]!.outputs[0]!.name)!;
  const copies = rec.nodes.filter((n) => n.opType === 'Sigmoid' && !forwardSigmoids.includes(n.outputs[0]!.name));
  assert.equal(copies.length, config.numLayers);
  for (const n of copies) assert.ok(ancestors(n.outputs[0]!).has(lastAttention), `${n.name} could run during the forward pass`);
});

test('rejects boundaries that are not in forward order', () => {
  const g = new IrGraph('t');
  const x = g.input('x', 'float64', [2]);
  const a = op.mul(x, x);
  const b = op.mul(a, a);
  const loss = op.reduceSum(b, [0], false);
  assert.throws(() => gradients(g, loss, [x], gradientRules, { recompute: [b, a] }), /recompute: boundary .* is not computed after/);
});
