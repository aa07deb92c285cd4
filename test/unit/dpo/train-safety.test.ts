import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { removeCheckpoint, writeRoundRecord } from '../../../src/dpo/checkpoint.ts';
import { defaultTraining } from '../../../src/rounds/options.ts';
import { type RoundOptions, runRound } from '../../../src/rounds/round.ts';
import { importPairs } from '../../../src/io/importPairs.ts';
import { openStore } from '../../../src/store/store.ts';
import { prefer } from '../cli/helpers.ts';

let dir: string;
let model: string;
let cases = 0;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prefer-train-safety-'));
  model = await makeCheckpoint('llama', join(dir, 'llama'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const lines = Array.from({ length: 8 }, (_, i) => ({ prompt: `let v${i} =`, chosen: ` ${i} + 1;`, rejected: ` ${i}+1` }));
const pairs = lines.map(({ prompt, chosen, rejected }) => ({ prefix: prompt, suffix: '', chosen, rejected }));
const training = defaultTraining({ lora: { rank: 2, alpha: 4 }, learningRate: 1e-3, maxLength: 32, evalFraction: 0.25, threads: 1 });

/** A fresh folder for one test. */
function caseDir(): string {
  const d = join(dir, `case-${cases++}`);
  mkdirSync(d);
  return d;
}

const options = (d: string, over: Partial<RoundOptions> = {}): RoundOptions => ({
  modelDir: model,
  outDir: join(d, 'adapter'),
  pairs,
  training: { ...training, checkpoint: { dir: join(d, 'adapter.checkpoint'), every: 1, resume: false } },
  ...over,
});

/** Rejects with a one-line RoundInputError that starts with `path` and matches `pattern`. */
async function refused(o: RoundOptions, path: string, pattern: RegExp): Promise<void> {
  await assert.rejects(runRound(o), (e: Error) => {
    assert.equal(e.name, 'RoundInputError', e.message);
    assert.ok(e.message.startsWith(`${path}: `), e.message);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
}

async function storeWithPairs(db: string): Promise<void> {
  const file = `${db}.jsonl`;
  writeFileSync(file, lines.map((p) => JSON.stringify(p)).join('\n') + '\n');
  const store = openStore(db);
  try {
    await importPairs(store, file);
  } finally {
    store.close();
  }
}

test('an existing adapter folder, file or link is refused and left as it was', async () => {
  const d = caseDir();
  mkdirSync(join(d, 'work'));
  writeFileSync(join(d, 'work', 'notes.txt'), 'mine');
  await refused(options(d, { outDir: join(d, 'work') }), join(d, 'work'), /already exists/);
  assert.equal(readFileSync(join(d, 'work', 'notes.txt'), 'utf8'), 'mine');
  writeFileSync(join(d, 'file'), 'mine');
  await refused(options(d, { outDir: join(d, 'file') }), join(d, 'file'), /already exists/);
  symlinkSync(join(d, 'work'), join(d, 'link'));
  await refused(options(d, { outDir: join(d, 'link') }), join(d, 'link'), /already exists/);
  symlinkSync(join(d, 'nowhere'), join(d, 'dangling'));
  await refused(options(d, { outDir: join(d, 'dangling') }), join(d, 'dangling'), /already exists/);
  assert.deepEqual(readdirSync(d).sort(), ['dangling', 'file', 'link', 'work']);
});

test('the model folder, a folder inside it, or either reached through a link, `..` or a trailing slash is refused', async () => {
  const d = caseDir();
  symlinkSync(model, join(d, 'model-link'));
  for (const out of [model, `${model}/`, join(model, 'adapter'), `${model}/../${model.split('/').pop()}`, join(d, 'model-link'), join(d, 'model-link', 'sub')]) {
    await refused(options(d, { outDir: out }), out, /model/);
  }
  assert.deepEqual(readdirSync(d), ['model-link']);
  assert.ok(!existsSync(join(model, 'adapter')));
});

test('the database, by path, link or hard link, is refused and its store untouched', async () => {
  const d = caseDir();
  const db = join(d, 'prefer.sqlite');
  await storeWithPairs(db);
  const bytes = readFileSync(db);
  symlinkSync(db, join(d, 'db-link'));
  linkSync(db, join(d, 'db-hard'));
  for (const out of [db, join(d, 'db-link'), join(d, 'db-hard'), `${db}-wal`]) {
    await refused(options(d, { outDir: out, pairs: undefined, database: db }), out, /the database/);
  }
  assert.deepEqual(readFileSync(db), bytes);
  // as the checkpoint folder too: OUT.checkpoint may be the database
  await refused(options(d, { outDir: join(d, 'x'), pairs: undefined, database: db, training: { ...training, checkpoint: { dir: db, every: 1, resume: false } } }), db, /the database/);
  assert.deepEqual(readFileSync(db), bytes);
});

test('a checkpoint folder that is not Prefer’s (a user folder, a file, a link) is refused, not removed', async () => {
  const d = caseDir();
  const user = join(d, 'adapter.checkpoint');
  mkdirSync(user);
  writeFileSync(join(user, 'round.json'), '{}');
  writeFileSync(join(user, 'thesis.tex'), 'mine');
  await refused(options(d), user, /holds thesis\.tex, which is not part of a Prefer checkpoint/);
  assert.deepEqual(readdirSync(user).sort(), ['round.json', 'thesis.tex']);
  rmSync(user, { recursive: true });
  writeFileSync(user, 'mine');
  await refused(options(d), user, /is not a folder/);
  rmSync(user);
  mkdirSync(join(d, 'elsewhere'));
  symlinkSync(join(d, 'elsewhere'), user);
  await refused(options(d), user, /is a link/);
  assert.ok(existsSync(join(d, 'elsewhere')) && !existsSync(join(d, 'adapter')));
});

test('a fresh round replaces an earlier round’s checkpoint folder (Prefer’s files only), and removes it when done', async () => {
  const d = caseDir();
  const folder = join(d, 'adapter.checkpoint');
  writeRoundRecord(folder, { runId: null, database: null, pairIds: null, modelDir: model, baseModelHash: 'old', outDir: join(d, 'adapter'), training: {}, totalSteps: 3, startedAt: 'then' });
  writeFileSync(join(folder, 'checkpoint.safetensors.123.tmp'), 'half-written');
  const result = await runRound(options(d));
  assert.equal(result.cancelled, false);
  assert.deepEqual(readdirSync(d), ['adapter']);
});

test('removeCheckpoint removes only Prefer’s files: anything else, and its folder, stay', () => {
  const d = caseDir();
  writeRoundRecord(d, { runId: null, database: null, pairIds: null, modelDir: model, baseModelHash: 'h', outDir: 'x', training: {}, totalSteps: null, startedAt: 'now' });
  writeFileSync(join(d, 'mine.txt'), 'mine');
  removeCheckpoint(d);
  assert.deepEqual(readdirSync(d), ['mine.txt']);
  writeFileSync(join(d, 'link-target'), 'kept');
  symlinkSync(join(d, 'link-target'), join(d, 'link'));
  removeCheckpoint(join(d, 'link'));
  assert.equal(readFileSync(join(d, 'link-target'), 'utf8'), 'kept');
});

test('resuming a cancelled round replaces only its own partial adapter: a folder put in its place is refused', async () => {
  const d = caseDir();
  const cancel = new AbortController();
  const o = options(d);
  const cut = await runRound(o, { signal: cancel.signal, onStep: (m) => m.step === 1 && cancel.abort() });
  assert.equal(cut.cancelled, true);
  rmSync(o.outDir, { recursive: true });
  mkdirSync(o.outDir);
  writeFileSync(join(o.outDir, 'adapter_config.json'), '{"mine": true}');
  const resume = { ...o, training: { ...o.training, checkpoint: { ...o.training.checkpoint!, resume: true } } };
  await refused(resume, o.outDir, /already exists/);
  assert.equal(readFileSync(join(o.outDir, 'adapter_config.json'), 'utf8'), '{"mine": true}');
});

test('a LoRA rank above the smallest dimension of the adapted linears is refused before training, naming --lora-r and the limit', async () => {
  const d = caseDir();
  for (const rank of [33, 100_000]) {
    const o = options(d, { training: { ...training, lora: { rank, alpha: 2 * rank } } });
    await assert.rejects(runRound(o), (e: Error) => e.name === 'RoundInputError' && new RegExp(`^--lora-r ${rank}: .*at most 32\\b`).test(e.message));
  }
  // only the key and value projections (64→32) bound it: targeting q_proj alone allows 64
  const o = options(d, { training: { ...training, epochs: 1, evalFraction: 0, lora: { rank: 64, alpha: 64, targetModules: ['q_proj'] } } });
  assert.equal((await runRound(o)).cancelled, false);
});

test('a diverging round stops with an input error naming the step, saves no adapter, marks the store run failed and leaves no checkpoint', async () => {
  const d = caseDir();
  const db = join(d, 'prefer.sqlite');
  await storeWithPairs(db);
  const cases: [Partial<RoundOptions['training']>, RegExp][] = [
    // a scale past float32: the first forward pass overflows
    [{ lora: { rank: 2, alpha: 1e39 } }, /^diverged at step 1: loss NaN — lower --lr or --lora-alpha$/],
    // finite weights of 1e30: the held-out (or next) forward pass overflows
    [{ learningRate: 1e30 }, /^diverged at step 2: held-out loss NaN — lower --lr or --lora-alpha$/],
    [{ learningRate: 1e30, evalFraction: 0, epochs: 2 }, /^diverged at step 3: loss NaN/],
  ];
  for (const [over, message] of cases) {
    const o = options(d, { pairs: undefined, database: db, training: { ...training, ...over, checkpoint: { dir: join(d, 'adapter.checkpoint'), every: 1, resume: false } } });
    await assert.rejects(runRound(o), (e: Error) => e.name === 'InputError' && message.test(e.message));
    assert.deepEqual(readdirSync(d).filter((f) => !f.startsWith('prefer.sqlite')), [], 'no adapter and no checkpoint');
  }
  const store = openStore(db);
  try {
    const runs = store.trainingRunIds();
    assert.equal(runs.length, cases.length);
    for (const id of runs) assert.equal(store.trainingRun(id)!.status, 'failed');
    assert.equal(store.adapters().length, 0);
  } finally {
    store.close();
  }
});

test('prefer train --threads above the cores trains on the cores, with a note on stderr and clean JSON on stdout', () => {
  const d = caseDir();
  const file = join(d, 'pairs.jsonl');
  writeFileSync(file, lines.map((p) => JSON.stringify(p)).join('\n') + '\n');
  const r = prefer('train', '--pairs', file, '--model', model, '--out', `${join(d, 'adapter')}/`, '--lora-r', '2', '--max-length', '32', '--threads', '100000', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^note: --threads 100000 is more than this machine's \d+ cores; using \d+\n$/);
  for (const line of r.stdout.trimEnd().split('\n')) JSON.parse(line);
  // a trailing slash on --out keeps the checkpoint beside the adapter, not inside it
  assert.deepEqual(readdirSync(d).sort(), ['adapter', 'pairs.jsonl']);
  assert.deepEqual(readdirSync(join(d, 'adapter')).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'prefer_adapter.json']);
});
