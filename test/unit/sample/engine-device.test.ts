import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { Engine } from '../../../src/engine/sample/engine.ts';
import { tempDir } from '../cli/helpers.ts';

const dir = tempDir('engine-device');

test('the graph is lowered for the device that runs it, also when the asked-for device falls back', async () => {
  const modelDir = await makeCheckpoint('llama', join(dir, 'llama'));
  // Without a usable GPU adapter (as on CI) WebGPU fails to start and the session falls back to the CPU;
  // with one, it runs on WebGPU. Either way the graph must be lowered for the device actually used.
  const engine = await Engine.open({ modelDir, cacheDir: join(dir, 'cache'), device: 'webgpu', threads: 1 });
  try {
    const { device, target, fallback } = engine.startup;
    assert.equal(target, device === 'webgpu' ? 'webgpu' : 'cpu', `ran on ${device} (${fallback ?? 'no fallback'})`);
    const result = await engine.complete({ prefix: 'function add(a, b) {', n: 1, maxTokens: 2, seed: 1 });
    assert.equal(result.candidates.length, 1);
  } finally {
    await engine.close();
  }
});
