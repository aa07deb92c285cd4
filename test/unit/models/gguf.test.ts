/**
 * GGUF models through the llama family: the fixture checkpoints written as GGUF (test/reference/gguf.ts) and
 * loaded back through src/engine/hf/gguf*.ts give the safetensors checkpoint's logits (F32), and, quantized
 * to Q8_0 / Q4_0, logits close to llama.cpp's on the very same file (reference tier).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { dequantize } from '../../../src/engine/hf/ggufQuants.ts';
import { float32ToBfloat16Bits, float32ToHalfBits } from '../../../src/engine/hf/halfPrecision.ts';
import type { Checkpoint, Weight, WeightSource } from '../../../src/engine/hf/types.ts';
import { expectedWeights } from '../../../src/engine/models/families.ts';
import { writeGguf } from '../../reference/gguf.ts';
import { ReferenceModel, referenceGguf, referenceUnavailable } from '../../reference/llamacpp.ts';
import { maxAbsDiff, openDecoder, range } from './support.ts';

const dir = mkdtempSync(join(tmpdir(), 'prefer-gguf-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PROMPT = [12, 400, 7, 88, 250, 3, 61, 700, 19, 5, 333, 42];
const DECODE = [9, 500, 77];

/** Logits after the prompt, then after each decode id through the KV cache. */
async function logits(checkpoint: Checkpoint): Promise<ArrayLike<number>[]> {
  const decoder = await openDecoder(checkpoint.config, checkpoint.weights);
  const rows = [await decoder.step({ tokens: [PROMPT], positions: [range(0, PROMPT.length)] })];
  for (const [i, id] of DECODE.entries()) rows.push(await decoder.step({ tokens: [[id]], positions: [[PROMPT.length + i]] }));
  return rows;
}

const worst = (a: ArrayLike<number>[], b: ArrayLike<number>[]) => Math.max(...a.map((row, i) => maxAbsDiff(row, b[i]!)));

for (const kind of ['llama', 'qwen2', 'qwen3'] as const) {
  test(`${kind}: an F32 GGUF gives the safetensors checkpoint's config, weights and logits (1e-4)`, async () => {
    const source = await loadCheckpoint(await makeCheckpoint(kind, join(dir, kind)));
    const path = join(dir, `${kind}.gguf`);
    await writeGguf(source, path);
    const gguf = await loadCheckpoint(path);
    for (const field of ['vocabSize', 'hiddenSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'intermediateSize', 'tieWordEmbeddings', 'attentionBias', 'qkNorm', 'eosTokenIds'] as const) {
      assert.deepEqual(gguf.config[field], source.config[field], field);
    }
    assert.equal(gguf.config.ropeTheta, source.config.ropeTheta);
    assert.deepEqual(gguf.weights.names().sort(), source.weights.names().sort());
    for (const name of source.weights.names()) assert.deepEqual(gguf.weights.get(name).data, source.weights.get(name).data, name);
    assert.equal(gguf.tokenizer.fim?.style, 'qwen');

    const expected = await logits(source);
    const actual = await logits(gguf);
    assert.ok(worst(actual, expected) <= 1e-4, `max |Δlogit| ${worst(actual, expected)}`);
    // the comparison can fail: rows one step apart differ by far more
    assert.ok(maxAbsDiff(actual[1]!, expected[2]!) > 1e-2);
  });
}

test('the hash keys the file: same bytes, same hash; other weights, another hash', async () => {
  const source = await loadCheckpoint(await makeCheckpoint('qwen2', join(dir, 'hash')));
  await writeGguf(source, join(dir, 'a.gguf'));
  await writeGguf(source, join(dir, 'b.gguf'));
  await writeGguf(source, join(dir, 'c.gguf'), { type: 'Q8_0' });
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((name) => loadCheckpoint(join(dir, `${name}.gguf`))));
  assert.equal(a!.hash, b!.hash);
  assert.notEqual(a!.hash, c!.hash);
  assert.match(a!.hash, /^[0-9a-f]{64}$/);
});

test('blocks(): a Q8_0 matrix as its raw blocks in HF row order (llama q/k un-permuted), the same values get() gives', async () => {
  const source = await loadCheckpoint(await makeCheckpoint('llama', join(dir, 'blocks')));
  const path = join(dir, 'blocks-q8.gguf');
  await writeGguf(source, path, { type: 'Q8_0' });
  const gguf = await loadCheckpoint(path);
  for (const name of ['model.layers.0.self_attn.q_proj.weight', 'model.layers.1.self_attn.k_proj.weight', 'model.layers.0.mlp.down_proj.weight']) {
    const blocks = gguf.weights.blocks!(name)!;
    const weight = gguf.weights.get(name);
    assert.equal(blocks.type, 'Q8_0');
    assert.deepEqual(blocks.shape, weight.shape);
    assert.equal(blocks.bytes.byteLength, (weight.data.length / 32) * 34);
    assert.deepEqual(dequantize('Q8_0', blocks.bytes, weight.data.length), weight.data);
    // quantization error only: each value within half a step (max|x|/127/2 per block) of the original
    assert.ok(maxAbsDiff(weight.data, source.weights.get(name).data) < 0.02, name);
  }
  assert.equal(gguf.weights.blocks!('model.norm.weight'), undefined);
});

const unavailable = referenceUnavailable();

for (const type of ['Q8_0', 'Q4_0'] as const) {
  test(`qwen2 and llama: a ${type} GGUF gives logits close to llama.cpp's on the same file`, { skip: unavailable ?? false }, async () => {
    for (const kind of ['qwen2', 'llama'] as const) {
      const source = await loadCheckpoint(await makeCheckpoint(kind, join(dir, `ref-${kind}`)));
      const gguf = await loadCheckpoint(await referenceGguf(source, type));
      const reference = await ReferenceModel.open(source, { threads: 1, contextSize: 64, weightType: type });
      const expected = await reference.logits(PROMPT, DECODE);
      await reference.dispose();
      const actual = await logits(gguf);
      const fp32 = await logits(source);
      const againstLlamaCpp = worst(actual, expected);
      const quantization = worst(fp32, expected);
      console.log(`${kind} ${type}: max |Δlogit| vs llama.cpp ${againstLlamaCpp.toExponential(2)}; fp32 weights vs llama.cpp ${quantization.toExponential(2)}`);
      // llama.cpp also rounds the activations to 8 bits in its quantized products (~0.2 here, logits' std ≈ 2);
      // a wrong block layout moves logits by the logits' own spread
      assert.ok(againstLlamaCpp < 0.3, `${againstLlamaCpp}`);
      if (type === 'Q4_0') assert.ok(againstLlamaCpp < quantization / 4, `${againstLlamaCpp} vs ${quantization}`);
    }
  });
}

/** Uniform [0, 1) from a seed (mulberry32): the wide checkpoint and the random blocks are the same every run. */
function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The fixture llama reshaped to hidden 256 (one K-quant super-block per embedding row), one layer, random F32 weights. */
async function wideCheckpoint(): Promise<Checkpoint> {
  const base = await loadCheckpoint(await makeCheckpoint('llama', join(dir, 'wide-base')));
  const config = { ...base.config, hiddenSize: 256, numHeads: 4, numKvHeads: 2, headDim: 64, intermediateSize: 256, numLayers: 1 };
  const random = uniform(7);
  const tensors = new Map<string, Weight>();
  for (const [name, shape] of expectedWeights(config)) {
    const data = new Float32Array(shape.reduce((n, d) => n * d, 1));
    const spread = shape.length === 1 ? 0.2 : 2 * Math.sqrt(3 / shape[1]!);
    for (let i = 0; i < data.length; i++) data[i] = (shape.length === 1 ? 1 : 0) + (random() - 0.5) * spread;
    tensors.set(name, { name, shape, storedDtype: 'F32', data });
  }
  const weights: WeightSource = { names: () => [...tensors.keys()], has: (name) => tensors.has(name), get: (name) => tensors.get(name)! };
  return { ...base, config, weights, hash: 'wide' };
}

/** Random GGML blocks of `type` for `elements` values, their f16 scales set so values stay O(1). */
function randomBlocks(type: string, elements: number, random: () => number): { typeId: number; bytes: Uint8Array } {
  const layouts: Record<string, { typeId: number; block: number; bytes: number; halves: [number, number, number][] }> = {
    // [byte offset, smallest, largest] of each f16 field in a block
    Q8_0: { typeId: 8, block: 32, bytes: 34, halves: [[0, 0.005, 0.02]] },
    Q4_0: { typeId: 2, block: 32, bytes: 18, halves: [[0, -0.2, 0.2]] },
    Q4_1: { typeId: 3, block: 32, bytes: 20, halves: [[0, 0.05, 0.15], [2, -1, 0]] },
    Q4_K: { typeId: 12, block: 256, bytes: 144, halves: [[0, 0.001, 0.003], [2, 0.001, 0.03]] },
    Q5_K: { typeId: 13, block: 256, bytes: 176, halves: [[0, 0.0005, 0.0015], [2, 0.001, 0.03]] },
    Q6_K: { typeId: 14, block: 256, bytes: 210, halves: [[208, 0.0002, 0.0006]] },
    F16: { typeId: 1, block: 1, bytes: 2, halves: [[0, -1, 1]] },
  };
  if (type === 'BF16') {
    const view = new DataView(new ArrayBuffer(elements * 2));
    for (let i = 0; i < elements; i++) view.setUint16(2 * i, float32ToBfloat16Bits(random() * 2 - 1), true);
    return { typeId: 30, bytes: new Uint8Array(view.buffer) };
  }
  const layout = layouts[type]!;
  const bytes = new Uint8Array((elements / layout.block) * layout.bytes).map(() => Math.floor(random() * 256));
  const view = new DataView(bytes.buffer);
  for (let b = 0; b < elements / layout.block; b++) {
    for (const [at, low, high] of layout.halves) view.setUint16(b * layout.bytes + at, float32ToHalfBits(low + random() * (high - low)), true);
  }
  return { typeId: layout.typeId, bytes };
}

test('every tensor type dequantizes as llama.cpp does: random blocks as the embedding, logits within 1e-3', { skip: unavailable ?? false }, async () => {
  const wide = await wideCheckpoint();
  const random = uniform(11);
  for (const type of ['Q4_K', 'Q5_K', 'Q6_K', 'Q4_1', 'Q8_0', 'Q4_0', 'F16', 'BF16']) {
    const path = join(dir, `embedding-${type}.gguf`);
    // llama.cpp reads embedding rows exactly (get_rows), without the activation rounding of its quantized products
    await writeGguf(wide, path, { embedding: randomBlocks(type, wide.config.vocabSize * wide.config.hiddenSize, random) });
    const gguf = await loadCheckpoint(path);
    const reference = await ReferenceModel.open(wide, { threads: 1, contextSize: 64, modelPath: path });
    const expected = await reference.logits(PROMPT, DECODE);
    await reference.dispose();
    const actual = await logits(gguf);
    assert.ok(worst(actual, expected) <= 1e-3, `${type}: max |Δlogit| ${worst(actual, expected)}`);
    assert.ok(maxAbsDiff(actual[1]!, expected[2]!) > 1e-2);
  }
});
