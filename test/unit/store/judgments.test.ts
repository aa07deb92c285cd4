import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { preferencesOf } from '../../../src/store/judgments.ts';
import { openStore, type Store } from '../../../src/store/store.ts';
import { tempDir } from './helpers/tempDir.ts';
import { connectionOf } from '../../../src/store/connection.ts';

const dir = tempDir('judgments');
let n = 0;
const fresh = (): Store => openStore(join(dir, `j${n++}.sqlite`));

const prompt = {
  workspace: 'ws',
  filePath: '/ws/a.ts',
  language: 'typescript',
  prefix: 'const x = ',
  suffix: ';\n',
};
const candidates = ['a', 'b', 'c', 'd'].map((text, i) => ({ text, modelId: 'm', seed: i }));

const pairTexts = (store: Store) =>
  [...store.iteratePairs({ includeDisagreements: true })].map((p) => `${p.chosen}>${p.rejected}`).sort();

describe('judgments', () => {
  it('turns a full ranking of k candidates into its k(k-1)/2 pairs', () => {
    const store = fresh();
    const r = store.recordJudgment({ prompt, candidates, outcome: { kind: 'ranking', order: [2, 0, 3, 1] } });
    assert.equal(r.pairsAdded, 6);
    assert.deepEqual(pairTexts(store), ['a>b', 'a>d', 'c>a', 'c>b', 'c>d', 'd>b']);
    const row = connectionOf(store).prepare('SELECT outcome, ranking, chosen_id FROM comparison').get() as {
      outcome: string;
      ranking: string;
      chosen_id: number;
    };
    assert.equal(row.outcome, 'ranking');
    assert.deepEqual(
      JSON.parse(row.ranking),
      [2, 0, 3, 1].map((i) => r.candidateIds[i]),
    );
    assert.equal(row.chosen_id, r.candidateIds[2]);
    store.close();
  });

  it('computes ranking preferences for k = 2 … 6 as k(k-1)/2 distinct ordered pairs', () => {
    for (let k = 2; k <= 6; k++) {
      const order = [...Array(k).keys()].reverse();
      const prefs = preferencesOf({ kind: 'ranking', order }, k);
      assert.equal(prefs.length, (k * (k - 1)) / 2);
      for (const [better, worse] of prefs) assert.ok(order.indexOf(better) < order.indexOf(worse));
    }
  });

  it('stores an edited answer as a candidate chosen over every shown candidate', () => {
    const store = fresh();
    const r = store.recordJudgment({
      prompt,
      candidates: candidates.slice(0, 3),
      outcome: { kind: 'edited', text: 'mine' },
      rationale: 'none were right',
    });
    assert.equal(r.pairsAdded, 3);
    assert.deepEqual(pairTexts(store), ['mine>a', 'mine>b', 'mine>c']);
    const edit = connectionOf(store)
      .prepare('SELECT text, model_id FROM candidate WHERE id = ?')
      .get(r.editedCandidateId) as {
      text: string;
      model_id: string;
    };
    assert.deepEqual(edit, { text: 'mine', model_id: 'user-edit' });
    const c = connectionOf(store).prepare('SELECT outcome, chosen_id, rationale, shown_order FROM comparison').get() as {
      outcome: string;
      chosen_id: number;
      rationale: string;
      shown_order: string;
    };
    assert.equal(c.outcome, 'edited');
    assert.equal(c.chosen_id, r.editedCandidateId);
    assert.equal(c.rationale, 'none were right');
    assert.deepEqual(JSON.parse(c.shown_order), r.candidateIds, 'the edit was not shown');
    store.close();
  });

  for (const kind of ['tie', 'both_bad', 'skip'] as const) {
    it(`records a ${kind} as a comparison with no pairs`, () => {
      const store = fresh();
      const r = store.recordJudgment({ prompt, candidates: candidates.slice(0, 2), outcome: { kind } });
      assert.equal(r.pairsAdded, 0);
      const s = store.stats();
      assert.equal(s.pairs, 0);
      assert.deepEqual(s.comparisonsByOutcome, { [kind]: 1 });
      assert.equal(s.candidates, 2);
      store.close();
    });
  }

  it('stores sampling provenance with each candidate', () => {
    const store = fresh();
    const adapter = store.registerAdapter({ path: '/a/v1', baseModelHash: 'h' });
    const r = store.recordJudgment({
      prompt,
      candidates: [
        {
          text: 'a',
          modelId: 'qwen',
          tokenCount: 3,
          logprob: -2.5,
          samplingParams: { temperature: 0.9, topP: 0.95 },
          seed: 7,
          adapterId: adapter.id,
        },
        { text: 'b', modelId: 'qwen' },
      ],
      outcome: { kind: 'pick', chosenIndex: 0 },
    });
    const row = connectionOf(store)
      .prepare(
        'SELECT model_id, token_count, logprob, sampling_params, seed, adapter_id, created_at FROM candidate WHERE id = ?',
      )
      .get(r.candidateIds[0]) as Record<string, unknown>;
    assert.equal(row.model_id, 'qwen');
    assert.equal(row.token_count, 3);
    assert.equal(row.logprob, -2.5);
    assert.deepEqual(JSON.parse(row.sampling_params as string), { temperature: 0.9, topP: 0.95 });
    assert.equal(row.seed, 7);
    assert.equal(row.adapter_id, adapter.id);
    assert.match(row.created_at as string, /^\d{4}-\d\d-\d\dT/);
    store.close();
  });

  it('stores the same judgment twice as two comparisons but one set of pairs', () => {
    const store = fresh();
    const first = store.recordJudgment({ prompt, candidates, outcome: { kind: 'pick', chosenIndex: 0 } });
    const second = store.recordJudgment({ prompt, candidates, outcome: { kind: 'pick', chosenIndex: 0 } });
    assert.equal(first.pairsAdded, 3);
    assert.equal(second.pairsAdded, 0);
    const s = store.stats();
    assert.equal(s.comparisons, 2);
    assert.equal(s.pairs, 3);
    // A different source is a different opinion and is stored beside it.
    const implicit = store.recordJudgment({
      prompt,
      candidates,
      outcome: { kind: 'pick', chosenIndex: 0 },
      source: 'implicit',
      confidence: 0.5,
    });
    assert.equal(implicit.pairsAdded, 3);
    assert.deepEqual(store.stats().pairsBySource, { human: 3, implicit: 3 });
    store.close();
  });

  it('stores no pair between two identical texts', () => {
    const store = fresh();
    const r = store.recordJudgment({
      prompt,
      candidates: [
        { text: 'same', modelId: 'm' },
        { text: 'same', modelId: 'm' },
        { text: 'other', modelId: 'm' },
      ],
      outcome: { kind: 'ranking', order: [0, 1, 2] },
    });
    assert.equal(r.pairsAdded, 1);
    assert.deepEqual(pairTexts(store), ['same>other']);
    store.close();
  });

  const invalid: [string, Parameters<Store['recordJudgment']>[0], RegExp][] = [
    [
      'a ranking that leaves a candidate out',
      { prompt, candidates, outcome: { kind: 'ranking', order: [0, 1, 2] } },
      /order all 4/,
    ],
    [
      'a ranking that names a candidate twice',
      { prompt, candidates, outcome: { kind: 'ranking', order: [0, 1, 1, 2] } },
      /twice/,
    ],
    ['an empty edited answer', { prompt, candidates, outcome: { kind: 'edited', text: '  ' } }, /non-empty/],
    [
      'a pick of one candidate',
      { prompt, candidates: candidates.slice(0, 1), outcome: { kind: 'pick', chosenIndex: 0 } },
      /at least two/,
    ],
    [
      'an unknown outcome',
      { prompt, candidates, outcome: { kind: 'maybe' } as never },
      /unknown outcome 'maybe'/,
    ],
    [
      'a candidate without a model id',
      { prompt, candidates: [{ text: 'a', modelId: '' }, candidates[1]!], outcome: { kind: 'tie' } },
      /candidate 0: modelId/,
    ],
  ];
  for (const [what, input, message] of invalid) {
    it(`rejects ${what} and writes nothing`, () => {
      const store = fresh();
      assert.throws(() => store.recordJudgment(input), message);
      const s = store.stats();
      assert.deepEqual([s.prompts, s.candidates, s.comparisons, s.pairs], [0, 0, 0, 0]);
      store.close();
    });
  }
});
