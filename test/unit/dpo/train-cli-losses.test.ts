/** `prefer train` with TRL's loss list: several losses weighted, the losses that need more than log-probs. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { TRL_METRIC_NAMES } from '../../../src/store/store.ts';
import { prefer, tempDir } from '../cli/helpers.ts';

const dir = tempDir('train-losses');
let model = '';
let pairs = '';
before(async () => {
  model = await makeCheckpoint('llama', join(dir, 'llama'));
  pairs = join(dir, 'pairs.jsonl');
  const lines = Array.from({ length: 8 }, (_, i) => ({ prompt: `function f${i}(x) {\n  return`, chosen: ' x + 1;\n}', rejected: ' x+1\n}' }));
  writeFileSync(pairs, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
});

/** A small round's step lines and last line, as JSON. */
function train(out: string, ...flags: string[]) {
  const r = prefer('train', '--pairs', pairs, '--model', model, '--out', join(dir, out), '--lora-r', '2', '--batch', '3', '--max-length', '64', '--eval-split', '0.25', '--lr', '1e-3', '--json', ...flags);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { steps: lines.slice(0, -1) as Record<string, number>[], last: lines.at(-1)! };
}

test('--loss sigmoid,sft --loss-weights 1,0.2 trains, with TRL’s metrics, logits/* included', () => {
  const { steps, last } = train('weighted', '--loss', 'sigmoid,sft', '--loss-weights', '1,0.2');
  assert.equal(steps.length, 2);
  for (const s of steps) for (const name of TRL_METRIC_NAMES) assert.ok(Number.isFinite(s[name]), name);
  assert.ok(TRL_METRIC_NAMES.includes('logits/chosen') && TRL_METRIC_NAMES.includes('logits/rejected'));
  // at the first step the policy is the reference: the sigmoid part is log 2, and the NLL of the chosen tokens is positive
  assert.ok(steps[0]!.loss! > Math.log(2), `loss ${steps[0]!.loss}`);
  assert.equal(typeof (last.eval as Record<string, number>)['logits/chosen'], 'number');
});

test('bco_pair trains with δ fed by the trainer', () => {
  const { steps } = train('bco', '--loss', 'bco_pair', '--batch', '2');
  assert.equal(steps.length, 3);
  // the first step's rewards are 0 and so is δ: −2·logσ(0)
  assert.ok(Math.abs(steps[0]!.loss! - 2 * Math.log(2)) < 1e-5, `loss ${steps[0]!.loss}`);
  for (const s of steps) assert.ok(Number.isFinite(s.loss), `loss ${s.loss}`);
});

test('the usage lists the loss list, its weights and DiscoPOP’s τ', () => {
  const r = prefer('train', '--help');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--loss L\[,L…\] +the preference loss, or several summed \(TRL's loss_type\): sigmoid, robust, ipo, hinge, sigmoid_norm, apo_zero, apo_down, exo_pair, nca_pair, bco_pair, sppo_hard, discopop, sft, kto \(default sigmoid\)/);
  assert.match(r.stdout, /--loss-weights W\[,W…\] +one weight per --loss/);
  assert.match(r.stdout, /--discopop-tau T +τ: the temperature of the discopop loss \(default 0\.05\)/);
});
