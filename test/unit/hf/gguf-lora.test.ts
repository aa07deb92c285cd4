/**
 * An adapter exported as llama.cpp's LoRA GGUF, loaded by llama.cpp (node-llama-cpp, F32) on top of the base GGUF,
 * gives the logits Prefer's sampler gives with the same PEFT adapter merged into the same base: a 24-token prompt
 * and 6 KV-cache decode steps, fp32, within 1e-3, for llama (B's q/k rows permuted), qwen2 and qwen3 (rsLoRA).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { exportAdapter } from '../../../src/dpo/adapterTransfer.ts';
import { withAdapter } from '../../../src/engine/hf/adapter.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import type { Checkpoint } from '../../../src/engine/hf/types.ts';
import { compileInference } from '../../../src/engine/runtime/compile.ts';
import { KvDecoder } from '../../../src/engine/runtime/session.ts';
import { ReferenceModel, readGgufInfo, referenceUnavailable } from '../../reference/llamacpp.ts';
import { maxAbsDiff } from '../models/support.ts';
import { writeRandomPeftAdapter } from './gguf-lora-adapter.ts';

const root = mkdtempSync(join(tmpdir(), 'prefer-gguf-lora-'));
after(() => rmSync(root, { recursive: true, force: true }));
const PROMPT = Array.from({ length: 24 }, (_, i) => (i * 53 + 11) % 761);
const DECODE = [5, 300, 17, 42, 99, 250];

test('the llama.cpp reference is installed (scripts/setup-reference.sh)', () => {
  assert.equal(referenceUnavailable(), null);
});

async function preferLogits(checkpoint: Checkpoint, cacheDir: string): Promise<ArrayLike<number>[]> {
  const compiled = compileInference(checkpoint, cacheDir, { dtype: 'float32', target: 'cpu' });
  const session = await ort.InferenceSession.create(compiled.path, { intraOpNumThreads: 1 });
  try {
    const decoder = new KvDecoder(session, checkpoint.config);
    const rows = [await decoder.step({ tokens: [PROMPT], positions: [PROMPT.map((_, i) => i)] })];
    for (const [i, id] of DECODE.entries()) rows.push(await decoder.step({ tokens: [[id]], positions: [[PROMPT.length + i]] }));
    return rows;
  } finally {
    await session.release();
  }
}

async function llamaCppLogits(base: Checkpoint, loraPath: string | undefined): Promise<Float32Array[]> {
  const reference = await ReferenceModel.open(base, { threads: 1, contextSize: 64, ...(loraPath ? { loraPath } : {}) });
  try {
    return await reference.logits(PROMPT, DECODE);
  } finally {
    await reference.dispose();
  }
}

const CASES = [
  { kind: 'llama', rank: 4, alpha: 8, rsLora: false },
  { kind: 'qwen2', rank: 8, alpha: 16, rsLora: false },
  { kind: 'qwen3', rank: 4, alpha: 6, rsLora: true },
] as const;

for (const { kind, rank, alpha, rsLora } of CASES) {
  test(`${kind}: llama.cpp with the exported GGUF LoRA gives Prefer's logits with the PEFT adapter (fp32, 1e-3)`, async () => {
    const modelDir = await makeCheckpoint(kind, join(root, kind));
    const base = await loadCheckpoint(modelDir);
    const adapterDir = writeRandomPeftAdapter(join(root, `${kind}-adapter`), base, { rank, alpha, rsLora });
    const loraPath = join(root, `${kind}-adapter.gguf`);
    await exportAdapter({ dir: adapterDir, format: 'gguf', out: loraPath, modelPath: modelDir });

    const info = await readGgufInfo(loraPath);
    assert.equal(info.metadata.general['type'], 'adapter');
    assert.equal(info.metadata.general['architecture'], kind);
    const adapterMeta = (info.metadata as Record<string, unknown>)['adapter'] as { type: string; lora: { alpha: number } };
    assert.equal(adapterMeta.type, 'lora');
    assert.ok(Math.abs(adapterMeta.lora.alpha - (rsLora ? alpha * Math.sqrt(rank) : alpha)) < 1e-5, `alpha ${adapterMeta.lora.alpha}`);
    const q = info.tensorInfo.find((t) => t.name === 'blk.0.attn_q.weight.lora_b');
    assert.deepEqual(q?.dimensions.map(Number), [rank, base.config.numHeads * base.config.headDim], 'lora_b ne = [r, out]');

    const expected = await preferLogits(await withAdapter(base, adapterDir), join(root, 'cache'));
    const actual = await llamaCppLogits(base, loraPath);
    const worst = Math.max(...actual.map((row, i) => maxAbsDiff(row, expected[i]!)));
    console.log(`${kind}: max |Δlogit| llama.cpp + GGUF LoRA vs Prefer + PEFT adapter ${worst.toExponential(2)} over ${actual.length} rows`);
    assert.ok(worst <= 1e-3, `max |Δlogit| ${worst}`);
    // the comparison can fail: the adapter moves the logits by far more than the tolerance
    const baseRows = await llamaCppLogits(base, undefined);
    assert.ok(maxAbsDiff(baseRows[0]!, expected[0]!) > 1e-2, 'the adapter changes the logits');
  });
}
