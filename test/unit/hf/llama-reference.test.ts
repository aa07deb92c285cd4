import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { rotateHalfToInterleaved } from '../../reference/gguf.ts';
import { ReferenceModel, referenceLogits, referenceUnavailable } from '../../reference/llamacpp.ts';
import { naiveLlamaLogits } from './naive-llama.ts';
import { tempDir } from './temp-dir.ts';

const root = await tempDir('reference');
const PROMPT = Array.from({ length: 32 }, (_, i) => (i * 37 + 5) % 761);
const DECODE = [11, 250, 3, 97, 700, 42, 5, 761];

test('the llama.cpp reference is installed (scripts/setup-reference.sh)', () => {
  assert.equal(referenceUnavailable(), null);
});

for (const kind of ['llama', 'qwen2', 'qwen3'] as const) {
  test(`llama.cpp loads the ${kind} GGUF and its logits match a plain HF-semantics forward pass`, async () => {
    const dir = await makeCheckpoint(kind, join(root, kind));
    const rows = await referenceLogits(dir, PROMPT, DECODE);
    assert.equal(rows.length, 1 + DECODE.length);
    for (const row of rows) {
      assert.equal(row.length, 768);
      assert.ok(row.every(Number.isFinite), 'finite logits');
    }
    const spread = Math.max(...rows[0]!) - Math.min(...rows[0]!);
    assert.ok(spread > 5, `logits are not degenerate (spread ${spread})`);

    const naive = naiveLlamaLogits(await loadCheckpoint(dir), [...PROMPT, ...DECODE]);
    let maxDelta = 0;
    for (const [r, row] of rows.entries()) {
      const expected = naive[PROMPT.length - 1 + r]!;
      for (let i = 0; i < row.length; i++) maxDelta = Math.max(maxDelta, Math.abs((row[i] as number) - (expected[i] as number)));
    }
    assert.ok(maxDelta < 1e-4, `max |Δlogit| vs plain forward = ${maxDelta}`);
  });
}

test('reference logits are deterministic and per-position rows agree with the KV-cache decode', async () => {
  const dir = await makeCheckpoint('qwen3', join(root, 'determinism'));
  const model = await ReferenceModel.open(dir, { threads: 1 });
  try {
    const first = await model.logits(PROMPT, DECODE);
    const second = await model.logits(PROMPT, DECODE);
    assert.deepEqual(second, first, 'bit-identical on a second run');
    // Prefill of prompt+decode with a row per position must equal prompt then step-by-step decode.
    const allAtOnce = await model.logits([...PROMPT, ...DECODE], [], true);
    let maxDelta = 0;
    for (const [r, row] of first.entries()) {
      const other = allAtOnce[PROMPT.length - 1 + r]!;
      for (let i = 0; i < row.length; i++) maxDelta = Math.max(maxDelta, Math.abs((row[i] as number) - (other[i] as number)));
    }
    assert.ok(maxDelta < 1e-4, `prefill vs decode ${maxDelta}`);
  } finally {
    await model.dispose();
  }
});

test('timings run greedy decode on parallel sequences and count every sequence', async () => {
  const dir = await makeCheckpoint('qwen2', join(root, 'timing'));
  const model = await ReferenceModel.open(dir, { threads: 1, sequences: 2, contextSize: 128 });
  try {
    const timing = await model.time(PROMPT, 4);
    assert.equal(timing.sequences, 2);
    assert.ok(timing.promptMs > 0 && timing.decodeMs > 0);
    assert.ok(Math.abs(timing.tokensPerSecond - (2 * 4 * 1000) / timing.decodeMs) < 1e-9);
  } finally {
    await model.dispose();
  }
});

test('q/k rows are permuted per head from rotate-half to interleaved pairs for arch llama', () => {
  // Two heads of dim 4, one column: head rows [x0 x1 y0 y1] become [x0 y0 x1 y1].
  const q = Float32Array.of(0, 1, 2, 3, 10, 11, 12, 13);
  assert.deepEqual(rotateHalfToInterleaved(q, [8], 2), Float32Array.of(0, 2, 1, 3, 10, 12, 11, 13));
  // Rows move whole: a [4, 2] matrix, one head.
  const w = Float32Array.of(0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5);
  assert.deepEqual(rotateHalfToInterleaved(w, [4, 2], 1), Float32Array.of(0, 0.5, 2, 2.5, 1, 1.5, 3, 3.5));
});
