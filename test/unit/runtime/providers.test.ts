import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { lower } from '../../../src/engine/graph/lower.ts';
import { writeModel } from '../../../src/engine/graph/onnx.ts';
import { inferenceGraph } from '../../../src/engine/models/inference.ts';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';
import { availableBackends, chooseProvider } from '../../../src/engine/runtime/providers.ts';
import { openSession } from '../../../src/engine/runtime/session.ts';

test('cpu is always chosen as asked', () => {
  assert.deepEqual(chooseProvider('cpu'), { device: 'cpu', fallback: null });
});

test('a provider this build lacks falls back to cpu with a message naming it and how to get it', () => {
  const missing = (['cuda', 'webgpu'] as const).filter((d) => !availableBackends().includes(d));
  assert.ok(missing.length > 0 || availableBackends().includes('cuda'), 'cuda is not bundled by default');
  for (const device of missing) {
    const choice = chooseProvider(device);
    assert.equal(choice.device, 'cpu');
    assert.match(choice.fallback ?? '', new RegExp(`^${device} is not available in this onnxruntime-node build.*; using cpu$`));
  }
  if (missing.includes('cuda')) assert.match(chooseProvider('cuda').fallback!, /onnxruntime-node-install=cuda12/);
});

test('opening a session on an unavailable provider still gives a working cpu session and says why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prefer-providers-'));
  try {
    const config = llamaConfig({ numLayers: 1 });
    const path = join(dir, 'model.onnx');
    writeModel(lower(inferenceGraph(config, randomWeights(config, 1))), path, 'external');
    const opened = await openSession(path, { device: availableBackends().includes('cuda') ? 'cpu' : 'cuda', threads: 1 });
    assert.equal(opened.device, 'cpu');
    if (!availableBackends().includes('cuda')) assert.match(opened.fallback ?? '', /cuda/);
    assert.ok(opened.session.inputNames.includes('input_ids'));
    await opened.session.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
