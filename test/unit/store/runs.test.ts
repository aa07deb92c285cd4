import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openStore, TRL_METRIC_NAMES, type Store } from '../../../src/store/store.ts';
import { tempDir } from './helpers/tempDir.ts';
import { connectionOf } from '../../../src/store/connection.ts';

const dir = tempDir('runs');
let n = 0;
const fresh = (): Store => openStore(join(dir, `r${n++}.sqlite`));

describe('labeler runs, training runs and adapters', () => {
  it('records a labeler run, its scores and its outcome', () => {
    const store = fresh();
    const { candidateIds } = store.recordJudgment({
      prompt: { prefix: 'x' },
      candidates: [
        { text: '1', modelId: 'm' },
        { text: '2', modelId: 'm' },
      ],
      outcome: { kind: 'skip' },
    });
    const run = store.startLabelerRun('compile', { tsconfig: 'default' });
    assert.equal(store.labelerRun(run)!.status, 'running');
    store.recordLabelScore(run, candidateIds[0]!, 0);
    store.recordLabelScore(run, candidateIds[1]!, 3, 'TS2322 …');
    store.finishLabelerRun(run, { status: 'done', candidatesScored: 2, pairsAdded: 1 });
    const stored = store.labelerRun(run)!;
    assert.equal(stored.labeler, 'compile');
    assert.deepEqual(stored.config, { tsconfig: 'default' });
    assert.equal(stored.status, 'done');
    assert.equal(stored.candidatesScored, 2);
    assert.equal(stored.pairsAdded, 1);
    assert.ok(stored.finishedAt);
    const scores = connectionOf(store).prepare('SELECT score, detail FROM label_score ORDER BY candidate_id').all();
    assert.deepEqual(scores, [
      { score: 0, detail: null },
      { score: 3, detail: 'TS2322 …' },
    ]);
    assert.throws(() => store.recordLabelScore(run, 999, 1), /FOREIGN KEY/);
    store.close();
  });

  it('records training runs with TRL-named metrics per step and split', () => {
    const store = fresh();
    const run = store.startTrainingRun({ baseModelHash: 'sha-base', config: { beta: 0.1, loss: 'sigmoid' } });
    const metrics = Object.fromEntries(TRL_METRIC_NAMES.map((name, i) => [name, i / 10]));
    store.recordTrainingStep(run, 'train', 1, metrics);
    store.recordTrainingStep(run, 'train', 2, { loss: 0.5 });
    store.recordTrainingStep(run, 'train', 2, { loss: 0.4 }); // resumed: the step is recorded again
    store.recordTrainingStep(run, 'eval', 2, { loss: 0.45, 'rewards/accuracies': 0.75 });
    assert.deepEqual(store.trainingSteps(run, 'train'), [
      { step: 1, metrics },
      { step: 2, metrics: { loss: 0.4 } },
    ]);
    assert.deepEqual(store.trainingSteps(run, 'eval'), [
      { step: 2, metrics: { loss: 0.45, 'rewards/accuracies': 0.75 } },
    ]);
    assert.throws(
      () => store.recordTrainingStep(run, 'train', 3, { accuracy: 1 } as never),
      /unknown training metric 'accuracy'/,
    );
    assert.throws(() => store.recordTrainingStep(run, 'train', -1, { loss: 1 }), /non-negative/);
    const adapter = store.registerAdapter({ path: '/adapters/v1', baseModelHash: 'sha-base' });
    store.finishTrainingRun(run, 'done', adapter.id);
    const stored = store.trainingRun(run)!;
    assert.deepEqual(
      [stored.status, stored.adapterId, stored.config],
      ['done', adapter.id, { beta: 0.1, loss: 'sigmoid' }],
    );
    store.close();
  });

  it('numbers adapters by version and keeps at most one active', () => {
    const store = fresh();
    const v1 = store.registerAdapter({
      path: '/adapters/v1',
      baseModelHash: 'sha-base',
      dataFrom: '2025-01-01T00:00:00Z',
      dataTo: '2025-02-01T00:00:00Z',
      pairCount: 120,
      metrics: { 'rewards/accuracies': 0.7 },
    });
    const v2 = store.registerAdapter({ path: '/adapters/v2', baseModelHash: 'sha-base' });
    assert.deepEqual([v1.version, v2.version], [1, 2]);
    assert.equal(store.activeAdapter(), undefined);
    store.activateAdapter(v1.id);
    assert.equal(store.activeAdapter()!.id, v1.id);
    store.activateAdapter(v2.id);
    assert.deepEqual(
      store.adapters().map((a) => [a.version, a.active]),
      [
        [1, false],
        [2, true],
      ],
    );
    assert.deepEqual(store.adapters()[0]!.metrics, { 'rewards/accuracies': 0.7 });
    assert.equal(store.adapters()[0]!.pairCount, 120);
    assert.throws(() => store.activateAdapter(99), /no adapter with id 99/);
    assert.equal(store.activeAdapter()!.id, v2.id, 'a failed activation changes nothing');
    assert.throws(() => connectionOf(store).prepare('UPDATE adapter SET active = 1').run(), /UNIQUE/);
    store.activateAdapter(undefined);
    assert.equal(store.activeAdapter(), undefined);
    assert.equal(store.stats().adapters, 2);
    store.close();
  });
});
