/** `prefer train --loss kto`: pairs split into desirable and undesirable examples, TRL's KTO metrics with `kl`. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { prefer, tempDir } from '../cli/helpers.ts';

const dir = tempDir('train-kto');
let model = '';
let pairs = '';
before(async () => {
  model = await makeCheckpoint('llama', join(dir, 'llama'));
  pairs = join(dir, 'pairs.jsonl');
  const lines = Array.from({ length: 6 }, (_, i) => ({ prompt: `function f${i}(x) {\n  return`, chosen: ' x + 1;\n}', rejected: ' x+1\n}' }));
  writeFileSync(pairs, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
});

const train = (out: string, ...flags: string[]) =>
  prefer('train', '--pairs', pairs, '--model', model, '--out', join(dir, out), '--lora-r', '2', '--max-length', '64', '--lr', '1e-3', '--json', '--loss', 'kto', ...flags);

test('--loss kto trains on both halves of each pair and logs the KL estimate beside the rewards', () => {
  const r = train('kto', '--batch', '4', '--eval-split', '0.25', '--desirable-weight', '1.33', '--undesirable-weight', '0.75');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const steps = lines.slice(0, -1) as Record<string, number>[];
  // 12 examples: 3 held out, 9 in batches of 4, 4 and a lone one that joins the batch before it
  assert.equal(steps.length, 2);
  for (const s of steps) {
    for (const name of ['loss', 'kl', 'rewards/chosen', 'rewards/rejected', 'logps/chosen', 'logps/rejected', 'grad_norm']) assert.ok(Number.isFinite(s[name]), `${name}: ${s[name]}`);
    assert.ok(s.kl! >= 0);
  }
  assert.equal(typeof (lines.at(-1)!.eval as Record<string, number>).kl, 'number');
});

test('--loss kto refuses a batch of one, and --desirable-weight takes positive numbers only', () => {
  const one = train('one', '--batch', '1');
  assert.equal(one.code, 2);
  assert.match(one.stderr, /--loss kto needs --batch 2 or more/);
  const zero = train('zero', '--desirable-weight', '0');
  assert.equal(zero.code, 2);
  assert.match(zero.stderr, /--desirable-weight must be a positive number up to 3\.4e38/);
});

test('the usage lists kto and its weights', () => {
  const r = prefer('train', '--help');
  assert.match(r.stdout, /--desirable-weight W +the weight of kto's desirable examples \(default 1\)/);
  assert.match(r.stdout, /--undesirable-weight W +the weight of kto's undesirable examples \(default 1\)/);
});
