import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { compileLabeler } from '../../../src/label/compile.ts';
import { parseLabeler } from '../../../src/label/parse.ts';
import { runLabeler } from '../../../src/label/runLabeler.ts';
import { pairsOf, storeWith, tempDir } from './helpers.ts';

const dir = tempDir('label-parse');
let n = 0;
const file = () => join(dir, `l${n++}.sqlite`);

describe('parse labeler', () => {
  it('prefers a TypeScript completion that parses over one that does not, with provenance', async () => {
    const store = storeWith(file(), [
      {
        prompt: {
          language: 'typescript',
          filePath: '/ws/a.ts',
          prefix: 'function f(a: number) {\n  return ',
          suffix: ';\n}\n',
        },
        texts: ['a + 1', 'a + (1', 'a * 2'],
      },
    ]);
    const result = await runLabeler(store, parseLabeler());
    assert.deepEqual(pairsOf(store, 'parse'), [
      ['a + 1', 'a + (1'],
      ['a * 2', 'a + (1'],
    ]);
    assert.deepEqual([result.prompts, result.candidatesScored, result.pairsAdded], [1, 3, 2]);
    const pair = [...store.iteratePairs({ sources: ['parse'] })][0]!;
    assert.equal(pair.labelerRunId, result.labelerRunId);
    assert.equal(pair.confidence, 0.9);
    const run = store.labelerRun(result.labelerRunId)!;
    assert.deepEqual([run.labeler, run.status, run.pairsAdded], ['parse', 'done', 2]);
    const scores = store.labelScores(result.labelerRunId);
    assert.deepEqual(
      scores.map((s) => s.score),
      [0, 1, 0],
    );
    assert.match(scores[1]!.detail!, /^TS1005: '\)' expected/);
    store.close();
  });

  it('uses the suffix: a completion that only parses without the text after the cursor loses', async () => {
    const store = storeWith(file(), [
      {
        prompt: { language: 'javascript', prefix: 'const xs = [1, ', suffix: '];\n' },
        texts: ['2, 3', '2, 3];'],
      },
    ]);
    await runLabeler(store, parseLabeler());
    assert.deepEqual(pairsOf(store, 'parse'), [['2, 3', '2, 3];']]);
    store.close();
  });

  it('judges JSON with JSON.parse and leaves languages it cannot parse alone', async () => {
    const store = storeWith(file(), [
      { prompt: { language: 'json', prefix: '{"name": ', suffix: '}' }, texts: ['"prefer"', "'prefer'"] },
      { prompt: { language: 'python', prefix: 'x = ' }, texts: ['(', '1'] },
    ]);
    const result = await runLabeler(store, parseLabeler());
    assert.deepEqual(pairsOf(store, 'parse'), [['"prefer"', "'prefer'"]]);
    assert.equal(result.prompts, 1);
    store.close();
  });

  it('flags its pair when the human preferred the completion that does not parse', async () => {
    const store = storeWith(file(), []);
    const prompt = { language: 'typescript', prefix: 'let a = ' };
    store.recordPick({
      prompt,
      candidates: [
        { text: '1;', modelId: 'm' },
        { text: '1 +;', modelId: 'm' },
      ],
      chosenIndex: 1,
    });
    const result = await runLabeler(store, parseLabeler());
    assert.equal(result.disagreements, 1);
    const all = [...store.iteratePairs({ includeDisagreements: true })].map((p) => [
      p.source,
      p.chosen,
      p.disagreesWithHuman,
    ]);
    assert.deepEqual(all, [
      ['human', '1 +;', false],
      ['parse', '1;', true],
    ]);
    store.close();
  });

  it('stops between prompts when cancelled, keeping what it stored and recording the run as failed', async () => {
    const prompts = [1, 2, 3].map((i) => ({
      prompt: { language: 'typescript', prefix: `let a${i} = ` },
      texts: ['1;', '1 +;'],
    }));
    const store = storeWith(file(), prompts);
    const controller = new AbortController();
    await assert.rejects(
      runLabeler(store, parseLabeler(), {
        signal: controller.signal,
        onProgress: (done) => done === 2 && controller.abort(),
      }),
      /labeling was cancelled/,
    );
    assert.equal(pairsOf(store, 'parse').length, 2);
    const run = store.labelerRun(1)!;
    assert.deepEqual([run.status, run.pairsAdded, run.error], ['failed', 2, 'labeling was cancelled']);
    store.close();
  });

  it('adds nothing when run again over the same candidates', async () => {
    const store = storeWith(file(), [
      { prompt: { language: 'typescript', prefix: 'let a = ' }, texts: ['1;', '1 +;'] },
    ]);
    assert.equal((await runLabeler(store, parseLabeler())).pairsAdded, 1);
    assert.equal((await runLabeler(store, parseLabeler())).pairsAdded, 0);
    assert.equal(store.stats().labelerRuns, 2);
    store.close();
  });
});

describe('compile labeler', () => {
  it('prefers the completion with fewer type errors in the whole file', async () => {
    const prefix =
      'interface User { name: string; age: number }\nexport function label(u: User): string {\n  return ';
    const store = storeWith(file(), [
      {
        prompt: { language: 'typescript', prefix, suffix: ';\n}\n' },
        texts: ['u.name', 'u.age', 'u.nmae.length'],
      },
    ]);
    const started = performance.now();
    const result = await runLabeler(store, compileLabeler());
    const elapsed = performance.now() - started;
    assert.deepEqual(pairsOf(store, 'compile'), [
      ['u.name', 'u.age'],
      ['u.name', 'u.nmae.length'],
    ]);
    const details = store.labelScores(result.labelerRunId).map((s) => s.detail);
    assert.equal(details[0], null);
    assert.match(String(details[1]), /TS2322: Type 'number' is not assignable to type 'string'/);
    assert.match(String(details[2]), /TS2339: Property 'nmae' does not exist on type 'User'/);
    assert.equal(result.candidatesScored, 3);
    assert.ok(elapsed < 20_000, `compile labeling took ${elapsed} ms`);
    store.close();
  });

  it('knows the standard library and cancels errors every candidate shares', async () => {
    const store = storeWith(file(), [
      {
        prompt: {
          language: 'typescript',
          prefix: "import { missing } from './elsewhere';\nconst m = new Map<string, number>();\nm.",
          suffix: ';\n',
        },
        texts: ["set('a', 1)", "set('a', 'one')"],
      },
    ]);
    await runLabeler(store, compileLabeler());
    assert.deepEqual(pairsOf(store, 'compile'), [["set('a', 1)", "set('a', 'one')"]]);
    store.close();
  });
});
