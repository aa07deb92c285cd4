import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { migrate, migrations } from '../../../src/store/migrations.ts';
import { type FeedbackInput, offeredFeedback, openStore } from '../../../src/store/store.ts';
import { tempDir } from './helpers/tempDir.ts';

const dir = tempDir('feedback');
const prompt = { prefix: 'let total = ', suffix: ';\n', filePath: 'file:///w/a.ts', language: 'typescript' };
const judged = (
  completion: string,
  desirable: boolean,
  more: Partial<FeedbackInput> = {},
): FeedbackInput => ({
  prompt,
  completion,
  desirable,
  source: 'continue',
  model: 'coder-1b',
  ...more,
});

describe('feedback (completions judged on their own)', () => {
  it('stores accepted and rejected completions, pairs them by prompt, and re-imports nothing', () => {
    const store = openStore(join(dir, 'pairs.sqlite'));
    const importer = store.feedbackImporter();
    const first = importer([
      judged('a + b', true, { externalId: 'c1', createdAt: '2026-12-01T10:00:00.000Z' }),
      judged('a - b', false, { externalId: 'c2', createdAt: '2026-12-01T10:00:01.000Z' }),
      judged('0', false, { externalId: 'c3', prompt: { prefix: 'other ' } }),
    ]);
    assert.deepEqual(first, { imported: 3, skipped: 0, pairsAdded: 1 });
    const again = store.feedbackImporter()([
      judged('a + b', true, { externalId: 'c1' }),
      judged('a - b', false, { externalId: 'c2' }),
    ]);
    assert.deepEqual(again, { imported: 0, skipped: 2, pairsAdded: 0 });

    const rows = [...store.iterateFeedback()];
    assert.equal(rows.length, 3);
    assert.deepEqual(rows[0], {
      id: rows[0]!.id,
      prefix: prompt.prefix,
      suffix: prompt.suffix,
      completion: 'a + b',
      desirable: true,
      source: 'continue',
      model: 'coder-1b',
      filePath: 'file:///w/a.ts',
      createdAt: '2026-12-01T10:00:00.000Z',
    });
    assert.equal(rows[1]!.desirable, false);
    const pairs = [...store.iteratePairs()];
    assert.equal(pairs.length, 1);
    assert.equal(pairs[0]!.chosen, 'a + b');
    assert.equal(pairs[0]!.rejected, 'a - b');
    assert.equal(pairs[0]!.source, 'continue');
    assert.equal(pairs[0]!.confidence, 0.5);
    assert.equal(
      pairs[0]!.promptId,
      store.upsertPrompt(prompt),
      'the pair and the feedback share the prompt row',
    );
    store.close();
  });

  it('filters by source, language and date, and counts the same rows it streams', () => {
    const store = openStore(join(dir, 'filter.sqlite'));
    store.feedbackImporter()([
      judged('x', true, { createdAt: '2026-11-01T00:00:00.000Z' }),
      judged('y', false, {
        source: 'tabby',
        createdAt: '2026-12-02T00:00:00.000Z',
        prompt: { ...prompt, language: 'python' },
      }),
    ]);
    store.recordFeedback([judged('z', true, { source: 'inline' })]);
    assert.equal(store.countFeedback(), 3);
    assert.deepEqual(
      [...store.iterateFeedback({ sources: ['tabby'] })].map((f) => f.completion),
      ['y'],
    );
    assert.deepEqual(
      [...store.iterateFeedback({ languages: ['typescript'] })].map((f) => f.completion),
      ['x', 'z'],
    );
    assert.equal(store.countFeedback({ since: '2026-12-01' }), 2);
    assert.equal(store.countFeedback({ until: '2026-12-01' }), 1);
    assert.equal(store.countFeedback({ adapter: 'base' }), 3);
    assert.deepEqual(store.feedbackBySource(), {
      continue: { desirable: 1, undesirable: 0 },
      inline: { desirable: 1, undesirable: 0 },
      tabby: { desirable: 0, undesirable: 1 },
    });
    store.close();
  });

  it('does not pair a text both accepted and rejected, and refuses an empty completion or a bad time', () => {
    const store = openStore(join(dir, 'contradiction.sqlite'));
    const counts = store.feedbackImporter()([judged('same', true), judged('same', false)]);
    assert.equal(counts.pairsAdded, 0);
    assert.throws(() => store.recordFeedback([judged('  ', true)]), /empty completion/);
    assert.throws(
      () => store.recordFeedback([judged('t', true, { createdAt: 'yesterday' })]),
      /not an ISO 8601/,
    );
    assert.equal(store.countFeedback(), 2, 'a refused batch stores nothing');
    store.close();
  });

  it('upgrades a version-5 store file to the feedback table, keeping its pairs', () => {
    const file = join(dir, 'v5.sqlite');
    const db = new Database(file);
    migrate(db, 5);
    db.prepare("INSERT INTO prompt (hash, prefix) VALUES ('h', 'let a = ')").run();
    db.prepare("INSERT INTO candidate (prompt_id, text, model_id) VALUES (1, '1', 'm'), (1, '2', 'm')").run();
    db.prepare(
      "INSERT INTO pair (prompt_id, chosen_id, rejected_id, source, texts_hash) VALUES (1, 1, 2, 'human', x'00')",
    ).run();
    assert.equal(db.pragma('user_version', { simple: true }), 5);
    db.close();
    const store = openStore(file);
    assert.equal(store.schemaVersion, migrations.length);
    assert.equal(store.countPairs(), 1, 'the pair of version 5 stays');
    assert.equal(store.recordFeedback([judged('1', true, { source: 'inline' })]), 1);
    assert.equal(store.countFeedback(), 1);
    store.close();
  });

  it('reads completions offered in turn: the accepted one desirable, those passed over not, none accepted: the first dismissed', () => {
    const offered = [
      { text: 'a', modelId: 'm' },
      { text: 'b', modelId: 'm', adapterId: 3 },
      { text: 'c', modelId: 'm' },
    ];
    const judged = (items: FeedbackInput[]) => items.map((f) => [f.completion, f.desirable, f.source]);
    assert.deepEqual(judged(offeredFeedback(prompt, offered, 1, 'inline')), [
      ['a', false, 'inline'],
      ['b', true, 'inline'],
    ]);
    assert.equal(offeredFeedback(prompt, offered, 1, 'inline')[1]!.adapterId, 3);
    assert.deepEqual(judged(offeredFeedback(prompt, offered, 0, 'inline')), [['a', true, 'inline']]);
    assert.deepEqual(judged(offeredFeedback(prompt, offered, undefined, 'inline')), [['a', false, 'inline']]);
    assert.deepEqual(offeredFeedback(prompt, offered, 7, 'inline'), []);
    const store = openStore(join(dir, 'offered.sqlite'));
    const unsampled = offered.map(({ text, modelId }) => ({ text, modelId }));
    assert.equal(store.recordFeedback(offeredFeedback(prompt, unsampled, 2, 'inline')), 3);
    assert.equal(store.countFeedback({ sources: ['inline'] }), 3);
    assert.equal(store.countPairs(), 0, 'inline feedback makes no pairs of its own');
    store.close();
  });
});
