import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openStore } from '../../../src/store/store.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('ties');

describe('ties', () => {
  it('reads tie and both-bad judgments with every candidate shown, in shown order', () => {
    const store = openStore(join(dir, 'shown.sqlite'));
    const candidates = ['b', 'a', 'c'].map((text) => ({ text, modelId: 'm' }));
    store.recordJudgment({ prompt: { prefix: 'x = ', language: 'python' }, candidates, outcome: { kind: 'tie' } });
    store.recordJudgment({ prompt: { prefix: 'y = ' }, candidates, outcome: { kind: 'pick', chosenIndex: 0 } });
    store.recordJudgment({ prompt: { prefix: 'z = ' }, candidates, outcome: { kind: 'both_bad' } });
    const ties = [...store.iterateTies()];
    assert.deepEqual(
      ties.map((t) => [t.outcome, t.prefix, t.completions]),
      [
        ['tie', 'x = ', ['b', 'a', 'c']],
        ['both_bad', 'z = ', ['b', 'a', 'c']],
      ],
    );
    assert.deepEqual(
      [...store.iterateTies({ languages: ['python'] })].map((t) => t.prefix),
      ['x = '],
    );
    store.close();
  });

  it('refuses a date that is not ISO 8601, as the pair filter does', () => {
    const store = openStore(join(dir, 'dates.sqlite'));
    const candidates = ['a', 'b'].map((text) => ({ text, modelId: 'm' }));
    store.recordJudgment({ prompt: { prefix: 'x = ' }, candidates, outcome: { kind: 'tie' } });
    for (const filter of [{ since: 'last week' }, { until: '' }, { until: '01/02/2025' }]) {
      assert.throws(() => [...store.iteratePairs(filter)], /is not ISO 8601/, 'pairs');
      assert.throws(() => [...store.iterateTies(filter)], /is not ISO 8601/, `ties ${JSON.stringify(filter)}`);
    }
    assert.equal([...store.iterateTies({ since: '2000-01-01', until: '9999-12-31T00:00:00Z' })].length, 1);
    assert.equal([...store.iterateTies({ until: '2000-01-01' })].length, 0);
    store.close();
  });
});
