import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type RoundRecord, writeCheckpoint, writeRoundRecord } from '../../../src/dpo/checkpoint.ts';
import { pairFilter } from '../../../src/rounds/plan.ts';
import { interruptAfterCrash, interruptedRounds, roundsOfModel } from '../../../src/rounds/resume.ts';
import { thisProcess } from '../../../src/rounds/round.ts';
import { openStore } from '../../../src/store/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'prefer-rounds-resume-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A round folder under `root` with its record and, at `step`, a checkpoint. */
function roundFolder(root: string, name: string, record: Partial<RoundRecord>, step?: number): string {
  const folder = join(root, name);
  writeRoundRecord(folder, {
    runId: null,
    database: null,
    pairIds: [1],
    modelDir: join(dir, 'model'),
    baseModelHash: 'h',
    outDir: join(dir, `adapter-${name}`),
    training: {},
    totalSteps: 4,
    startedAt: new Date(0).toISOString(),
    ...record,
  });
  if (step !== undefined) writeCheckpoint(folder, { step, fingerprint: 'f', tensors: new Map(), history: [] }, new Map());
  return folder;
}

describe('interrupted rounds', () => {
  it('finds the resumable rounds of a store, newest first, and clears the stale ones', async () => {
    const database = join(dir, 'prefer.sqlite');
    const store = openStore(database);
    try {
      const root = join(dir, 'checkpoints');
      const run = () => store.startTrainingRun({ baseModelHash: 'h', owner: thisProcess() });
      const [done, older, newer, live, early, elsewhere] = [run(), run(), run(), run(), run(), run()];
      store.finishTrainingRun(done, 'done');
      store.interruptTrainingRun(older);
      store.interruptTrainingRun(early);
      const stale = roundFolder(root, 'done', { runId: done, database }, 2);
      roundFolder(root, 'older', { runId: older, database }, 1);
      // the same store, named another way
      roundFolder(root, 'newer', { runId: newer, database: join(dir, '.', 'prefer.sqlite') }, 3);
      roundFolder(root, 'live', { runId: live, database }, 3);
      const noCheckpoint = roundFolder(root, 'early', { runId: early, database });
      const foreign = roundFolder(root, 'elsewhere', { runId: elsewhere, database: join(dir, 'other.sqlite') }, 1);
      mkdirSync(join(root, 'damaged'));
      writeFileSync(join(root, 'damaged', 'round.json'), '{');
      const warnings: string[] = [];

      const found = await interruptedRounds(root, store, database, new Set([live]), (m) => warnings.push(m));

      assert.deepEqual(found.map((r) => [r.runId, r.step]), [[newer, 3], [older, 1]]);
      assert.ok(!existsSync(stale), 'a finished round’s folder is removed');
      assert.ok(!existsSync(noCheckpoint), 'an interrupted round without a checkpoint has nothing to resume');
      assert.ok(existsSync(foreign), 'another store’s folder is left alone');
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /skipped .*damaged: .*not a round record/);
      assert.deepEqual(roundsOfModel(found, join(dir, 'model/')).length, 2);
      assert.deepEqual(roundsOfModel(found, join(dir, 'other-model')), []);
    } finally {
      store.close();
    }
  });

  it('an empty or missing folder has no interrupted rounds', async () => {
    const store = openStore(join(dir, 'empty.sqlite'));
    try {
      assert.deepEqual(await interruptedRounds(join(dir, 'none'), store, join(dir, 'empty.sqlite'), new Set(), () => assert.fail()), []);
    } finally {
      store.close();
    }
  });

  it('marks a round whose worker died interrupted, with the step its checkpoint reached', async () => {
    const store = openStore(join(dir, 'crash.sqlite'));
    try {
      const checkpointed = store.startTrainingRun({ baseModelHash: 'h', owner: thisProcess() });
      const folder = roundFolder(join(dir, 'crash'), 'a', { runId: checkpointed }, 6);
      assert.deepEqual(await interruptAfterCrash(store, checkpointed, folder), { step: 6 });
      assert.equal(store.trainingRun(checkpointed)!.status, 'interrupted');
      assert.equal(await interruptAfterCrash(store, checkpointed, folder), undefined, 'a run that already ended stays as it is');

      const early = store.startTrainingRun({ baseModelHash: 'h', owner: thisProcess() });
      assert.deepEqual(await interruptAfterCrash(store, early, join(dir, 'crash', 'nothing')), { step: undefined });
      const unsaved = store.startTrainingRun({ baseModelHash: 'h', owner: thisProcess() });
      assert.deepEqual(await interruptAfterCrash(store, unsaved, undefined), { step: undefined });
    } finally {
      store.close();
    }
  });

  it('chooses the pairs of a round from the editor by range', () => {
    const store = openStore(join(dir, 'filter.sqlite'));
    try {
      const now = Date.parse('2025-03-08T00:00:00.000Z');
      assert.deepEqual(pairFilter('all', store, now), {});
      assert.deepEqual(pairFilter('last-week', store, now), { since: '2025-03-01T00:00:00.000Z' });
      assert.deepEqual(pairFilter('since-adapter', store, now), {}, 'no adapter yet: every pair');
      const adapter = store.registerAdapter({ path: join(dir, 'a'), baseModelHash: 'h', pairCount: 1, metrics: {} });
      store.activateAdapter(adapter.id);
      assert.deepEqual(pairFilter('since-adapter', store, now), { since: adapter.createdAt });
    } finally {
      store.close();
    }
  });
});
