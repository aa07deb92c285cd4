import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { prefer, preferJson, tempDir } from '../cli/helpers.ts';

const dir = tempDir('cli-sample');
let model: string;
const cache = join(dir, 'cache');

before(async () => {
  model = await makeCheckpoint('qwen3', join(dir, 'qwen3'));
});

test('prefer sample --json prints candidates with tokens and log-probs, and timings', () => {
  const r = preferJson('sample', '--model', model, '--prefix', 'def f(x):\n    return', '--n', '3', '--max-tokens', '5', '--seed', '4', '--temperature', '0.9', '--cache', cache, '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  const v = r.value as { candidates: { text: string; tokens: number; logprob: number }[]; timing: Record<string, number> };
  assert.equal(v.candidates.length, 3);
  for (const c of v.candidates) {
    assert.equal(typeof c.text, 'string');
    assert.ok(c.tokens >= 0 && c.tokens <= 5);
    assert.ok(c.logprob <= 0);
  }
  assert.deepEqual(Object.keys(v.timing), ['prefill_ms', 'first_token_ms', 'decode_tok_s']);
  // reproducible from the same seed, across processes
  const again = preferJson('sample', '--model', model, '--prefix', 'def f(x):\n    return', '--n', '3', '--max-tokens', '5', '--seed', '4', '--temperature', '0.9', '--cache', cache, '--threads', '1');
  assert.deepEqual((again.value as typeof v).candidates, v.candidates);
});

test('--file --line --col samples at the cursor with the text after it as suffix', () => {
  const file = join(dir, 'a.py');
  writeFileSync(file, 'def f(x):\n    return x\n');
  const r = preferJson('sample', '--model', model, '--file', file, '--line', '2', '--col', '12', '--n', '2', '--max-tokens', '3', '--seed', '1', '--cache', cache);
  assert.equal(r.code, 0, r.stderr);
  const bad = preferJson('sample', '--model', model, '--file', file, '--line', '9', '--col', '1', '--n', '2', '--max-tokens', '3');
  assert.equal(bad.code, 2);
  assert.match(String(bad.value.error), /a\.py: --line 9 is outside 1\.\.3/);
});

test('bad flags fail with one line and a non-zero exit', () => {
  const cases: [string[], RegExp][] = [
    [['--prefix', 'x', '--n', '2', '--max-tokens', '3'], /--model is required/],
    [['--model', model, '--prefix', 'x', '--n', 'two', '--max-tokens', '3'], /--n must be an integer/],
    [['--model', model, '--prefix', 'x', '--n', '2', '--max-tokens', '3', '--device', 'tpu'], /--device must be cpu, webgpu or cuda/],
    [['--model', model, '--adapter', dir, '--prefix', 'x', '--n', '2', '--max-tokens', '3'], /adapter_config\.json: missing \(not a PEFT adapter folder\)/],
    [['--model', model, '--adapter', `${dir}/nope`, '--prefix', 'x', '--n', '2', '--max-tokens', '3'], /--adapter .*nope: no such adapter directory/],
  ];
  for (const [args, message] of cases) {
    const r = prefer('sample', ...args);
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, message);
  }
});

test('--heal on|off overrides the engine’s healing choice; another value is a usage error', () => {
  const defaultModel = join(import.meta.dirname, '../../../models/default');
  // a cursor after indentation, prefix-only: healed by default
  const args = ['--model', defaultModel, '--prefix', 'export function check(items) {\n    for (const item of items) {\n        if (!item) {\n            ', '--n', '1', '--max-tokens', '6', '--temperature', '0', '--cache', cache, '--threads', '1'];
  const text = (...extra: string[]) => {
    const r = preferJson('sample', ...args, ...extra);
    assert.equal(r.code, 0, r.stderr);
    return (r.value as { candidates: { text: string }[] }).candidates[0]!.text;
  };
  const healed = text();
  assert.equal(text('--heal', 'on'), healed);
  assert.match(healed, /^\S/);
  assert.notEqual(text('--heal', 'off'), healed);
  const bad = preferJson('sample', ...args, '--heal', 'maybe');
  assert.equal(bad.code, 2);
  assert.match(String(bad.value.error), /--heal must be on or off, got "maybe"/);
});
