import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { Engine } from '../../../src/engine/sample/engine.ts';

const dir = join(import.meta.dirname, '../../../models/default');
const cache = mkdtempSync(join(tmpdir(), 'prefer-default-model-'));
after(() => rmSync(cache, { recursive: true, force: true }));

test('the shipped default is an HF llama checkpoint under 40 MB with Qwen FIM tokens', async () => {
  const bytes = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  assert.ok(bytes <= 40 * 1024 * 1024, `${bytes} bytes`);
  const checkpoint = await loadCheckpoint(dir);
  assert.equal(checkpoint.config.architecture, 'LlamaForCausalLM');
  assert.equal(checkpoint.tokenizer.fim?.style, 'qwen');
  assert.deepEqual(checkpoint.generation.eosTokenIds, [checkpoint.tokenizer.tokenId('<|endoftext|>')]);
  for (const name of checkpoint.weights.names()) assert.ok(Number.isFinite(checkpoint.weights.get(name).data[0]), name);
});

test('the shipped default samples code through the sampler, prefix-only and FIM', async () => {
  const engine = await Engine.open({ modelDir: dir, cacheDir: cache, threads: 1 });
  const plain = await engine.complete({ prefix: 'export function add(a, b) {\n', n: 2, maxTokens: 12, temperature: 0, seed: 1 });
  const infill = await engine.complete({ prefix: 'function add(a, b) {\n  ', suffix: '\n}\n', n: 2, maxTokens: 12, temperature: 0.7, seed: 1 });
  await engine.close();
  for (const c of [...plain.candidates, ...infill.candidates]) {
    assert.ok(c.tokens >= 1 && Number.isFinite(c.logprob));
    assert.ok(c.text.length > 0);
  }
  // a trained model prefers code-like characters to arbitrary bytes
  const text = plain.candidates[0]!.text;
  assert.ok([...text].every((ch) => ch === '\t' || ch === '\n' || (ch >= ' ' && ch <= '~')), `non-ASCII output: ${JSON.stringify(text)}`);
});
