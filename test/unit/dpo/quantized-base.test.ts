import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import { type QuantBits, dequantizeBlocks, quantizeBlocks } from '../../../src/engine/graph/quantize.ts';
import type { ModelConfig, WeightSource } from '../../../src/engine/hf/types.ts';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import type { WeightStorage } from '../../../src/engine/models/weights.ts';
import { initialLoraWeights } from '../../../src/dpo/lora.ts';
import { accumulatorName, dpoGraph } from '../../../src/dpo/trainingGraph.ts';
import { trainDpo } from '../../../src/dpo/trainer.ts';
import { defaultTraining } from '../../../src/rounds/options.ts';
import { ADAMW_DEFAULTS, nextName } from '../../../src/train/adamw.ts';
import { uniform } from '../autodiff/gradcheck.ts';
import { batchFeeds, syntheticBatch } from './dpoGraph.ts';
import { readSafetensors } from '../../../src/engine/hf/safetensors.ts';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { readAdapterConfig } from '../../../src/dpo/adapterFiles.ts';
import { ModelProto } from '../../../src/engine/graph/onnxProto.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { checkLoraFits } from '../../../src/rounds/roundChecks.ts';
import { writeGguf } from '../../reference/gguf.ts';
import { prefer, tempDir } from '../cli/helpers.ts';

// rows of 40 values: one whole block of 32 and one padded block per row
const config: ModelConfig = llamaConfig({ vocabSize: 48, hiddenSize: 40, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 10, intermediateSize: 48, tieWordEmbeddings: false });
const isBaseLinear = (name: string) => /\.layers\.\d+\..*_proj\.weight$/.test(name);

const isTable = (name: string) => name === 'model.embed_tokens.weight' || name === 'lm_head.weight';

/**
 * The same checkpoint with every base linear replaced by its block-quantized (or half-precision) values, as
 * float32; int8 and int4 also hold the token embedding and the LM head in 8-bit blocks, fp16 keeps them fp32.
 */
function dequantizedSource(source: WeightSource, bits: QuantBits | 16): WeightSource {
  const stored = (data: Float32Array, rows: number, cols: number, b: QuantBits | 16) =>
    b === 16 ? Float32Array.from(Float16Array.from(data)) : dequantizeBlocks(quantizeBlocks(data, rows, cols, b, 32));
  return {
    names: () => source.names(),
    has: (name) => source.has(name),
    get: (name) => {
      const w = source.get(name);
      const [rows, cols] = w.shape as [number, number];
      if (isBaseLinear(name)) return { ...w, data: stored(w.data, rows, cols, bits) };
      if (isTable(name) && bits !== 16) return { ...w, data: stored(w.data, rows, cols, 8) };
      return w;
    },
  };
}

/**
 * Gradients of the DPO loss wrt every LoRA weight (the accumulate graph from zero sums), with layer recompute on,
 * and the loss and TRL's logits metrics the graph gives with them.
 */
async function loraGradients(source: WeightSource, baseWeights: WeightStorage, model = config, recompute: 'products' | 'layers' = 'products'): Promise<Map<string, Float32Array>> {
  const built = dpoGraph(model, source, { rows: 4, length: 8, headChunks: 2, baseWeights, keepProducts: recompute === 'products' }, { rank: 4, alpha: 8 }, { type: 'sigmoid', beta: 0.5 }, null, 'accumulate');
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, v] of Object.entries(batchFeeds(syntheticBatch(model.vocabSize, 2, 8, 3, 5)))) {
    feeds[name] = v.dtype === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(v.data as bigint[]), v.shape) : new ort.Tensor('float32', Float32Array.from(v.data as number[]), v.shape);
  }
  // B ≠ 0, unlike a fresh adapter, so that A's gradient is not identically zero
  for (const [name, data] of initialLoraWeights(built.adapter.layers, 3)) {
    const shape = built.graph.inputs.find((i) => i.name === name)!.shape as number[];
    feeds[name] = new ort.Tensor('float32', name.includes('lora_B') ? Float32Array.from(uniform(data.length, data.length, -0.3, 0.3)) : (data as Float32Array), shape);
    feeds[accumulatorName(name)] = new ort.Tensor('float32', new Float32Array(data.length), shape);
  }
  const session = await ort.InferenceSession.create(serialize(lower(built.graph, 'cpu'), 'embedded').model, { intraOpNumThreads: 1 });
  const out = await session.run(feeds);
  await session.release();
  const metrics = ['loss', 'logits/chosen', 'logits/rejected', 'logps/chosen'].map((name) => [name, out[name]!.data as Float32Array] as const);
  return new Map([...built.adapter.parameters().map((p) => [p.name, out[nextName(accumulatorName(p.name))]!.data as Float32Array] as const), ...metrics]);
}

/** The largest difference of two gradient sets, relative to each tensor's largest magnitude. */
function maxRelativeDifference(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let worst = 0;
  for (const [name, x] of a) {
    const y = b.get(name)!;
    const scale = Math.max(...y.map(Math.abs), 1e-30);
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / scale);
  }
  return worst;
}

for (const [storage, bits] of [['fp16', 16], ['int8', 8], ['int4', 4]] as const) {
  test(`${storage} base: LoRA gradients equal the fp32 graph's on the base weights as stored`, async () => {
    const source = randomWeights(config, 9, 0.3);
    const quantized = await loraGradients(source, storage);
    const onDequantized = await loraGradients(dequantizedSource(randomWeights(config, 9, 0.3), bits), 'fp32');
    assert.equal(quantized.size, config.numLayers * 7 * 2 + 4, 'every LoRA gradient and four metrics');
    const difference = maxRelativeDifference(quantized, onDequantized);
    assert.ok(difference <= 1e-5, `max relative difference ${difference.toExponential(2)}`);
    // the comparison sees the storage: the unquantized base gives other gradients
    assert.ok(maxRelativeDifference(quantized, await loraGradients(randomWeights(config, 9, 0.3), 'fp32')) > 1e-3);
  });
}

const tied: ModelConfig = { ...config, tieWordEmbeddings: true };

for (const [storage, bits] of [['int8', 8], ['int4', 4]] as const) {
  test(`${storage} base with a tied head: the embedding and the head read one 8-bit table in blocks, equal to fp32 on its values`, async () => {
    const built = dpoGraph(tied, randomWeights(tied, 9, 0.3), { rows: 4, length: 8, headChunks: 3, baseWeights: storage }, { rank: 4, alpha: 8 }, { type: 'sigmoid', beta: 0.5 }, ADAMW_DEFAULTS);
    // no float [vocab, hidden] table: the head's log-probs go through the vocabulary blocks
    const tables = [...built.graph.inputs, ...built.graph.initializers.keys()].filter((v) => v.dtype === 'float32' && v.shape[0] === tied.vocabSize && v.shape[1] === tied.hiddenSize);
    assert.deepEqual(tables.map((v) => v.name), []);
    assert.equal(built.graph.nodes.filter((n) => n.opType === 'FrozenHeadTokenLogProbs').length, 1);
    for (const recompute of ['products', 'layers'] as const) {
      const quantized = await loraGradients(randomWeights(tied, 9, 0.3), storage, tied, recompute);
      const onDequantized = await loraGradients(dequantizedSource(randomWeights(tied, 9, 0.3), bits), 'fp32', tied, recompute);
      const difference = maxRelativeDifference(quantized, onDequantized);
      assert.ok(difference <= 1e-5, `${recompute}: max relative difference ${difference.toExponential(2)}`);
    }
  });
}

test('int4 on WebGPU is refused with a clear message', async () => {
  const example = { prompt: [1, 2], chosen: [3], rejected: [4] };
  await assert.rejects(trainDpo(config, randomWeights(config, 1), [example], { ...defaultTraining({ device: 'webgpu', baseWeights: 'int4' }), padId: 0 }), /--weights int4 trains on the CPU only/);
});

test('a family read through inference products (GPT-2) refuses a quantized base with a clear message', () => {
  const gpt2 = llamaConfig({ vocabSize: 48, hiddenSize: 32, numLayers: 1, numHeads: 4, numKvHeads: 4, headDim: 8, intermediateSize: 64, family: 'gpt2', modelType: 'gpt2', architecture: 'GPT2LMHeadModel' });
  assert.throws(() => dpoGraph(gpt2, randomWeights(gpt2, 1), { rows: 2, length: 4, baseWeights: 'int8' }, { rank: 2, alpha: 4 }, { type: 'sigmoid', beta: 0.1 }, null), /int8 base is not supported for GPT2LMHeadModel/);
});


for (const storage of ['int8', 'fp16'] as const) {
  test(`with recompute, the backward expands each ${storage} layer again: no forward expanded weight outlives the forward`, () => {
  const built = dpoGraph(config, randomWeights(config, 1), { rows: 2, length: 4, baseWeights: storage }, { rank: 2, alpha: 4 }, { type: 'sigmoid', beta: 0.1 }, ADAMW_DEFAULTS);
  const nodes = built.graph.nodes;
  const isExpansion = (n: (typeof nodes)[number]) => (storage === 'int8' ? n.opType === 'DequantizeBlocks' : n.opType === 'Cast' && n.inputs[0]?.dtype === 'float16');
  const dequantized = nodes.filter(isExpansion);
  const forward = new Set(dequantized.slice(0, config.numLayers * 7).flatMap((n) => n.outputs));
  // 7 linears per layer dequantized in the forward, and again in the backward
  assert.ok(dequantized.length > config.numLayers * 7, `${dequantized.length} DequantizeBlocks nodes`);
  const lastForwardRead = Math.max(...nodes.map((n, i) => (n.inputs.some((v) => v && forward.has(v)) ? i : -1)));
  const firstBackward = nodes.findIndex((n) => isExpansion(n) && !forward.has(n.outputs[0]!));
  assert.ok(lastForwardRead < firstBackward, `a forward expanded weight is read at node ${lastForwardRead}, after the backward began at ${firstBackward}`);
  });
}

test('prefer train --weights int8 trains over an int8 base and saves a PEFT adapter that records it', async () => {
  const dir = tempDir('quantized-base');
  const model = await makeCheckpoint('llama', join(dir, 'llama'));
  const pairs = join(dir, 'pairs.jsonl');
  writeFileSync(pairs, Array.from({ length: 4 }, (_, i) => JSON.stringify({ prompt: `function f${i}(x) {\n  return`, chosen: ' x + 1;\n}', rejected: ' x+1\n}' })).join('\n') + '\n');
  const out = join(dir, 'adapter');
  const r = prefer('train', '--pairs', pairs, '--model', model, '--out', out, '--weights', 'int8', '--lora-r', '2', '--batch', '2', '--max-length', '64', '--eval-split', '0', '--lr', '1e-3', '--json');
  assert.equal(r.code, 0, r.stderr);
  const steps = r.stdout.trimEnd().split('\n').slice(0, -1).map((l) => JSON.parse(l) as Record<string, number>);
  assert.equal(steps.length, 2);
  for (const s of steps) assert.ok(Number.isFinite(s.loss) && Number.isFinite(s.grad_norm), JSON.stringify(s));
  assert.equal(JSON.parse(readFileSync(join(out, 'prefer_adapter.json'), 'utf8')).baseWeights, 'int8');
  assert.equal(readAdapterConfig(out).peft_type, 'LORA');
  const { tensors } = await readSafetensors(join(out, 'adapter_model.safetensors'));
  const loraA = tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
  assert.equal(loraA?.dtype, 'F32', 'LoRA weights stay fp32');
  const bad = prefer('train', '--pairs', pairs, '--model', model, '--out', join(dir, 'never'), '--weights', 'int3', '--json');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--weights/);
});

test('prefer train --weights fp16 feeds half-precision base weights and records the storage', async () => {
  const dir = tempDir('half-base');
  const model = await makeCheckpoint('llama', join(dir, 'llama'));
  const pairs = join(dir, 'pairs.jsonl');
  writeFileSync(pairs, Array.from({ length: 2 }, (_, i) => JSON.stringify({ prompt: `function f${i}(x) {\n  return`, chosen: ' x + 1;\n}', rejected: ' x+1\n}' })).join('\n') + '\n');
  const out = join(dir, 'adapter');
  const r = prefer('train', '--pairs', pairs, '--model', model, '--out', out, '--weights', 'fp16', '--lora-r', '2', '--batch', '2', '--max-length', '64', '--eval-split', '0', '--json');
  assert.equal(r.code, 0, r.stderr);
  const steps = r.stdout.trimEnd().split('\n').slice(0, -1).map((l) => JSON.parse(l) as Record<string, number>);
  assert.equal(steps.length, 1);
  // a fresh adapter (B = 0) leaves the policy equal to the reference: the first loss is log 2
  assert.ok(Math.abs(steps[0]!.loss! - Math.log(2)) < 1e-3, JSON.stringify(steps[0]));
  assert.equal(JSON.parse(readFileSync(join(out, 'prefer_adapter.json'), 'utf8')).baseWeights, 'fp16');
});

test('ONNX Runtime keeps the backward\'s recomputed int4 unpacking apart from the forward\'s, and splits no codes up front', async () => {
  const dir = tempDir('optimized-step');
  for (const recompute of ['products', 'layers'] as const) {
    const built = dpoGraph(tied, randomWeights(tied, 9, 0.3), { rows: 2, length: 8, headChunks: 3, baseWeights: 'int4', keepProducts: recompute === 'products' }, { rank: 2, alpha: 4 }, { type: 'sigmoid', beta: 0.1 }, ADAMW_DEFAULTS);
    const lowered = lower(built.graph, 'cpu');
    const count = (opTypes: readonly string[]) => ['BitwiseAnd', 'DequantizeLinear'].map((t) => opTypes.filter((o) => o === t).length);
    const file = join(dir, `${recompute}.onnx`);
    const session = await ort.InferenceSession.create(serialize(lowered, 'inputs').model, { graphOptimizationLevel: 'extended', optimizedModelFilePath: file });
    await session.release();
    const optimized = ModelProto.decode(readFileSync(file)) as unknown as { graph: { node: { op_type: string; input: string[] }[] } };
    // no table or layer's codes are split up front into copies of their parts
    const fed = new Set(lowered.inputs.filter((v) => v.dtype === 'uint8').map((v) => v.name));
    assert.deepEqual(optimized.graph.node.filter((n) => n.op_type === 'Split' && fed.has(n.input[0]!)).map((n) => n.input[0]), []);
    const [unpackings, dequantizations] = count(lowered.nodes.map((n) => n.opType));
    // every linear unpacked in the forward and again in the backward; the head's 3 blocks dequantized once (its
    // input gradient reads E_p[W] from the forward)
    assert.ok(unpackings! > tied.numLayers * 7, `${unpackings} unpackings`);
    assert.equal(dequantizations, unpackings! + 3);
    assert.deepEqual(count(optimized.graph.node.map((n) => n.op_type)), [unpackings, dequantizations], `${recompute}: the optimized graph merged some of them`);
  }
});

test('the LoRA check of an int8 round over a Q8_0 file reads no weight matrix as floats', async () => {
  const dir = tempDir('lora-check-gguf');
  const file = join(dir, 'model-q8_0.gguf');
  await writeGguf(await loadCheckpoint(await makeCheckpoint('qwen2', join(dir, 'source'))), file, { type: 'Q8_0' });
  const checkpoint = await loadCheckpoint(file);
  const readAsFloats = (storage: WeightStorage) => {
    const read: string[] = [];
    const source = checkpoint.weights;
    const counting: WeightSource = {
      names: () => source.names(),
      has: (name) => source.has(name),
      get: (name) => {
        const w = source.get(name);
        if (w.shape.length === 2) read.push(name);
        return w;
      },
      blocks: (name) => source.blocks?.(name),
      blockType: (name) => source.blockType?.(name),
    };
    checkLoraFits(checkpoint.config, counting, { rank: 2, alpha: 4 }, storage);
    return read;
  };
  assert.deepEqual(readAsFloats('int8'), []);
  // the count sees reads: fp32 reads every matrix
  assert.ok(readAsFloats('fp32').length > checkpoint.config.numLayers * 7);
});
