import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { heldoutLoss, inferenceLoss } from '../../../scripts/eval-base.ts';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { evaluationBatches } from '../../../src/pretrain/batches.ts';

test('eval:base --weights: the loss through the fp32 inference graph equals the training graph\'s; int8 and int4 move it a little', async () => {
  const root = mkdtempSync(join(tmpdir(), 'prefer-inference-loss-'));
  const checkpoint = await loadCheckpoint(await makeCheckpoint('qwen2', join(root, 'qwen2')));
  const tokens = Uint16Array.from({ length: 8 * 257 + 1 }, (_, i) => (i * 7919 + 13) % checkpoint.config.vocabSize);
  const corpus = { tokens, documents: [[0, tokens.length]] as [number, number][] };
  const reference = await heldoutLoss(checkpoint.config, checkpoint.weights, corpus, join(root, 'graphs'), 1);
  const windows = evaluationBatches(corpus, 8, 256, 1);
  const fp32 = await inferenceLoss(checkpoint, 'fp32', windows, 256, join(root, 'compiled'));
  assert.ok(Math.abs(fp32 - reference.loss) < 1e-4, `${fp32} vs ${reference.loss}`);
  for (const [weights, bound] of [['int8', 0.01], ['int4', 0.05]] as const) {
    const loss = await inferenceLoss(checkpoint, weights, windows, 256, join(root, 'compiled'));
    assert.ok(loss !== fp32 && Math.abs(loss / fp32 - 1) < bound, `${weights}: ${loss} vs fp32 ${fp32}`);
  }
});
