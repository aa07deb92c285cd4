import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { EngineWorker } from '../../../src/engine/sample/workerClient.ts';

const workerScript = join(import.meta.dirname, '../../../src/engine/sample/worker.ts');
let dir: string;
let modelDir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prefer-worker-queue-'));
  modelDir = await makeCheckpoint('llama', join(dir, 'llama'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('a new request while the previous one is being cancelled waits its turn and samples correctly', async () => {
  const worker = await EngineWorker.start({ modelDir, cacheDir: join(dir, 'cache'), threads: 1 }, workerScript);
  try {
    const request = { prefix: 'function f(', n: 4, maxTokens: 30, temperature: 1, seed: 3, stopTokens: [] };
    const alone = await worker.complete(request);
    // What the compare panel does when the user asks again before the last round finished.
    const abort = new AbortController();
    const first = worker.complete({ ...request, seed: 4 }, { signal: abort.signal });
    abort.abort();
    const second = worker.complete(request);
    const [cancelled, again] = await Promise.all([first, second]);
    assert.equal(cancelled.cancelled, true);
    assert.deepEqual(
      again.candidates.map((c) => c.text),
      alone.candidates.map((c) => c.text),
      'the second request is unaffected by the cancelled one',
    );
  } finally {
    await worker.close();
  }
});

test('a prompt longer than the model has positions is cut to fit with the completion', async () => {
  const { Engine } = await import('../../../src/engine/sample/engine.ts');
  const engine = await Engine.open({ modelDir, cacheDir: join(dir, 'cache'), threads: 1 });
  try {
    const maxTokens = 24;
    const prefix = 'function add(a, b) {\n  return a + b;\n}\n'.repeat(200);
    const result = await engine.complete({ prefix, n: 2, maxTokens, temperature: 1, seed: 5, stopTokens: [] });
    assert.ok(result.promptTokens <= engine.config.maxPositions - maxTokens, `prompt ${result.promptTokens} tokens`);
    assert.ok(result.promptTokens > engine.config.maxPositions / 2, 'most of the room is used');
    assert.equal(result.candidates.length, 2);
  } finally {
    await engine.close();
  }
});
