import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { migrate } from '../../../src/store/migrations.ts';
import { openStore } from '../../../src/store/store.ts';
import { tempDir } from './helpers/tempDir.ts';
import { connectionOf } from '../../../src/store/connection.ts';

const dir = tempDir('interrupted-runs');

describe('interrupted training runs', () => {
  it('upgrades a version 3 store: its runs and their metrics kept, and a run can then be marked interrupted', () => {
    const file = join(dir, 'v3.sqlite');
    const db = new Database(file);
    db.pragma('foreign_keys = ON');
    migrate(db, 3);
    db.prepare(
      "INSERT INTO training_run (base_model_hash, config, status) VALUES ('sha', '{\"beta\":0.1}', 'running')",
    ).run();
    db.prepare("INSERT INTO training_metric VALUES (1, 'train', 1, 'loss', 0.69)").run();
    assert.throws(
      () => db.prepare("UPDATE training_run SET status = 'interrupted'").run(),
      /CHECK constraint/,
    );
    db.close();

    const store = openStore(file);
    try {
      assert.equal(
        connectionOf(store).pragma('foreign_keys', { simple: true }),
        1,
        'foreign keys are back on after the rebuild',
      );
      assert.deepEqual(connectionOf(store).pragma('foreign_key_check'), []);
      assert.deepEqual(store.trainingSteps(1, 'train'), [{ step: 1, metrics: { loss: 0.69 } }]);
      assert.deepEqual(store.trainingRun(1)!.config, { beta: 0.1 });
      // a run without an owner was started by an earlier Prefer: nobody is training it any more
      assert.deepEqual(
        store.interruptOrphanedTrainingRuns(() => true),
        [1],
      );
      assert.equal(store.trainingRun(1)!.status, 'interrupted');
      assert.ok(store.trainingRun(1)!.finishedAt);
      assert.throws(
        () => connectionOf(store).prepare("INSERT INTO training_metric VALUES (99, 'train', 1, 'loss', 1)").run(),
        /FOREIGN KEY/,
      );
    } finally {
      store.close();
    }
  });

  it('marks only the running runs whose owner is gone', () => {
    const store = openStore(join(dir, 'owners.sqlite'));
    try {
      const live = store.startTrainingRun({ baseModelHash: 'sha', owner: { host: 'h', pid: 10 } });
      const dead = store.startTrainingRun({ baseModelHash: 'sha', owner: { host: 'h', pid: 11 } });
      const done = store.startTrainingRun({ baseModelHash: 'sha', owner: { host: 'h', pid: 11 } });
      store.finishTrainingRun(done, 'done');
      const asked: number[] = [];
      const marked = store.interruptOrphanedTrainingRuns(
        (owner) => (asked.push(owner.pid), owner.pid === 10),
      );
      assert.deepEqual(marked, [dead]);
      assert.deepEqual(asked.sort(), [10, 11], 'finished runs are not looked at');
      assert.deepEqual(
        [live, dead, done].map((id) => store.trainingRun(id)!.status),
        ['running', 'interrupted', 'done'],
      );
      assert.deepEqual(store.stats().trainingRunsByStatus, { done: 1, interrupted: 1, running: 1 });
      assert.equal(store.interruptTrainingRun(done), false, 'a finished run keeps its status');
      assert.equal(store.interruptTrainingRun(live), true);
    } finally {
      store.close();
    }
  });

  it('reopens a run to resume it after a step, forgetting what the dead attempt recorded past it', () => {
    const store = openStore(join(dir, 'resume.sqlite'));
    try {
      const run = store.startTrainingRun({ baseModelHash: 'sha' });
      for (const step of [1, 2, 3, 4]) store.recordTrainingStep(run, 'train', step, { loss: step });
      store.recordTrainingStep(run, 'eval', 4, { loss: 9 });
      const adapter = store.registerAdapter({ path: '/a/partial', baseModelHash: 'sha' });
      store.finishTrainingRun(run, 'cancelled', adapter.id);
      store.resumeTrainingRun(run, 2, { host: 'h', pid: 7 });
      const reopened = store.trainingRun(run)!;
      assert.deepEqual([reopened.status, reopened.adapterId, reopened.finishedAt], ['running', null, null]);
      assert.deepEqual(
        store.trainingSteps(run, 'train').map((s) => s.step),
        [1, 2],
      );
      assert.deepEqual(store.trainingSteps(run, 'eval'), []);
      assert.deepEqual(
        store.interruptOrphanedTrainingRuns((o) => o.pid !== 7),
        [run],
        'the new owner was recorded',
      );
      assert.throws(() => store.resumeTrainingRun(999, 0), /training run 999 is not in the store/);
    } finally {
      store.close();
    }
  });
});
