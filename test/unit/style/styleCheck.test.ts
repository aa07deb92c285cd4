import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { type StyleCheckOptions, runStyleCheck } from '../../../scripts/eval-style.ts';
import { CheckpointTokenizer } from '../../../src/engine/hf/tokenizer.ts';

let dir: string;
let options: StyleCheckOptions;

const source = (n: number) => `'use strict';
const path = require("node:path");
function label${n}(value) {
  if (value === "none") return 'empty';
  return path.join('dir${n}', value);
}
module.exports = { label${n} };
`;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prefer-style-check-'));
  const modelDir = await makeCheckpoint('qwen2', join(dir, 'qwen2'));
  const corpusDir = join(dir, 'corpus');
  mkdirSync(corpusDir);
  const documents = (split: string, count: number) => Array.from({ length: count }, (_, i) => ({ package: `${split}${i}`, file: `${split}${i}/index.js`, text: source(i) }));
  writeFileSync(join(corpusDir, 'train.jsonl'), documents('train', 6).map((d) => JSON.stringify(d)).join('\n'));
  const heldout = documents('heldout', 3);
  writeFileSync(join(corpusDir, 'heldout.jsonl'), heldout.map((d) => JSON.stringify(d)).join('\n'));
  // enough held-out tokens for one 8 × 256 loss window
  const tokenizer = await CheckpointTokenizer.fromDir(modelDir);
  const ids: number[] = [];
  while (ids.length < 8 * 257) for (const d of heldout) ids.push(...tokenizer.encode(d.text), tokenizer.eosTokenIds[0]!);
  writeFileSync(join(corpusDir, 'heldout.u16'), Uint16Array.from(ids));
  options = {
    modelDir,
    corpusDir,
    workDir: join(dir, 'work'),
    adapterDir: join(dir, 'adapter'),
    prefer: "'",
    pairs: 6,
    prompts: 3,
    seed: 11,
    sampling: { samplesPerPrompt: 2, temperature: 0.7, maxTokens: 6, promptTokens: 48 },
    round: { learningRate: 1e-3, epochs: 1, beta: 0.1, rank: 2 },
    threads: 1,
    lossBatches: 1,
  };
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('the style check trains a round and reports rates and held-out losses that the seed reproduces', async () => {
  const first = await runStyleCheck(options);
  assert.equal(first.pairs.count, 6);
  assert.equal(first.prompts.count, 3);
  assert.equal(first.round.train_pairs + first.round.eval_pairs, 6);
  assert.ok(first.round.steps >= 1);
  for (const rate of [first.rate.base, first.rate.adapter]) {
    assert.equal(Object.values(rate.counts).reduce((a, b) => a + b, 0), 3 * 2);
    assert.equal(rate.quoted, rate.counts.single + rate.counts.double);
    assert.equal(rate.preferred, rate.counts.single);
  }
  assert.ok(Number.isFinite(first.heldout_loss.base) && first.heldout_loss.base > 0);
  // the adapter is merged for the loss: a trained round moves it
  assert.notEqual(first.heldout_loss.adapter, first.heldout_loss.base);
  // a round never replaces an existing adapter folder: the second run writes its own
  const second = await runStyleCheck({ ...options, adapterDir: `${options.adapterDir}-again` });
  assert.deepEqual(second.rate, first.rate);
  assert.deepEqual(second.heldout_loss, first.heldout_loss);
  assert.deepEqual(second.round.eval, first.round.eval);
});
