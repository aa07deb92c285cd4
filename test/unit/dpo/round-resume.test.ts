import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { checkpointStep, readRoundRecord, writeRoundRecord } from '../../../src/dpo/checkpoint.ts';
import { spawnSync } from 'node:child_process';
import { defaultTraining } from '../../../src/rounds/options.ts';
import { type RoundOptions, processAlive, runRound, thisProcess } from '../../../src/rounds/round.ts';
import { runRoundInWorker } from '../../../src/rounds/trainWorkerClient.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { readSafetensors } from '../../../src/engine/hf/safetensors.ts';
import { importPairs } from '../../../src/io/importPairs.ts';
import { openStore } from '../../../src/store/store.ts';
// eslint-disable-next-line no-restricted-imports -- stages a crash that no store method can produce
import { connectionOf } from '../../../src/store/connection.ts';

const workerScript = join(import.meta.dirname, '../../../src/rounds/trainWorker.ts');
let dir: string;
let model: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prefer-round-resume-'));
  model = await makeCheckpoint('llama', join(dir, 'llama'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const pairsOf = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({
    prompt: `let v${from + i} =`,
    chosen: ` ${from + i} + 1;`,
    rejected: ` ${from + i}+1`,
  }));

/** A store file holding `pairs`, imported the way a user's JSONL would be. */
async function storeWith(name: string, pairs: object[]): Promise<string> {
  const db = join(dir, `${name}.sqlite`);
  await addPairs(db, pairs);
  return db;
}

async function addPairs(db: string, pairs: object[]): Promise<void> {
  const file = join(dir, `pairs-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(file, pairs.map((p) => JSON.stringify(p)).join('\n') + '\n');
  const store = openStore(db);
  try {
    assert.equal((await importPairs(store, file)).imported, pairs.length);
  } finally {
    store.close();
  }
}

async function adapterTensors(out: string): Promise<Map<string, number[]>> {
  const file = await readSafetensors(join(out, 'adapter_model.safetensors'));
  return new Map(
    [...file.tensors].map(([name, t]) => [name, Array.from(new Float32Array(file.bytes.slice(t.begin, t.end).buffer))]),
  );
}

function runsOf(db: string) {
  const store = openStore(db);
  try {
    const ids = store.trainingRunIds();
    return ids.map((id) => ({ run: store.trainingRun(id)!, train: store.trainingSteps(id, 'train'), eval: store.trainingSteps(id, 'eval') }));
  } finally {
    store.close();
  }
}

// 8 pairs: 6 train, 2 held out; one pair per step, two epochs: 12 steps
const training = defaultTraining({
  lora: { rank: 2, alpha: 4 },
  learningRate: 1e-3,
  warmupRatio: 0,
  epochs: 2,
  pairsPerStep: 1,
  maxLength: 32,
  evalFraction: 0.25,
  seed: 3,
  threads: 1,
});

test('a round whose worker dies mid-way resumes from its checkpoint folder to the adapter of an uninterrupted round, in the same store run, on the same pairs', async () => {
  const wholeDb = await storeWith('whole', pairsOf(0, 8));
  const whole = await runRound({
    modelDir: model,
    outDir: join(dir, 'whole-adapter'),
    database: wholeDb,
    training: { ...training, checkpoint: { dir: join(dir, 'whole-checkpoint'), every: 2, resume: false } },
  });
  assert.equal(whole.steps, 12);
  assert.ok(!existsSync(join(dir, 'whole-checkpoint')), 'a finished round removes its checkpoint folder');

  const db = await storeWith('crashed', pairsOf(0, 8));
  const folder = join(dir, 'crashed-checkpoint');
  const outDir = join(dir, 'crashed-adapter');
  const crash = new AbortController();
  let runId: number | undefined;
  const options: RoundOptions = {
    modelDir: model,
    outDir,
    database: db,
    training: { ...training, checkpoint: { dir: folder, every: 2, resume: false } },
  };
  // the worker dies after step 5: no cancel, no final save, the store run left 'running'
  await assert.rejects(
    runRoundInWorker(
      options,
      { crash: crash.signal, onRun: (id) => (runId = id), onStep: (m) => m.step === 5 && crash.abort() },
      workerScript,
    ),
    /training worker exited/,
  );
  assert.ok(runId !== undefined);
  const reached = (await checkpointStep(folder))!;
  assert.ok(reached >= 4 && reached < 12 && reached % 2 === 0, `checkpointed at step ${reached}`);
  assert.ok(!existsSync(outDir), 'no adapter was saved');
  const [crashed] = runsOf(db);
  assert.equal(crashed!.run.status, 'running');
  assert.ok(crashed!.train.length >= 5, 'the steps before the crash were recorded');

  // as if the crash fell between writing the checkpoint and recording its step in the store
  const store = openStore(db);
  connectionOf(store).prepare('DELETE FROM training_metric WHERE step = ?').run(reached);
  store.close();
  // pairs stored after the crash must not join the resumed round
  await addPairs(db, pairsOf(100, 4));
  const record = readRoundRecord(folder)!;
  assert.equal(record.runId, runId);
  assert.equal(record.totalSteps, 12);
  assert.equal(record.pairIds!.length, 8);

  const resumed = await runRound({
    modelDir: record.modelDir,
    outDir: record.outDir,
    database: db,
    training: { ...(record.training as RoundOptions['training']), checkpoint: { dir: folder, every: 2, resume: true } },
  });
  assert.equal(resumed.runId, runId, 'the same store run continues');
  assert.equal(resumed.resumedAfter, reached);
  assert.equal(resumed.trainPairs + resumed.evalPairs, 8);
  assert.deepEqual(await adapterTensors(outDir), await adapterTensors(whole.adapter));
  assert.ok(!existsSync(folder), 'the checkpoint folder is removed once the round is done');

  const runs = runsOf(db);
  assert.equal(runs.length, 1, 'no second run was started');
  const [wholeRun] = runsOf(wholeDb);
  assert.equal(runs[0]!.run.status, 'done');
  assert.equal(runs[0]!.run.adapterId, resumed.adapterId);
  assert.deepEqual(
    runs[0]!.train.map((s) => s.step),
    Array.from({ length: 12 }, (_, i) => i + 1),
  );
  assert.deepEqual(runs[0]!.train, wholeRun!.train, 'every step recorded once, with the uninterrupted values');
  assert.deepEqual(runs[0]!.eval, wholeRun!.eval);
});

test('a cancelled round keeps its checkpoint, and resuming (here recomputing whole layers, as a round out of memory would) continues the cancelled run to done', async () => {
  const db = await storeWith('cancelled', pairsOf(0, 8));
  const folder = join(dir, 'cancelled-checkpoint');
  const options: RoundOptions = {
    modelDir: model,
    outDir: join(dir, 'cancelled-adapter'),
    database: db,
    training: { ...training, checkpoint: { dir: folder, every: 25, resume: false } },
  };
  const cancel = new AbortController();
  const cut = await runRound(options, { signal: cancel.signal, onStep: (m) => m.step === 3 && cancel.abort() });
  assert.equal(cut.cancelled, true);
  assert.equal(await checkpointStep(folder), 3, 'the cancel wrote a checkpoint although 25 steps were not reached');
  assert.equal(runsOf(db)[0]!.run.status, 'cancelled');

  // how the steps are computed is not part of what a checkpoint must agree on
  const resumed = await runRound({ ...options, training: { ...training, recompute: 'layers', checkpoint: { dir: folder, every: 25, resume: true } } });
  assert.equal(resumed.runId, cut.runId);
  assert.equal(resumed.resumedAfter, 3);
  assert.equal(resumed.cancelled, false);
  const [run] = runsOf(db);
  assert.equal(run!.run.status, 'done');
  assert.equal(run!.train.length, 12);
});

test('resuming refuses, naming the folder, a checkpoint trained on other weights', async () => {
  const db = await storeWith('other-model', pairsOf(0, 2));
  const folder = join(dir, 'other-model-checkpoint');
  writeRoundRecord(folder, {
    runId: null,
    database: db,
    pairIds: [1, 2],
    modelDir: '/models/elsewhere',
    baseModelHash: 'not-this-model',
    outDir: join(dir, 'other-model-adapter'),
    training,
    totalSteps: 2,
    startedAt: new Date().toISOString(),
  });
  await assert.rejects(
    runRound({ modelDir: model, outDir: join(dir, 'other-model-adapter'), database: db, training: { ...training, checkpoint: { dir: folder, every: 2, resume: true } } }),
    (e: Error) => e.name === 'RoundInputError' && e.message.startsWith(`${folder}: `) && /other weights/.test(e.message) && !e.message.includes('\n'),
  );
});

test('resuming refuses, naming the folder, a round whose store run already finished', async () => {
  const db = await storeWith('finished', pairsOf(0, 2));
  const store = openStore(db);
  const runId = store.startTrainingRun({ baseModelHash: 'sha' });
  store.finishTrainingRun(runId, 'done');
  store.close();
  const folder = join(dir, 'finished-checkpoint');
  writeRoundRecord(folder, {
    runId,
    database: db,
    pairIds: [1, 2],
    modelDir: model,
    baseModelHash: (await loadCheckpoint(model)).hash,
    outDir: join(dir, 'finished-adapter'),
    training,
    totalSteps: 2,
    startedAt: new Date().toISOString(),
  });
  const options = { modelDir: model, outDir: join(dir, 'finished-adapter'), database: db, training: { ...training, checkpoint: { dir: folder, every: 2, resume: true } } };
  await assert.rejects(
    runRound(options),
    (e: Error) => e.name === 'RoundInputError' && e.message === `${folder}: round ${runId} already finished; remove this folder`,
  );
  assert.equal(runsOf(db)[0]!.run.status, 'done', 'the finished run is left as it was');
});

test('a run owner is alive while its process runs, and gone once it has exited', () => {
  assert.equal(processAlive(thisProcess()), true);
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const exited = { host: thisProcess().host, pid: Number(child.stdout) };
  assert.ok(exited.pid > 0);
  assert.equal(processAlive(exited), false);
  assert.equal(processAlive({ host: 'another-machine', pid: exited.pid }), true, 'a process elsewhere cannot be checked');
});
