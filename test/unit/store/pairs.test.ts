import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { insertPair } from '../../../src/store/pairs.ts';
import { upsertPrompt } from '../../../src/store/prompts.ts';
import { insertCandidate } from '../../../src/store/candidates.ts';
import { openStore, type Store } from '../../../src/store/store.ts';
import { tempDir } from './helpers/tempDir.ts';
import { connectionOf } from '../../../src/store/connection.ts';

const dir = tempDir('pairs');
let n = 0;
const fresh = (): Store => openStore(join(dir, `p${n++}.sqlite`));

const ts = { language: 'typescript', prefix: 'let a = ', workspace: 'ws', filePath: '/ws/a.ts' };
const py = { language: 'python', prefix: 'a = ' };

/** Stores a machine label "chosen over rejected" for the prompt, as a labeler run would. */
function labelerPair(store: Store, prompt: typeof ts, chosen: string, rejected: string): boolean {
  const p = upsertPrompt(connectionOf(store), prompt);
  const run = store.startLabelerRun('parse');
  return insertPair(connectionOf(store), {
    promptId: p.id,
    promptHash: p.hash,
    chosenId: insertCandidate(connectionOf(store), p.id, { text: chosen, modelId: 'm' }),
    chosenText: chosen,
    rejectedId: insertCandidate(connectionOf(store), p.id, { text: rejected, modelId: 'm' }),
    rejectedText: rejected,
    source: 'parse',
    confidence: 0.9,
    labelerRunId: run,
  });
}

describe('pairs', () => {
  it('streams pairs with their prompt, texts and provenance, filtered by source and language', () => {
    const store = fresh();
    const two = (text: string) => [text, `${text}!`].map((t) => ({ text: t, modelId: 'm' }));
    store.recordPick({ prompt: ts, candidates: two('1'), chosenIndex: 0 });
    store.recordPick({ prompt: py, candidates: two('2'), chosenIndex: 1 });
    labelerPair(store, ts, 'x', 'y');
    const all = [...store.iteratePairs()];
    assert.equal(all.length, 3);
    assert.deepEqual(
      all.map((p) => [p.prefix, p.chosen, p.rejected, p.source, p.language]),
      [
        ['let a = ', '1', '1!', 'human', 'typescript'],
        ['a = ', '2!', '2', 'human', 'python'],
        ['let a = ', 'x', 'y', 'parse', 'typescript'],
      ],
    );
    assert.equal(all[0]!.filePath, '/ws/a.ts');
    assert.ok(all[2]!.labelerRunId! > 0);
    assert.deepEqual(
      [...store.iteratePairs({ sources: ['parse'] })].map((p) => p.chosen),
      ['x'],
    );
    assert.deepEqual(
      [...store.iteratePairs({ languages: ['python'] })].map((p) => p.chosen),
      ['2!'],
    );
    assert.equal(store.countPairs({ sources: ['human'], languages: ['typescript'] }), 1);
    assert.equal(store.countPairs({ sources: [] }), 0);
    store.close();
  });

  it('filters pairs by creation date', () => {
    const store = fresh();
    store.recordPick({
      prompt: ts,
      candidates: [
        { text: 'a', modelId: 'm' },
        { text: 'b', modelId: 'm' },
        { text: 'c', modelId: 'm' },
      ],
      chosenIndex: 0,
    });
    connectionOf(store).prepare("UPDATE pair SET created_at = '2025-01-15T10:00:00.000Z' WHERE rejected_id = 2").run();
    connectionOf(store).prepare("UPDATE pair SET created_at = '2025-03-01T10:00:00.000Z' WHERE rejected_id = 3").run();
    assert.deepEqual(
      [...store.iteratePairs({ since: '2025-02-01' })].map((p) => p.rejected),
      ['c'],
    );
    assert.deepEqual(
      [...store.iteratePairs({ until: '2025-02-01' })].map((p) => p.rejected),
      ['b'],
    );
    assert.deepEqual(
      [...store.iteratePairs({ since: '2025-01-15T10:00:00.000Z', until: '2025-03-01' })].map(
        (p) => p.rejected,
      ),
      ['b'],
    );
    assert.throws(() => [...store.iteratePairs({ since: 'last tuesday' })], /not ISO 8601/);
    store.close();
  });

  it('filters pairs by the adapter that sampled them', () => {
    const store = fresh();
    const v1 = store.registerAdapter({ path: '/v1', baseModelHash: 'h' });
    store.recordPick({
      prompt: ts,
      candidates: [
        { text: 'a', modelId: 'm', adapterId: v1.id },
        { text: 'b', modelId: 'm' },
      ],
      chosenIndex: 0,
    });
    store.recordPick({
      prompt: py,
      candidates: [
        { text: 'c', modelId: 'm' },
        { text: 'd', modelId: 'm' },
      ],
      chosenIndex: 0,
    });
    assert.deepEqual(
      [...store.iteratePairs({ adapter: v1.id })].map((p) => p.chosen),
      ['a'],
    );
    assert.deepEqual(
      [...store.iteratePairs({ adapter: 'base' })].map((p) => p.chosen),
      ['c'],
    );
    assert.deepEqual(store.stats().pairsByAdapter, { base: 1, v1: 1 });
    store.close();
  });

  it('flags a labeler pair that contradicts a human pair and keeps the human pair', () => {
    const store = fresh();
    const candidates = [
      { text: 'good', modelId: 'm' },
      { text: 'bad', modelId: 'm' },
    ];
    store.recordPick({ prompt: ts, candidates, chosenIndex: 1 }); // the human prefers 'bad'
    assert.equal(labelerPair(store, ts, 'good', 'bad'), true);
    const rows = [...store.iteratePairs({ includeDisagreements: true })].map((p) => [
      p.source,
      p.chosen,
      p.disagreesWithHuman,
    ]);
    assert.deepEqual(rows, [
      ['human', 'bad', false],
      ['parse', 'good', true],
    ]);
    assert.deepEqual(
      [...store.iteratePairs()].map((p) => p.source),
      ['human'],
      'flagged pairs are left out by default',
    );
    assert.equal(store.stats().disagreements, 1);
    store.close();
  });

  it('flags an earlier labeler pair when a human later judges the other way', () => {
    const store = fresh();
    labelerPair(store, ts, 'good', 'bad');
    store.recordPick({
      prompt: ts,
      candidates: [
        { text: 'good', modelId: 'm' },
        { text: 'bad', modelId: 'm' },
      ],
      chosenIndex: 1,
    });
    const flagged = [...store.iteratePairs({ includeDisagreements: true })].filter(
      (p) => p.disagreesWithHuman,
    );
    assert.deepEqual(
      flagged.map((p) => p.source),
      ['parse'],
    );
    store.close();
  });

  it('does not flag a labeler pair that agrees with the human', () => {
    const store = fresh();
    store.recordPick({
      prompt: ts,
      candidates: [
        { text: 'good', modelId: 'm' },
        { text: 'bad', modelId: 'm' },
      ],
      chosenIndex: 0,
    });
    labelerPair(store, ts, 'good', 'bad');
    assert.equal(store.stats().disagreements, 0);
    assert.equal(store.countPairs(), 2);
    store.close();
  });

  it('reads pairs by id in the given order, disagreements included, leaving out ids no longer stored', () => {
    const store = fresh();
    store.recordPick({
      prompt: ts,
      candidates: [
        { text: 'good', modelId: 'm' },
        { text: 'bad', modelId: 'm' },
      ],
      chosenIndex: 1,
    });
    labelerPair(store, ts, 'good', 'bad');
    const [human, flagged] = [...store.iteratePairs({ includeDisagreements: true })];
    assert.equal(flagged!.disagreesWithHuman, true);
    assert.deepEqual(store.pairsByIds([flagged!.id, 999, human!.id]), [flagged, human]);
    assert.deepEqual(store.pairsByIds([]), []);
    store.close();
  });
});
