import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openStore } from '../../../src/store/store.ts';
import { connectionOf } from '../../../src/store/connection.ts';

const dir = mkdtempSync(join(tmpdir(), 'prefer-ab-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('blind A/B record of an adapter', () => {
  it('counts wins, losses and ties from blind A/B judgments only, and stores them in the adapter metrics', () => {
    const store = openStore(join(dir, 'ab.sqlite'));
    const adapter = store.registerAdapter({
      path: '/adapters/v1',
      baseModelHash: 'h',
      metrics: { loss: 0.5 },
    });
    const candidates = (i: number) => [
      { text: `base ${i}`, modelId: 'm' },
      { text: `tuned ${i}`, modelId: 'm', adapterId: adapter.id },
    ];
    const prompt = (i: number) => ({ prefix: `p${i}`, language: 'typescript' });
    const judge = (
      i: number,
      outcome: Parameters<typeof store.recordJudgment>[0]['outcome'],
      mode: 'compare' | 'blind-ab' = 'blind-ab',
    ) => store.recordJudgment({ prompt: prompt(i), candidates: candidates(i), outcome, mode });

    judge(1, { kind: 'pick', chosenIndex: 1 }); // adapter wins
    judge(2, { kind: 'ranking', order: [1, 0] }); // adapter wins
    judge(3, { kind: 'pick', chosenIndex: 0 }); // base wins
    judge(4, { kind: 'tie' });
    judge(5, { kind: 'skip' }); // neither
    judge(6, { kind: 'pick', chosenIndex: 0 }, 'compare'); // not blind: not counted
    const record = store.updateAbRecord(adapter.id);
    assert.deepEqual(record, { wins: 2, losses: 1, ties: 1, winRate: 2 / 3 });
    const metrics = store.adapters()[0]!.metrics!;
    assert.equal(metrics['ab/win_rate'], 2 / 3);
    assert.equal(metrics.loss, 0.5, 'training metrics are kept');
    store.close();
  });

  it('has no win-rate before the first decided comparison', () => {
    const store = openStore(join(dir, 'empty.sqlite'));
    const adapter = store.registerAdapter({ path: '/a', baseModelHash: 'h' });
    assert.deepEqual(store.updateAbRecord(adapter.id), { wins: 0, losses: 0, ties: 0, winRate: null });
    store.close();
  });

  it('deleting an adapter keeps its row for provenance but lists and activates it no more', () => {
    const store = openStore(join(dir, 'delete.sqlite'));
    const a = store.registerAdapter({ path: '/a', baseModelHash: 'h' });
    const b = store.registerAdapter({ path: '/b', baseModelHash: 'h' });
    store.activateAdapter(b.id);
    store.deleteAdapter(b.id);
    assert.deepEqual(
      store.adapters().map((x) => x.id),
      [a.id],
    );
    assert.equal(store.activeAdapter(), undefined);
    assert.deepEqual(connectionOf(store).prepare('SELECT count(*) AS n FROM adapter').get(), { n: 2 });
    assert.throws(() => store.deleteAdapter(999), /no adapter with id 999/);
    assert.throws(
      () => store.activateAdapter(b.id),
      /no adapter with id/,
      'a deleted adapter cannot be activated',
    );
    store.close();
  });
});
