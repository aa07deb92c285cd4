import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { Graph } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import * as op from '../../../src/engine/graph/ops.ts';
import { causalLM } from '../../../src/engine/models/families.ts';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import { LoraAdapter, initialLoraWeights, loraScale } from '../../../src/dpo/lora.ts';
import type { ModelConfig } from '../../../src/engine/hf/types.ts';
import { uniform } from '../autodiff/gradcheck.ts';

const config = llamaConfig({ vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24 });

/** A family forward with LoRA on a [1, 4] token batch, logits as the output. */
function adaptedModel(c: ModelConfig, lora: ConstructorParameters<typeof LoraAdapter>[1] | null) {
  const g = new Graph();
  const lm = causalLM(g, c, randomWeights(c, 5, 0.2), 'float64');
  const adapter = lora ? new LoraAdapter(g, lora, 'float64') : null;
  const ints = (d: number[]) => g.constant({ dtype: 'int64', shape: [1, 4], data: BigInt64Array.from(d, BigInt) });
  const bias = g.constant({ dtype: 'float64', shape: [1, 4, 4], data: Float64Array.from({ length: 16 }, (_, i) => (i % 4 > Math.floor(i / 4) ? -1e9 : 0)) });
  const { hidden } = lm.forward({ inputIds: ints([3, 1, 4, 1]), positions: ints([0, 1, 2, 3]), attentionBias: bias, linearHook: adapter?.hook });
  adapter?.assertTargetsMatched();
  g.output(lm.lmHead(hidden), 'logits');
  return { g, adapter };
}

async function logits(g: Graph, feeds: Map<string, Float32Array | Float64Array>): Promise<Float64Array> {
  const session = await ort.InferenceSession.create(serialize(lower(g)).model, { graphOptimizationLevel: 'basic' });
  try {
    const inputs = Object.fromEntries([...feeds].map(([n, d]) => [n, new ort.Tensor('float64', Float64Array.from(d), g.inputs.find((v) => v.name === n)!.shape as number[])]));
    return (await session.run(inputs)).logits!.data as Float64Array;
  } finally {
    await session.release();
  }
}

test('scale is alpha/r, or alpha/√r with rsLoRA', () => {
  assert.equal(loraScale({ rank: 16, alpha: 32 }), 2);
  assert.equal(loraScale({ rank: 16, alpha: 32, rsLora: true }), 8);
});

test('adapts every attention and MLP linear by default, with PEFT names and shapes', () => {
  const { adapter } = adaptedModel(config, { rank: 3, alpha: 6 });
  const layers = adapter!.layers;
  assert.equal(layers.length, 2 * 7);
  const q0 = layers.find((l) => l.site.name === 'model.layers.0.self_attn.q_proj')!;
  assert.equal(q0.a.name, 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
  assert.equal(q0.b.name, 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight');
  assert.deepEqual(q0.a.shape, [3, 16]);
  assert.deepEqual(q0.b.shape, [16, 3]);
  const down1 = layers.find((l) => l.site.name === 'model.layers.1.mlp.down_proj')!;
  assert.deepEqual([down1.a.shape, down1.b.shape], [[3, 24], [16, 3]]);
  const k = layers.find((l) => l.site.name.endsWith('k_proj'))!;
  assert.deepEqual(k.b.shape, [8, 3], 'k_proj outputs numKvHeads·headDim');
});

test('target modules select linears by PEFT suffix; one that matches nothing is an error', () => {
  const { adapter } = adaptedModel(config, { rank: 2, alpha: 2, targetModules: ['q_proj', 'mlp.down_proj'] });
  assert.deepEqual(
    adapter!.layers.map((l) => l.site.name),
    ['model.layers.0.self_attn.q_proj', 'model.layers.0.mlp.down_proj', 'model.layers.1.self_attn.q_proj', 'model.layers.1.mlp.down_proj'],
  );
  assert.throws(() => adaptedModel(config, { rank: 2, alpha: 2, targetModules: ['c_attn'] }), /lora: target module c_attn matches no linear of this model \(linears: q_proj, k_proj/);
  assert.throws(() => new LoraAdapter(new Graph(), { rank: 0, alpha: 2 }, 'float32'), /lora: rank must be a positive integer, got 0/);
});

test('A starts Kaiming-uniform within ±1/√in and B at zero, deterministic by seed', () => {
  const { adapter } = adaptedModel(config, { rank: 4, alpha: 8 });
  const w = initialLoraWeights(adapter!.layers, 7);
  const again = initialLoraWeights(adapter!.layers, 7);
  const other = initialLoraWeights(adapter!.layers, 8);
  for (const { site, a, b } of adapter!.layers) {
    const A = w.get(a.name)!;
    const bound = 1 / Math.sqrt(site.inFeatures);
    assert.equal(A.length, 4 * site.inFeatures);
    assert.ok(A.every((x) => Math.abs(x) <= bound));
    assert.ok(Math.max(...A.map(Math.abs)) > 0.7 * bound, 'fills the range');
    assert.ok(w.get(b.name)!.every((x) => x === 0));
    assert.deepEqual(again.get(a.name), A);
    assert.notDeepEqual(other.get(a.name), A);
  }
});

test('LoRA adds only A/B inputs: the base weights stay the family’s frozen initializers, same names, none added', () => {
  const base = adaptedModel(config, null).g;
  const adapted = adaptedModel(config, { rank: 2, alpha: 4 }).g;
  const weights = (g: Graph) => new Map([...g.initializers].filter(([, i]) => i.weight).map(([v, i]) => [v.name, i.tensor.data]));
  const [wb, wa] = [weights(base), weights(adapted)];
  assert.deepEqual([...wa.keys()].sort(), [...wb.keys()].sort());
  assert.equal(base.inputs.length, 0);
  assert.equal(adapted.inputs.length, 2 * 7 * 2);
  assert.ok(adapted.inputs.every((v) => /\.lora_[AB]\.weight$/.test(v.name)));
});

test('a fresh adapter leaves logits unchanged; a trained one adds scale·B·A·x', async () => {
  const base = await logits(adaptedModel(config, null).g, new Map());
  const { g, adapter } = adaptedModel(config, { rank: 2, alpha: 4 });
  const fresh = initialLoraWeights(adapter!.layers, 1, 'float64');
  assert.deepEqual(await logits(g, fresh), base);
  const trained = new Map([...fresh].map(([n, d]) => [n, n.includes('lora_B') ? Float64Array.from(uniform(d.length, 3, -0.5, 0.5)) : d]));
  const changed = await logits(adaptedModel(config, { rank: 2, alpha: 4 }).g, trained);
  assert.ok(changed.some((v, i) => Math.abs(v - base[i]!) > 1e-3));
});

test('one adapted linear computes y + (alpha/r)·(x·Aᵀ)·Bᵀ', async () => {
  const g = new Graph();
  const x = g.input('x', 'float64', [2, 3]);
  const w = g.constant({ dtype: 'float64', shape: [3, 2], data: Float64Array.from([1, 2, 3, 4, 5, 6]) });
  const adapter = new LoraAdapter(g, { rank: 1, alpha: 3 }, 'float64');
  g.output(adapter.hook({ name: 'proj', layer: 0, inFeatures: 3, outFeatures: 2 }, x, op.matmul(x, w)), 'logits');
  const X = [1, 0, -1, 2, 1, 0];
  const A = [0.5, -1, 2];
  const B = [1, -2];
  const got = await logits(g, new Map([['x', Float64Array.from(X)], ['base_model.model.proj.lora_A.weight', Float64Array.from(A)], ['base_model.model.proj.lora_B.weight', Float64Array.from(B)]]));
  const want = [0, 1].flatMap((r) => {
    const row = X.slice(r * 3, r * 3 + 3);
    const xa = row.reduce((s, v, i) => s + v * A[i]!, 0);
    return [0, 1].map((o) => row.reduce((s, v, i) => s + v * [1, 2, 3, 4, 5, 6][i * 2 + o]!, 0) + 3 * xa * B[o]!);
  });
  assert.deepEqual(Array.from(got), want);
});
