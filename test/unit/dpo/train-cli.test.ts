import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { TRL_METRIC_NAMES, trainingRun, trainingSteps } from '../../../src/store/training.ts';
import { openStore } from '../../../src/store/store.ts';
import { importPairs } from '../../../src/io/importPairs.ts';
import { readAdapterConfig } from '../../../src/dpo/adapterFiles.ts';
import { prefer, tempDir } from '../cli/helpers.ts';

const dir = tempDir('train');
let model = '';
before(async () => {
  model = await makeCheckpoint('llama', join(dir, 'llama'));
});

function pairsFile(lines: unknown[]): string {
  const file = join(dir, `pairs-${lines.length}.jsonl`);
  writeFileSync(file, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return file;
}

const pairs = Array.from({ length: 8 }, (_, i) => ({ prompt: `function f${i}(x) {\n  return`, chosen: ' x + 1;\n}', rejected: ' x+1\n}' }));

test('prefer train --pairs prints TRL-named step lines, then {eval, adapter}, and saves a PEFT adapter', () => {
  const out = join(dir, 'adapter');
  const r = prefer('train', '--pairs', pairsFile(pairs), '--model', model, '--out', out, '--lora-r', '2', '--batch', '3', '--max-length', '64', '--eval-split', '0.25', '--lr', '1e-3', '--json');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const steps = lines.slice(0, -1);
  assert.equal(steps.length, 2, 'six training pairs in batches of three');
  for (const s of steps) for (const name of TRL_METRIC_NAMES) assert.equal(typeof s[name], 'number', name);
  const last = lines.at(-1)!;
  assert.equal(last.adapter, out);
  assert.equal(typeof (last.eval as Record<string, number>)['rewards/accuracies'], 'number');
  assert.equal(readAdapterConfig(out).r, 2);
  assert.ok(existsSync(join(out, 'adapter_model.safetensors')));
});

test('prefer train refuses bad input with one line naming the file and line', () => {
  const bad = pairsFile([pairs[0], '{"prompt": "x", "chosen": "y"}']);
  const r = prefer('train', '--pairs', bad, '--model', model, '--out', join(dir, 'never'));
  assert.equal(r.code, 2);
  assert.match(r.stderr.trim(), /^prefer train: .*pairs-2\.jsonl:2: missing field "rejected"$/);
  assert.ok(!existsSync(join(dir, 'never')));
  const noSource = prefer('train', '--model', model, '--out', join(dir, 'never'));
  assert.match(noSource.stderr, /give exactly one of --db DB or --pairs FILE.jsonl/);
  const resume = prefer('train', '--pairs', bad, '--model', model, '--out', join(dir, 'never'), '--resume');
  assert.match(resume.stderr, /--resume is not supported yet/);
});

test('prefer train --db trains on the stored pairs, records the run’s metrics and registers the adapter version', async () => {
  const db = join(dir, 'prefer.sqlite');
  const store = openStore(db);
  await importPairs(store, pairsFile(pairs));
  store.close();
  const out = join(dir, 'adapter-db');
  const r = prefer('train', '--db', db, '--model', model, '--out', out, '--lora-r', '2', '--batch', '4', '--max-length', '64', '--eval-split', '0.25', '--json');
  assert.equal(r.code, 0, r.stderr);
  const last = JSON.parse(r.stdout.trimEnd().split('\n').at(-1)!) as Record<string, unknown>;
  assert.equal(last.version, 1);
  const check = openStore(db);
  try {
    const adapter = check.adapters()[0]!;
    assert.equal(adapter.path, out);
    assert.equal(adapter.pairCount, 8);
    const run = trainingRun(check.db, 1)!;
    assert.equal(run.status, 'done');
    assert.equal(run.adapterId, adapter.id);
    assert.equal(trainingSteps(check.db, 1, 'train').length, 2);
    assert.equal(trainingSteps(check.db, 1, 'eval').length, 1);
  } finally {
    check.close();
  }
});
