/**
 * The token embedding of int8/int4 inference graphs looked up from blocks (GatherBlocks → com.microsoft
 * GatherBlockQuantized): the rows are the dequantized table's, the logits are those of a float table dequantized
 * from the same blocks, and no float copy of the table is made, in the graph or from the checkpoint.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { Graph, type Value } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import * as op from '../../../src/engine/graph/ops.ts';
import { type QuantBits, dequantizeBlocks, quantizeBlocks } from '../../../src/engine/graph/quantize.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import type { ModelConfig, WeightSource } from '../../../src/engine/hf/types.ts';
import { inferenceGraph } from '../../../src/engine/models/inference.ts';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import type { WeightStorage } from '../../../src/engine/models/weights.ts';
import { KvDecoder } from '../../../src/engine/runtime/session.ts';
import { writeGguf } from '../../reference/gguf.ts';

const dir = mkdtempSync(join(tmpdir(), 'prefer-embedding-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

for (const bits of [8, 4] as QuantBits[]) {
  test(`GatherBlocks int${bits} lowers to GatherBlockQuantized and gives the dequantized table's rows exactly ([batch, seq] ids, padded last block)`, async () => {
    const [N, K] = [7, 40];
    const q = quantizeBlocks(randn(N * K, 11), N, K, bits, 32);
    const g = new Graph('gather_blocks');
    const ids = g.input('ids', 'int64', [2, 3]);
    const packed = g.initializer('table.q', { dtype: 'uint8', shape: [N, 2, (32 * bits) / 8], data: q.packed }, { weight: true });
    const scales = g.initializer('table.scales', { dtype: 'float32', shape: [N, 2, 1], data: q.scales }, { weight: true });
    g.output(op.gatherBlocks(packed, scales, ids, bits, 32, K), 'rows');
    const lowered = lower(g, 'cpu');
    assert.equal(lowered.nodes.find((n) => n.opType === 'GatherBlockQuantized')?.domain, 'com.microsoft');
    const session = await ort.InferenceSession.create(serialize(lowered, 'embedded').model, { intraOpNumThreads: 1 });
    const picked = [6, 0, 3, 3, 1, 5];
    const out = await session.run({ ids: new ort.Tensor('int64', BigInt64Array.from(picked, BigInt), [2, 3]) });
    await session.release();
    assert.deepEqual(out.rows!.dims, [2, 3, K]);
    const table = dequantizeBlocks(q);
    const expected = Float32Array.from(picked.flatMap((row) => [...table.subarray(row * K, (row + 1) * K)]));
    assert.deepEqual(out.rows!.data, expected);
    assert.throws(() => op.gatherBlocks(packed, scales, ids, bits, 16, K), /blocks of 16/);
    assert.throws(() => op.gatherBlocks(packed, g.initializer('flat', { dtype: 'float32', shape: [N * 2], data: q.scales }), ids, bits, 32, K), /not \[7, 2, 1\]/);
  });
}

/**
 * The inference graph as it was before lookups from blocks: the embedding gathered from a float table, by default
 * the table the blocks stand for (so the two graphs differ only in how the rows are found).
 */
function withFloatEmbedding(source: Graph, floats?: Float32Array): Graph {
  const g = new Graph(source.name);
  const map = new Map<Value, Value>();
  const mapped = (v: Value) => map.get(v)!;
  for (const v of source.inputs) map.set(v, g.input(v.name, v.dtype, v.shape));
  for (const [v, init] of source.initializers) map.set(v, g.initializer(v.name, init.tensor, { weight: init.weight }));
  for (const node of source.nodes) {
    const inputs = node.inputs.map((v) => (v ? mapped(v) : null));
    let outs: Value[];
    if (node.opType === 'GatherBlocks') {
      const [packed, scales] = node.inputs.slice(0, 2).map((v) => source.initializers.get(v!)!.tensor);
      const int = (name: string) => (node.attributes[name]?.kind === 'int' ? node.attributes[name].value : NaN);
      const [rows, cols] = [packed!.shape[0]!, int('K')];
      const blocks = { bits: int('bits') as QuantBits, blockSize: int('block_size'), rows, cols, packed: packed!.data as Uint8Array, scales: scales!.data as Float32Array };
      const table = g.initializer('embedding.dequantized', { dtype: 'float32', shape: [rows, cols], data: floats ?? dequantizeBlocks(blocks) });
      outs = [op.gather(table, inputs[2]!)];
    } else {
      outs = g.addNode(node.opType, inputs, node.outputs.map((o) => ({ dtype: o.dtype, shape: o.shape })), node.attributes, node.domain);
    }
    node.outputs.forEach((o, i) => map.set(o, outs[i]!));
  }
  for (const v of source.outputs) g.output(mapped(v), v.name);
  return g;
}

async function logits(graph: Graph, config: ModelConfig): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(serialize(lower(graph, 'cpu', { fused: true }), 'embedded').model, { intraOpNumThreads: 1 });
  const decoder = new KvDecoder(session, config);
  const rows = [Float32Array.from(await decoder.step({ tokens: [[5, 17, 3, 88, 41, 9]], positions: [[0, 1, 2, 3, 4, 5]] }))];
  for (const [t, id] of [60, 2, 77].entries()) rows.push(Float32Array.from(await decoder.step({ tokens: [[id]], positions: [[6 + t]] })));
  await session.release();
  return rows;
}

const maxAbsDiff = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((row, r) => row.reduce((m, v, i) => Math.max(m, Math.abs(v - b[r]![i]!)), 0)));

for (const storage of ['int8', 'int4'] as const satisfies WeightStorage[]) {
  for (const tied of [true, false]) {
    test(`${storage}, ${tied ? 'tied' : 'untied'} head: logits equal those of a float embedding dequantized from the same blocks; no float table in the graph`, async () => {
      const config = llamaConfig({ tieWordEmbeddings: tied, hiddenSize: 48, headDim: 12, vocabSize: 120 });
      const graph = inferenceGraph(config, randomWeights(config, 7, 0.5), 'float32', storage);
      const floatTables = [...graph.initializers.keys()].filter((v) => v.dtype === 'float32' && v.shape.join() === `${config.vocabSize},${config.hiddenSize}`).map((v) => v.name);
      assert.deepEqual(floatTables, [], 'no float [vocab, hidden] table');
      // tied: the lookup and the head read the same codes (each through initializers of its own)
      const tables = [...graph.initializers].filter(([v]) => v.dtype === 'uint8' && v.shape[0] === config.vocabSize).map(([, init]) => init.tensor.data);
      assert.deepEqual([tables.length, new Set(tables).size], [2, tied ? 1 : 2]);
      const lookedUp = await logits(graph, config);
      const reference = await logits(withFloatEmbedding(graph), config);
      const delta = maxAbsDiff(lookedUp, reference);
      assert.ok(delta <= 1e-5, `max |Δlogit| ${delta}`);
      // the comparison can fail: the float embedding itself (not dequantized from blocks) moves the logits
      const fp32Embedding = await logits(withFloatEmbedding(graph, randomWeights(config, 7, 0.5).get('model.embed_tokens.weight').data), config);
      assert.ok(maxAbsDiff(fp32Embedding, reference) > 1e-3, 'the quantized rows matter');
    });
  }
}

for (const type of ['Q8_0', 'Q4_0'] as const) {
  test(`a ${type} GGUF's embedding is never converted to floats by an ${type === 'Q8_0' ? 'int8' : 'int4'} inference compile`, async () => {
    const source = await loadCheckpoint(await makeCheckpoint('qwen2', join(dir, 'qwen2')));
    const path = join(dir, `qwen2-${type}.gguf`);
    await writeGguf(source, path, { type });
    const gguf = await loadCheckpoint(path);
    assert.equal(gguf.weights.blocks!('model.embed_tokens.weight')?.type, type);
    const asked: string[] = [];
    const weights: WeightSource = {
      names: () => gguf.weights.names(),
      has: (name) => gguf.weights.has(name),
      blocks: (name) => gguf.weights.blocks!(name),
      blockType: (name) => gguf.weights.blockType!(name),
      get: (name) => (asked.push(name), gguf.weights.get(name)),
    };
    const graph = inferenceGraph(gguf.config, weights, 'float32', type === 'Q8_0' ? 'int8' : 'int4');
    assert.ok(graph.nodes.some((n) => n.opType === 'GatherBlocks'));
    assert.ok(!asked.includes('model.embed_tokens.weight'), `asked for floats of ${asked.join(', ')}`);
    // the same compile at fp32 does read the floats: the check above can fail
    asked.length = 0;
    inferenceGraph(gguf.config, weights, 'float32', 'fp32');
    assert.ok(asked.includes('model.embed_tokens.weight'));
  });
}

test("int4 storage keeps the LM head and the embedding at 8 bits when it quantizes them, and a GGUF's own 4-bit table as stored", async () => {
  const config = llamaConfig({ vocabSize: 64, hiddenSize: 64, numLayers: 1, numHeads: 4, numKvHeads: 2, intermediateSize: 96, tieWordEmbeddings: true });
  const bitsOf = (graph: Graph, opType: string) => [...new Set(graph.nodes.filter((n) => n.opType === opType).map((n) => (n.inputs.find((v) => v?.dtype === 'uint8')!.shape[2] === 32 ? 8 : 4)))].sort();
  const fromFloats = inferenceGraph(config, randomWeights(config, 3, 0.5), 'float32', 'int4');
  assert.deepEqual(bitsOf(fromFloats, 'MatMulBlocks'), [4, 8], 'the layers at 4 bits, the head at 8');
  assert.deepEqual(bitsOf(fromFloats, 'GatherBlocks'), [8]);
  const source = await loadCheckpoint(await makeCheckpoint('qwen2', join(dir, 'qwen2-tables')));
  const path = join(dir, 'qwen2-tables-Q4_0.gguf');
  await writeGguf(source, path, { type: 'Q4_0' });
  const gguf = await loadCheckpoint(path);
  assert.deepEqual(bitsOf(inferenceGraph(gguf.config, gguf.weights, 'float32', 'int4'), 'GatherBlocks'), [4]);
});
