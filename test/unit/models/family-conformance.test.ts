/**
 * Family conformance: every registered family, with every architecture it accepts, passes the same checks. Its
 * tiny config.json parses into the shared config; random weights under its expected names are exactly what its
 * forward reads and pass its size check; KV-cache decode gives the logits of a full prefill; whole-model
 * gradients match finite differences; its PEFT names and fan_in_fan_out flag let a saved adapter merge back into
 * its weights; its pretraining flag says what the pretraining graph does. A new family gets all of this by
 * being registered in src/engine/models/families.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { Graph } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import { withAdapter } from '../../../src/engine/hf/adapter.ts';
import { checkSizes } from '../../../src/engine/hf/sizes.ts';
import type { Checkpoint, ModelConfig, WeightSource } from '../../../src/engine/hf/types.ts';
import { FAMILIES, causalLM, expectedWeights, familyByArchitecture, familyOf, parseModelConfig } from '../../../src/engine/models/families.ts';
import { randomWeights } from '../../../src/engine/models/random.ts';
import { saveAdapter } from '../../../src/dpo/adapterFiles.ts';
import { LoraAdapter, type LoraConfig, initialLoraWeights, peftTensorName } from '../../../src/dpo/lora.ts';
import { dpoGraph } from '../../../src/dpo/trainingGraph.ts';
import { lossGraph } from '../../../src/pretrain/lossGraph.ts';
import { type CheckInput, checkGraphGradients, uniform } from '../autodiff/gradcheck.ts';
import { batchFeeds, syntheticBatch } from '../dpo/dpoGraph.ts';
import { maxAbsDiff, openDecoder, range } from './support.ts';

const dir = mkdtempSync(join(tmpdir(), 'prefer-conformance-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PATH = '/models/tiny/config.json';
const prompt = [5, 17, 3, 38, 21, 21, 9, 30, 2, 37, 31, 12];

/** A LoRA on every linear; each linear must add one A and one B. */
const LORA: LoraConfig = { rank: 2, alpha: 4 };

/** Each family's tiny config.json under each architecture it accepts. */
const cases = FAMILIES.flatMap((family) => family.architectures.map((architecture) => ({ family, architecture, json: { ...family.tinyConfig, architectures: [architecture] } })));

/** The linears a LoRA adapter finds in the forward, and its A/B matrices. */
function loraOn(config: ModelConfig, weights: WeightSource): LoraAdapter {
  const g = new Graph();
  const adapter = new LoraAdapter(g, LORA, 'float32');
  causalLM(g, config, weights).forward({
    inputIds: g.input('i', 'int64', [1, 2]),
    positions: g.input('p', 'int64', [1, 2]),
    attentionBias: g.input('b', 'float32', [1, 2, 2]),
    linearHook: adapter.hook,
  });
  return adapter;
}

/** Last-position logits of each sequence, optionally with LoRA matrices fed as graph inputs. */
async function lastLogits(config: ModelConfig, weights: WeightSource, sequences: number[][], lora?: Map<string, Float32Array>): Promise<Float32Array[]> {
  const [B, T] = [sequences.length, sequences[0]!.length];
  const g = new Graph();
  const lm = causalLM(g, config, weights);
  const adapter = lora ? new LoraAdapter(g, LORA, 'float32') : null;
  const ints = (d: number[]) => g.constant({ dtype: 'int64', shape: [B, T], data: BigInt64Array.from(d, BigInt) });
  const bias = g.constant({ dtype: 'float32', shape: [B, T, T], data: Float32Array.from({ length: B * T * T }, (_, i) => (i % T > Math.floor(i / T) % T ? -1e9 : 0)) });
  const { hidden } = lm.forward({ inputIds: ints(sequences.flat()), positions: ints(sequences.flatMap(() => range(0, T))), attentionBias: bias, linearHook: adapter?.hook });
  g.output(lm.lmHead(hidden), 'logits');
  const session = await ort.InferenceSession.create(serialize(lower(g)).model, { intraOpNumThreads: 1 });
  const feeds = Object.fromEntries([...(lora ?? [])].map(([n, d]) => [n, new ort.Tensor('float32', d, g.inputs.find((v) => v.name === n)!.shape as number[])]));
  const logits = (await session.run(feeds)).logits!.data as Float32Array;
  await session.release();
  const V = config.vocabSize;
  return sequences.map((_, b) => logits.slice((b * T + T - 1) * V, (b * T + T) * V));
}

for (const { family, architecture, json } of cases) {
  const config = () => parseModelConfig(json, PATH);

  test(`${architecture}: its config.json parses into the ${family.name} family, found by architecture and by name`, () => {
    const c = config();
    assert.equal(c.architecture, architecture);
    assert.equal(c.family, family.name);
    assert.equal(familyByArchitecture(architecture), family);
    assert.equal(familyOf(c), family);
    for (const size of [c.vocabSize, c.hiddenSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.intermediateSize, c.maxPositions]) assert.ok(Number.isInteger(size) && size > 0);
    assert.ok(family.ggufArch(c).length > 0);
  });

  test(`${architecture}: the forward reads exactly the expected weights, and they pass the size check`, () => {
    const c = config();
    const expected = expectedWeights(c);
    const weights = randomWeights(c, 3);
    assert.deepEqual(family.normalizeWeights(weights).names(), [...expected.keys()]);
    const g = new Graph();
    const lm = causalLM(g, c, weights);
    const { hidden } = lm.forward({ inputIds: g.input('i', 'int64', [1, 2]), positions: g.input('p', 'int64', [1, 2]), attentionBias: g.input('b', 'float32', [1, 2, 2]), linearsAsStored: true });
    g.output(lm.lmHead(hidden), 'logits');
    const read = [...g.initializers].filter(([, init]) => init.weight).map(([v]) => v.name);
    assert.deepEqual(read.sort(), [...expected.keys()].sort());
    const stored = { sourcePath: '/models/tiny/model.safetensors', names: () => [...expected.keys()], shapeOf: (n: string) => expected.get(n) };
    checkSizes(c, stored, PATH);
    assert.throws(() => checkSizes({ ...c, numLayers: c.numLayers + 1 }, stored, PATH), { message: new RegExp(`^${PATH}: \\S+ is ${c.numLayers + 1} but model\\.safetensors has ${c.numLayers} layers$`) });
    assert.throws(() => checkSizes({ ...c, vocabSize: c.vocabSize + 1 }, stored, PATH), { message: new RegExp(`^${PATH}: vocab_size is ${c.vocabSize + 1} but model\\.safetensors has \\S+ of shape \\[${c.vocabSize}, ${c.hiddenSize}\\]$`) });
  });

  test(`${architecture}: prefill then KV-cache decode give the logits of one full prefill (f32, 1e-4)`, async () => {
    const c = config();
    const weights = randomWeights(c, 11);
    const whole = await openDecoder(c, weights);
    const full = await whole.step({ tokens: [prompt], positions: [range(0, prompt.length)] });
    const cached = await openDecoder(c, weights);
    let logits = await cached.step({ tokens: [prompt.slice(0, 7)], positions: [range(0, 7)] });
    for (let t = 7; t < prompt.length; t++) logits = await cached.step({ tokens: [[prompt[t]!]], positions: [[t]] });
    assert.equal(full.length, c.vocabSize);
    assert.ok(full.every(Number.isFinite));
    assert.ok(maxAbsDiff(logits, full) < 1e-4, `max |Δlogit| ${maxAbsDiff(logits, full)}`);
    // the check can fail: another last token moves the logits far beyond the tolerance
    const other = await whole.step({ tokens: [[1]], positions: [[prompt.length]] });
    assert.ok(maxAbsDiff(await cached.step({ tokens: [[2]], positions: [[prompt.length]] }), other) > 1e-3);
  });

  test(`${architecture}: whole-model DPO gradients wrt a LoRA on every linear match finite differences (f64)`, async () => {
    const c = config();
    const built = dpoGraph(c, randomWeights(c, 5, 0.2), { rows: 4, length: 6, dtype: 'float64', headChunks: 3 }, LORA, { type: 'sigmoid', beta: 0.5 }, null);
    const inputs: Record<string, CheckInput> = batchFeeds(syntheticBatch(c.vocabSize, 2, 6, 3, 11));
    // B ≠ 0, unlike a fresh adapter, so that A's gradient is not identically zero
    for (const [name, data] of initialLoraWeights(built.adapter.layers, 3, 'float64')) {
      const v = built.graph.inputs.find((i) => i.name === name)!;
      inputs[name] = { shape: v.shape as number[], data: name.includes('lora_B') ? uniform(data.length, data.length, -0.3, 0.3) : data };
    }
    const wrt = built.adapter.parameters().map((v) => v.name);
    assert.equal(wrt.length, 2 * built.adapter.layers.length);
    const r = await checkGraphGradients(built.graph, built.loss, wrt, inputs, { samplesPerTensor: 2 });
    assert.ok(r.checked >= wrt.length * 2);
    assert.ok(r.maxRelError <= 1e-6, `max relative error ${r.maxRelError.toExponential(2)} at ${r.worst}`);
  });

  test(`${architecture}: its PEFT names and fan_in_fan_out flag make a saved adapter merge into the weights it adapts`, async () => {
    const c = config();
    const weights = randomWeights(c, 5, 0.2);
    const expected = expectedWeights(c);
    const adapter = loraOn(c, weights);
    assert.ok(adapter.layers.length > 0);
    for (const { site } of adapter.layers) {
      assert.match(peftTensorName(site, 'A'), new RegExp(`^base_model\\.model\\.${site.name.replaceAll('.', '\\.')}\\.lora_A\\.weight$`));
      const stored = family.peftFanInFanOut ? [site.inFeatures, site.outFeatures] : [site.outFeatures, site.inFeatures];
      assert.deepEqual(expected.get(`${site.name}.weight`), stored, `${site.name}.weight is stored as fan_in_fan_out says`);
    }
    const values = new Map([...initialLoraWeights(adapter.layers, 2)].map(([n, d]) => [n, n.includes('lora_B') ? Float32Array.from(uniform(d.length, d.length + 1, -0.4, 0.4)) : Float32Array.from(d)]));
    const out = join(dir, architecture);
    saveAdapter(out, LORA, adapter.layers, values, { baseModelHash: 'base', baseModelPath: 'mem', fanInFanOut: family.peftFanInFanOut });
    const base: Checkpoint = { dir: 'mem', config: c, weights, generation: {}, hash: 'base', tokenizer: null as never };
    const merged = await withAdapter(base, out);
    const sequences = [[3, 14, 15, 9, 2], [6, 5, 3, 5, 8]];
    const withLora = await lastLogits(c, weights, sequences, values);
    const withMerge = await lastLogits(c, merged.weights, sequences);
    const plain = await lastLogits(c, weights, sequences);
    const worst = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((row, i) => maxAbsDiff(row, b[i]!)));
    assert.ok(worst(withLora, plain) > 1e-2, 'the adapter changes the logits');
    assert.ok(worst(withLora, withMerge) < 1e-4, `merged vs LoRA logits differ by ${worst(withLora, withMerge)}`);
  });

  test(`${architecture}: the pretraining graph ${family.pretraining ? 'builds' : 'refuses it'}, as its descriptor says`, () => {
    // pretraining builds models with tied embeddings
    const c = { ...config(), tieWordEmbeddings: true };
    const build = () => lossGraph(c, randomWeights(c, 1), { batch: 1, seq: 4, withGradients: true });
    if (family.pretraining) assert.equal(build().weights.length, expectedWeights(c).size);
    else assert.throws(build, { message: `pretraining: only the llama family is supported, got ${c.family}` });
  });
}

test('each architecture maps to the llama.cpp architecture of the same maths', () => {
  const gguf = (architecture: string) => familyByArchitecture(architecture)!.ggufArch(parseModelConfig({ ...familyByArchitecture(architecture)!.tinyConfig, architectures: [architecture] }, PATH));
  assert.deepEqual(
    ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM', 'Qwen3ForCausalLM', 'GPT2LMHeadModel'].map(gguf),
    ['llama', 'llama', 'qwen2', 'qwen3', 'gpt2'],
  );
  assert.equal(familyByArchitecture('MambaForCausalLM'), undefined);
});
