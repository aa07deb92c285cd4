import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import type { Checkpoint, StoredBlocks, WeightSource } from '../../../src/engine/hf/types.ts';
import { float32ToHalfBits } from '../../../src/engine/hf/halfPrecision.ts';
import { type WeightStorage } from '../../../src/engine/models/weights.ts';
import { cacheKey, compileInference } from '../../../src/engine/runtime/compile.ts';
import { KvDecoder, openSession } from '../../../src/engine/runtime/session.ts';

const root = mkdtempSync(join(tmpdir(), 'prefer-storage-'));
const prompt = [5, 17, 3, 88, 41, 41, 9, 60, 2, 77, 31, 12, 64, 7];
const GREEDY_STEPS = 12;

/** Logits after the prompt, and the greedy continuation. */
async function run(checkpoint: Checkpoint, weights: WeightStorage, cache = join(root, 'compiled')): Promise<{ logits: Float32Array; greedy: number[] }> {
  const compiled = compileInference(checkpoint, cache, { dtype: 'float32', target: 'cpu', weights });
  const { session } = await openSession(compiled.path, { device: 'cpu', threads: 1 });
  const decoder = new KvDecoder(session, checkpoint.config);
  let logits = Float32Array.from(await decoder.step({ tokens: [prompt], positions: [prompt.map((_, i) => i)] }));
  const first = logits;
  const greedy: number[] = [];
  for (let t = 0; t < GREEDY_STEPS; t++) {
    const next = logits.indexOf(Math.max(...logits));
    greedy.push(next);
    logits = Float32Array.from(await decoder.step({ tokens: [[next]], positions: [[prompt.length + t]] }));
  }
  await session.release();
  return { logits: first, greedy };
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const spread = (a: Float32Array) => Math.max(...a) - Math.min(...a);

/**
 * max |Δlogit| vs fp32 as a share of the fp32 logits' spread (max − min, ~12 on these random fixtures), measured
 * over llama/qwen2/gpt2 at block 32: int8 ≤ 0.019, int4 ≤ 0.18, fp16 ≤ 0.0004; asserted with ~2.5× margin.
 * Random weights are harder on int4 than trained ones (no outliers to spare, every block at full range).
 */
const BOUNDS: Record<Exclude<WeightStorage, 'fp32'>, number> = { int8: 0.05, int4: 0.35, fp16: 0.002 };

/** int4's greedy choice may differ on random weights: fp32's token must stay among its best (measured rank ≤ 3). */
const INT4_TOP = 8;

for (const kind of ['llama', 'qwen2', 'gpt2'] as const) {
  test(`${kind}: int8, int4 and fp16 logits stay within their bounds of fp32, greedy tokens agree`, async () => {
    const checkpoint = await loadCheckpoint(await makeCheckpoint(kind, join(root, kind)));
    const fp32 = await run(checkpoint, 'fp32');
    const top = fp32.greedy[0]!;
    for (const [storage, bound] of Object.entries(BOUNDS) as [WeightStorage, number][]) {
      const other = await run(checkpoint, storage);
      const delta = maxAbsDiff(other.logits, fp32.logits) / spread(fp32.logits);
      assert.ok(delta > 0 && delta < bound, `${storage}: max |Δlogit| ${delta} of the spread (bound ${bound})`);
      if (storage === 'int4') {
        const rank = other.logits.filter((v) => v > other.logits[top]!).length;
        assert.ok(rank < INT4_TOP, `int4: fp32's greedy token ranks ${rank}`);
      } else {
        const agree = other.greedy.filter((t, i) => t === fp32.greedy[i]).length;
        assert.ok(agree >= GREEDY_STEPS - 1, `${storage}: ${agree}/${GREEDY_STEPS} greedy tokens agree`);
      }
    }
  });
}

test('the compile cache keys the storage: each storage gets its own compiled model', () => {
  const keys = new Set((['fp32', 'fp16', 'int8', 'int4'] as const).map((weights) => cacheKey('h', { dtype: 'float32', target: 'cpu', weights })));
  assert.equal(keys.size, 4);
  assert.equal(cacheKey('h', { dtype: 'float32', target: 'cpu' }), cacheKey('h', { dtype: 'float32', target: 'cpu', weights: 'fp32' }));
});

/** GGML blocks of a [rows, cols] weight: per block of 32 an f16 scale and the codes (Q8_0 int8, Q4_0 nibbles j / j+16). */
function ggmlBlocks(type: 'Q8_0' | 'Q4_0', data: Float32Array, rows: number, cols: number): StoredBlocks {
  const codeBytes = type === 'Q8_0' ? 32 : 16;
  const out: number[] = [];
  for (let b = 0; b < (rows * cols) / 32; b++) {
    const block = data.subarray(b * 32, b * 32 + 32);
    const extreme = block.reduce((m, v) => (Math.abs(v) > Math.abs(m) ? v : m), 0);
    const scale = type === 'Q8_0' ? Math.abs(extreme) / 127 : extreme / -8;
    const half = float32ToHalfBits(scale);
    const q = Array.from(block, (v) => (scale === 0 ? 0 : Math.round(v / scale)));
    const codes = type === 'Q8_0' ? q.map((c) => c & 255) : Array.from({ length: codeBytes }, (_, j) => Math.min(15, q[j]! + 8) | (Math.min(15, q[j + 16]! + 8) << 4));
    out.push(half & 255, half >> 8, ...codes);
  }
  return { type, shape: [rows, cols], bytes: Uint8Array.from(out) };
}

test('weights a file stores as GGUF Q8_0 / Q4_0 blocks are repacked as stored, not requantized', async () => {
  const checkpoint = await loadCheckpoint(await makeCheckpoint('qwen2', join(root, 'qwen2-blocks')));
  const fp32 = await run(checkpoint, 'fp32', join(root, 'blocks-fp32'));
  for (const [storage, type] of [['int8', 'Q8_0'], ['int4', 'Q4_0']] as const) {
    for (const factor of [1, 2]) {
      const requested: string[] = [];
      const source: WeightSource = {
        names: () => checkpoint.weights.names(),
        has: (name) => checkpoint.weights.has(name),
        get: (name) => checkpoint.weights.get(name),
        blocks: (name) => {
          const w = checkpoint.weights.get(name);
          if (w.shape.length !== 2 || !name.endsWith('proj.weight')) return undefined;
          requested.push(name);
          return ggmlBlocks(type, w.data.map((v) => factor * v), w.shape[0]!, w.shape[1]!);
        },
      };
      const repacked = await run({ ...checkpoint, weights: source, hash: `${checkpoint.hash}-${type}-${factor}` }, storage, join(root, 'blocks'));
      assert.ok(requested.length >= 7 * checkpoint.config.numLayers, `${requested.length} weights asked for blocks`);
      const delta = maxAbsDiff(repacked.logits, fp32.logits) / spread(fp32.logits);
      // the blocks of the weights land within the storage's bound; the blocks of doubled weights far beyond it: the graph reads the blocks
      if (factor === 1) assert.ok(delta < BOUNDS[storage], `${storage} from ${type}: max |Δlogit| ${delta}`);
      else assert.ok(delta > BOUNDS[storage], `${storage} from ${type}: max |Δlogit| ${delta} with doubled blocks`);
    }
  }
});
