/**
 * The llama-family inference graph against llama.cpp on the same random weights (GGUF written from the
 * fixture checkpoint): a prompt of 40 tokens, then 10 decode steps through each side's KV cache, fp32.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { compileInference } from '../../../src/engine/runtime/compile.ts';
import { KvDecoder } from '../../../src/engine/runtime/session.ts';
import { ReferenceModel, referenceUnavailable } from '../../reference/llamacpp.ts';
import { maxAbsDiff } from './support.ts';

const dir = mkdtempSync(join(tmpdir(), 'prefer-llamacpp-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const unavailable = referenceUnavailable();

for (const kind of ['llama', 'qwen2', 'qwen3'] as const) {
  test(`${kind}: logits match llama.cpp over a 40-token prompt and 10 KV-cache decode steps (fp32, 1e-3)`, { skip: unavailable ?? false }, async () => {
    const checkpoint = await loadCheckpoint(await makeCheckpoint(kind, join(dir, kind)));
    const text = 'function fib(n) {\n  if (n < 2) return n;\n  return fib(n - 1) + fib(n - 2);\n}\n// π ≈ 3.14159 — naïve café';
    const promptIds = checkpoint.tokenizer.encode(text).slice(0, 40);
    assert.equal(promptIds.length, 40);
    const decodeIds = [5, 300, 17, 42, 99, 250, 7, 600, 3, 128];

    const reference = await ReferenceModel.open(checkpoint, { threads: 1, contextSize: 128 });
    const expected = await reference.logits(promptIds, decodeIds);
    await reference.dispose();

    const compiled = compileInference(checkpoint, join(dir, 'cache'), { dtype: 'float32', target: 'cpu' });
    const session = await ort.InferenceSession.create(compiled.path, { intraOpNumThreads: 1 });
    const decoder = new KvDecoder(session, checkpoint.config);
    const rows = [await decoder.step({ tokens: [promptIds], positions: [promptIds.map((_, i) => i)] })];
    for (const [i, id] of decodeIds.entries()) rows.push(await decoder.step({ tokens: [[id]], positions: [[promptIds.length + i]] }));
    await session.release();

    const worst = Math.max(...rows.map((row, i) => maxAbsDiff(row, expected[i]!)));
    assert.ok(worst <= 1e-3, `max |Δlogit| ${worst}`);
    // the comparison can fail: logits one step apart differ by far more than the tolerance
    assert.ok(maxAbsDiff(rows[1]!, expected[2]!) > 1e-2);
    console.log(`${kind}: max |Δlogit| vs llama.cpp ${worst.toExponential(2)} over ${rows.length} rows`);
  });
}
