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
    [['--model', `${dir}/none`, '--prefix', 'x', '--n', '2', '--max-tokens', '3'], /none: no such model directory/],
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

test('a --prefix or --stop of 40 000 characters samples instead of crashing ONNX Runtime (its telemetry regex recursed per character of the command line)', () => {
  const long = 'a'.repeat(40_000);
  for (const flags of [['--prefix', long], ['--prefix', 'def f', '--stop', long]]) {
    const r = preferJson('sample', '--model', model, ...flags, '--n', '2', '--max-tokens', '4', '--seed', '1', '--cache', cache, '--threads', '1');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.value as { candidates: unknown[] }).candidates.length, 2);
  }
});

test('--max-tokens beyond the context keeps the prompt and stops candidates at the context end, with a note; --json reports prompt_tokens', () => {
  const defaultModel = join(import.meta.dirname, '../../../models/default');
  const prefix = 'function add(a, b) {\n  return a + b;\n}\n'.repeat(200);
  const r = preferJson('sample', '--model', defaultModel, '--prefix', prefix, '--n', '1', '--max-tokens', '1000', '--seed', '1', '--stop', '\n', '--cache', cache, '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  const v = r.value as { prompt_tokens: number; max_tokens: number };
  // the completion reserves at most half of the 1024 positions; before, the prompt became a single token
  assert.equal(v.prompt_tokens, 512);
  assert.equal(v.max_tokens, 512);
  assert.match(r.stderr, /^prefer sample: --max-tokens 1000: the model's context is 1024 tokens and the prompt takes 512, so candidates stop after 512\n$/);
  const short = preferJson('sample', '--model', defaultModel, '--prefix', 'x', '--n', '1', '--max-tokens', '1000', '--seed', '1', '--stop', '\n', '--cache', cache, '--threads', '1');
  assert.equal(short.code, 0, short.stderr);
  const s = short.value as { prompt_tokens: number; max_tokens: number };
  assert.ok(s.prompt_tokens <= 2, `prompt ${s.prompt_tokens}`);
  assert.equal(s.max_tokens, 1000, 'a short prompt leaves the whole budget');
  assert.equal(short.stderr, '');
});

test('--threads above the cores is lowered to them with a note on stderr', () => {
  const r = preferJson('sample', '--model', model, '--prefix', 'def f', '--n', '1', '--max-tokens', '2', '--cache', cache, '--threads', '100000');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^prefer sample: --threads 100000 is more than this machine's \d+ cores; using \d+\n$/);
});
