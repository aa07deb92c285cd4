import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { connectionOf } from '../../../src/store/connection.ts';
import { HELD_OUT_PAIRS, openStore, type Store } from '../../../src/store/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'prefer-stats-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const texts = (i: number, n: number) => Array.from({ length: n }, (_, k) => ({ text: `c${i}.${k}`, modelId: 'm' }));

/** Pick (2 pairs, typescript), ranking (3 pairs, python), tie (none), 2 imported pairs (no language). */
function fill(store: Store): void {
  store.recordJudgment({ prompt: { prefix: 'a', language: 'typescript' }, candidates: texts(1, 3), outcome: { kind: 'pick', chosenIndex: 0 } });
  store.recordJudgment({ prompt: { prefix: 'b', language: 'python' }, candidates: texts(2, 3), outcome: { kind: 'ranking', order: [2, 0, 1] } });
  store.recordJudgment({ prompt: { prefix: 'c', language: 'python' }, candidates: texts(3, 2), outcome: { kind: 'tie' } });
  const add = store.pairImporter({ source: 'imported', confidence: 1, modelId: 'file' });
  add([
    { prefix: 'd', suffix: '', chosen: 'x', rejected: 'y' },
    { prefix: 'e', suffix: '', chosen: 'x', rejected: 'y' },
  ]);
}

describe('the stats report', () => {
  it('counts pairs by source, outcome (none for imports) and language', () => {
    const store = openStore(join(dir, 'counts.sqlite'));
    fill(store);
    const r = store.statsReport();
    assert.equal(r.pairs, 7);
    assert.deepEqual(r.pairsBySource, { human: 5, imported: 2 });
    assert.deepEqual(r.pairsByOutcome, { none: 2, pick: 2, ranking: 3 });
    assert.deepEqual(r.pairsByLanguage, { python: 3, typescript: 2, unknown: 2 });
    assert.deepEqual(r.comparisonsByOutcome, { pick: 1, ranking: 1, tie: 1 });
    store.close();
  });

  it('gives new pairs per UTC day, oldest first', () => {
    const store = openStore(join(dir, 'days.sqlite'));
    fill(store);
    const db = connectionOf(store);
    db.prepare("UPDATE pair SET created_at = '2026-03-02T23:59:59.000Z' WHERE id <= 3").run();
    db.prepare("UPDATE pair SET created_at = '2026-03-01T00:00:00.000Z' WHERE id = 7").run();
    db.prepare("UPDATE pair SET created_at = '2026-03-05T10:00:00.000Z' WHERE id IN (4, 5, 6)").run();
    assert.deepEqual(store.statsReport().pairsByDay, [
      { day: '2026-03-01', pairs: 1 },
      { day: '2026-03-02', pairs: 3 },
      { day: '2026-03-05', pairs: 3 },
    ]);
    store.close();
  });

  it('lists training runs newest first with their steps, adapter and last held-out accuracy and n', () => {
    const store = openStore(join(dir, 'runs.sqlite'));
    const done = store.startTrainingRun({ baseModelHash: 'h' });
    for (const step of [1, 2, 3]) store.recordTrainingStep(done, 'train', step, { loss: 0.7 - step / 10 });
    store.recordTrainingStep(done, 'eval', 2, { 'rewards/accuracies': 0.5, loss: 0.69 });
    store.recordTrainingStep(done, 'eval', 3, { 'rewards/accuracies': 0.75, loss: 0.6 });
    const adapter = store.registerAdapter({ path: '/a/v1', baseModelHash: 'h', metrics: { [HELD_OUT_PAIRS]: 8 } });
    store.finishTrainingRun(done, 'done', adapter.id);
    const failed = store.startTrainingRun({ baseModelHash: 'h' });
    store.recordTrainingStep(failed, 'train', 1, { loss: 0.7 });
    store.finishTrainingRun(failed, 'failed');
    const old = store.startTrainingRun({ baseModelHash: 'h' });
    store.recordTrainingStep(old, 'eval', 1, { 'rewards/accuracies': 1 });
    store.finishTrainingRun(old, 'done', store.registerAdapter({ path: '/a/v2', baseModelHash: 'h' }).id);

    const runs = store.statsReport().runs;
    assert.deepEqual(
      runs.map(({ id, status, adapterVersion, steps, heldOut }) => ({ id, status, adapterVersion, steps, heldOut })),
      [
        { id: old, status: 'done', adapterVersion: 2, steps: 0, heldOut: { accuracy: 1, loss: null, pairs: null } },
        { id: failed, status: 'failed', adapterVersion: null, steps: 1, heldOut: null },
        { id: done, status: 'done', adapterVersion: 1, steps: 3, heldOut: { accuracy: 0.75, loss: 0.6, pairs: 8 } },
      ],
    );
    assert.match(runs[2]!.startedAt, /^\d{4}-\d\d-\d\dT/);
    assert.notEqual(runs[2]!.finishedAt, null);
    store.close();
  });

  it("gives each adapter's blind A/B wins, losses and ties without writing, leaving out adapters never judged blind", () => {
    const store = openStore(join(dir, 'ab.sqlite'));
    const judged = store.registerAdapter({ path: '/a/v1', baseModelHash: 'h' });
    store.registerAdapter({ path: '/a/v2', baseModelHash: 'h' });
    const gone = store.registerAdapter({ path: '/a/v3', baseModelHash: 'h' });
    store.activateAdapter(judged.id);
    const blind = (i: number, adapterId: number, outcome: Parameters<Store['recordJudgment']>[0]['outcome']) =>
      store.recordJudgment({
        prompt: { prefix: `ab${i}` },
        candidates: [
          { text: `base ${i}`, modelId: 'm' },
          { text: `tuned ${i}`, modelId: 'm', adapterId },
        ],
        outcome,
        mode: 'blind-ab',
      });
    blind(1, judged.id, { kind: 'pick', chosenIndex: 1 });
    blind(2, judged.id, { kind: 'pick', chosenIndex: 1 });
    blind(3, judged.id, { kind: 'pick', chosenIndex: 0 });
    blind(4, judged.id, { kind: 'tie' });
    blind(5, gone.id, { kind: 'pick', chosenIndex: 1 });
    store.deleteAdapter(gone.id);
    const before = connectionOf(store).prepare('SELECT metrics FROM adapter WHERE id = ?').get(judged.id);

    assert.deepEqual(store.statsReport().abRecords, [{ version: 1, active: true, wins: 2, losses: 1, ties: 1 }]);
    assert.deepEqual(connectionOf(store).prepare('SELECT metrics FROM adapter WHERE id = ?').get(judged.id), before, 'nothing written');
    store.close();
  });

  it('is empty, not an error, for a new store', () => {
    const store = openStore(join(dir, 'empty.sqlite'));
    const r = store.statsReport();
    assert.deepEqual([r.pairs, r.pairsByDay, r.pairsByOutcome, r.runs, r.abRecords], [0, [], {}, [], []]);
    store.close();
  });
});
