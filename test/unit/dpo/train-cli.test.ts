import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { before, test } from 'node:test';
import { readSafetensors } from '../../../src/engine/hf/safetensors.ts';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { openStore, TRL_METRIC_NAMES } from '../../../src/store/store.ts';
import { importPairs } from '../../../src/io/importPairs.ts';
import { readAdapterConfig } from '../../../src/dpo/adapterFiles.ts';
import { prefer, tempDir } from '../cli/helpers.ts';

const cli = join(import.meta.dirname, '../../../src/cli/cli.ts');
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
  assert.match(String(last.warning), /^Metrics are unreliable: 8 pairs, 2 held out/, 'eight pairs are too few to trust');
  assert.equal(readAdapterConfig(out).r, 2);
  assert.ok(existsSync(join(out, 'adapter_model.safetensors')));
});

test('prefer train’s last line gives held-out accuracy with its n and interval, and says when the metrics are unreliable', () => {
  const r = prefer('train', '--pairs', pairsFile(pairs), '--model', model, '--out', join(dir, 'adapter-text'), '--lora-r', '2', '--batch', '3', '--max-length', '64', '--eval-split', '0.25');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines.at(-2)!, /held-out accuracy \d+ % of 2 \(95 % interval \d+–\d+ %\), loss \d/);
  assert.match(lines.at(-1)!, /^Metrics are unreliable: 8 pairs, 2 held out/);
});

test('prefer train refuses bad input with one line naming the file and line', () => {
  const bad = pairsFile([pairs[0], '{"prompt": "x", "chosen": "y"}']);
  const r = prefer('train', '--pairs', bad, '--model', model, '--out', join(dir, 'never'));
  assert.equal(r.code, 2);
  assert.match(r.stderr.trim(), /^prefer train: .*pairs-2\.jsonl:2: missing field "rejected"$/);
  assert.ok(!existsSync(join(dir, 'never')));
  const noSource = prefer('train', '--model', model, '--out', join(dir, 'never'));
  assert.match(noSource.stderr, /give exactly one of --db DB or --pairs FILE.jsonl/);
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
    const run = check.trainingRun(1)!;
    assert.equal(run.status, 'done');
    assert.equal(run.adapterId, adapter.id);
    assert.equal(check.trainingSteps(1, 'train').length, 2);
    assert.equal(check.trainingSteps(1, 'eval').length, 1);
  } finally {
    check.close();
  }
});

/** Runs prefer train in a child and SIGKILLs it once `steps` step lines have been printed. */
function killAfterSteps(args: string[], steps: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'train', ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = 0;
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      seen += lines.filter((l) => l.includes('"step"')).length;
      if (seen >= steps) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(seen) : reject(new Error(`prefer train ended before the kill (${seen} steps)`))));
  });
}

async function adapterTensors(out: string): Promise<Map<string, number[]>> {
  const file = await readSafetensors(join(out, 'adapter_model.safetensors'));
  return new Map([...file.tensors].map(([name, t]) => [name, Array.from(new Float32Array(file.bytes.slice(t.begin, t.end).buffer))]));
}

test('a round killed with SIGKILL mid-way and resumed with --resume ends with the adapter of an uninterrupted round', async () => {
  const many = Array.from({ length: 16 }, (_, i) => ({ prompt: `let v${i} =`, chosen: ` ${i} + 1;`, rejected: ` ${i}+1` }));
  const file = pairsFile(many);
  const common = ['--pairs', file, '--model', model, '--lora-r', '2', '--batch', '1', '--epochs', '2', '--max-length', '32', '--eval-split', '0', '--lr', '1e-3', '--checkpoint-every', '1'];
  const whole = join(dir, 'whole');
  assert.equal(prefer('train', ...common, '--out', whole, '--json').code, 0);
  assert.ok(!existsSync(`${whole}.checkpoint`), 'a finished round removes its checkpoint');

  const killed = join(dir, 'killed');
  const seen = await killAfterSteps([...common, '--out', killed], 5);
  assert.ok(seen >= 5 && existsSync(`${killed}.checkpoint`) && !existsSync(killed));
  const resumed = prefer('train', ...common, '--out', killed, '--resume', '--json');
  assert.equal(resumed.code, 0, resumed.stderr);
  const firstResumed = JSON.parse(resumed.stdout.split('\n')[0]!) as { step: number };
  assert.ok(firstResumed.step > 1, `the resumed round starts after the checkpoint, at step ${firstResumed.step}`);
  assert.deepEqual(await adapterTensors(killed), await adapterTensors(whole));
});
