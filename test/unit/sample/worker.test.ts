import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { Engine } from '../../../src/engine/sample/engine.ts';
import { EngineWorker } from '../../../src/engine/sample/workerClient.ts';

const workerScript = join(import.meta.dirname, '../../../src/engine/sample/worker.ts');
let dir: string;
let modelDir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prefer-worker-'));
  modelDir = await makeCheckpoint('llama', join(dir, 'llama'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('the worker samples what the in-thread engine samples, streaming, while the event loop stays free', async () => {
  const cacheDir = join(dir, 'cache');
  const worker = await EngineWorker.start({ modelDir, cacheDir, threads: 1 }, workerScript);
  try {
    const request = { prefix: 'const x = ', n: 3, maxTokens: 40, temperature: 1, seed: 9, stopTokens: [] };
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const streamed = ['', '', ''];
    const viaWorker = await worker.complete(request, { onText: (i, t) => (streamed[i] += t) });
    clearInterval(timer);
    assert.ok(ticks > 0, 'timers ran during sampling');
    assert.deepEqual(streamed, viaWorker.candidates.map((c) => c.text));
    const local = await Engine.open({ modelDir, cacheDir, threads: 1 });
    assert.equal(local.startup.compiled, false, 'second start found the compiled model in the cache');
    const inThread = await local.complete(request);
    await local.close();
    assert.deepEqual(viaWorker.candidates.map((c) => c.text), inThread.candidates.map((c) => c.text));
  } finally {
    await worker.close();
  }
});

test('a cancel through the worker returns within a second', async () => {
  const worker = await EngineWorker.start({ modelDir, cacheDir: join(dir, 'cache'), threads: 1 }, workerScript);
  try {
    const controller = new AbortController();
    let abortedAt = 0;
    let pieces = 0;
    const result = await worker.complete(
      { prefix: 'let y = ', n: 4, maxTokens: 1_000_000, temperature: 1, seed: 1, stopTokens: [] },
      {
        signal: controller.signal,
        onText: () => {
          if (++pieces === 20) {
            abortedAt = performance.now();
            controller.abort();
          }
        },
      },
    );
    assert.ok(result.cancelled);
    assert.ok(performance.now() - abortedAt < 1000, `took ${performance.now() - abortedAt} ms`);
  } finally {
    await worker.close();
  }
});

test('a missing model directory fails with one line naming it', async () => {
  await assert.rejects(EngineWorker.start({ modelDir: join(dir, 'nope'), cacheDir: join(dir, 'cache') }, workerScript), /nope/);
});

test('an input error in the worker reaches the caller as one (by name), so the CLI and the extension still tell it from a failure', async () => {
  const { cpSync, readFileSync, writeFileSync } = await import('node:fs');
  const { isInputError } = await import('../../../src/inputError.ts');
  const broken = join(dir, 'broken');
  cpSync(modelDir, broken, { recursive: true });
  const config = JSON.parse(readFileSync(join(broken, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(broken, 'config.json'), JSON.stringify({ ...config, eos_token_id: 99999 }));
  await assert.rejects(EngineWorker.start({ modelDir: broken, cacheDir: join(dir, 'cache'), threads: 1 }, workerScript), (e: Error) => {
    assert.ok(isInputError(e), `${e.name}: ${e.message}`);
    assert.match(e.message, /config\.json: eos_token_id 99999 is outside the vocabulary/);
    return true;
  });
  const worker = await EngineWorker.start({ modelDir, cacheDir: join(dir, 'cache'), threads: 1 }, workerScript);
  try {
    await assert.rejects(worker.complete({ prefix: 'x', n: 0, maxTokens: 4 }), (e: Error) => isInputError(e) && /n must be a positive integer/.test(e.message));
  } finally {
    await worker.close();
  }
});

test('a worker started with a 40 000-character command line samples (ONNX Runtime telemetry is off before the worker starts)', async () => {
  const { spawnSync } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const script = join(dir, 'long-argv.mjs');
  writeFileSync(script, `
    const { EngineWorker } = await import(${JSON.stringify(join(import.meta.dirname, '../../../src/engine/sample/workerClient.ts'))});
    const w = await EngineWorker.start({ modelDir: ${JSON.stringify(modelDir)}, cacheDir: ${JSON.stringify(join(dir, 'cache'))}, threads: 1 }, ${JSON.stringify(workerScript)});
    const r = await w.complete({ prefix: 'x', n: 2, maxTokens: 3, seed: 1 });
    await w.close();
    console.log(r.candidates.length);`);
  const r = spawnSync(process.execPath, [script, 'a'.repeat(40_000)], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ORT_DISABLE_TELEMETRY: '' } });
  assert.equal(r.signal, null, r.stderr);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '2');
});
