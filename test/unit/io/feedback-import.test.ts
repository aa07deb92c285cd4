import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { importFeedback } from '../../../src/io/importFeedback.ts';
import { openStore } from '../../../src/store/store.ts';
import { prefer, preferJson } from '../cli/helpers.ts';
import { tempDir } from './helpers.ts';

const fixtures = join(import.meta.dirname, '../../fixtures/io');
const continueLog = join(fixtures, 'continue/autocomplete.jsonl');
const tabbyDays = ['2025-12-01.json', '2025-12-02.json'].map((f) => join(fixtures, 'tabby/events', f));
const dir = tempDir('import-feedback');

describe('import of Continue and Tabby feedback', () => {
  it('reads a Continue autocomplete log: accepted desirable, rejected undesirable, the pair, no outcome skipped', async () => {
    const store = openStore(join(dir, 'continue.sqlite'));
    const result = await importFeedback(store, [continueLog]);
    assert.equal(result.format, 'continue');
    assert.deepEqual(
      {
        imported: result.imported,
        skipped: result.skipped,
        pairs: result.pairsAdded,
        unjudged: result.unjudged,
        errors: result.errorCount,
      },
      { imported: 3, skipped: 0, pairs: 1, unjudged: 1, errors: 0 },
    );
    const rows = [...store.iterateFeedback()];
    assert.deepEqual(
      rows.map((r) => [r.completion, r.desirable]),
      [
        ['xs.reduce((a, b) => a + b, 0);', true],
        ['xs.length;', false],
        ["'hello';", false],
      ],
    );
    assert.equal(rows[0]!.model, 'qwen2.5-coder:1.5b-base');
    assert.equal(rows[0]!.filePath, 'file:///home/dev/demo/src/sum.ts');
    assert.equal(rows[0]!.createdAt, '2026-12-01T10:00:00.000Z');
    assert.equal(rows[0]!.suffix, '\n}\n');
    const [pair] = [...store.iteratePairs()];
    assert.deepEqual(
      [pair!.chosen, pair!.rejected, pair!.source],
      ['xs.reduce((a, b) => a + b, 0);', 'xs.length;', 'continue'],
    );

    const again = await importFeedback(store, [continueLog]);
    assert.deepEqual(
      [again.imported, again.skipped, again.pairsAdded],
      [0, 3, 0],
      'a re-import adds nothing',
    );
    assert.equal(store.countFeedback(), 3);
    assert.equal(store.countPairs(), 1);
    store.close();
  });

  it('reads Tabby events across days: selected desirable, dismissed undesirable, views and line accepts say nothing', async () => {
    const store = openStore(join(dir, 'tabby.sqlite'));
    const result = await importFeedback(store, tabbyDays);
    assert.equal(result.format, 'tabby');
    assert.deepEqual([result.imported, result.pairsAdded, result.unjudged, result.errorCount], [3, 1, 1, 0]);
    const rows = [...store.iterateFeedback()];
    assert.deepEqual(
      rows.map((r) => [r.completion, r.desirable]),
      [
        ['a + b', true],
        ['a - b', false],
        ['println!("hi");', false],
      ],
    );
    assert.equal(
      rows[0]!.prefix,
      'def add(a, b):\n    return ',
      'the prefix segment, not the templated prompt',
    );
    assert.equal(rows[2]!.createdAt, '2025-12-02T10:00:00.000Z', 'the dismissal of the next day');
    assert.deepEqual([...store.iterateFeedback({ languages: ['python'] })].length, 2);
    const again = await importFeedback(store, tabbyDays, { format: 'tabby' });
    assert.deepEqual([again.imported, again.skipped], [0, 3]);
    store.close();
  });

  it('reports bad lines by file and number, stores the good ones, and never opens the paths in the data', async () => {
    const store = openStore(join(dir, 'bad.sqlite'));
    const log = join(dir, 'hostile.jsonl');
    const good = readFileSync(continueLog, 'utf8').split('\n')[0]!;
    const hostile = JSON.parse(good) as Record<string, unknown>;
    hostile.completionId = 'x-2';
    hostile.filepath = '../../../../etc/passwd';
    hostile.completion = '<img src=x onerror=alert(1)>';
    writeFileSync(log, [good, '{"completionId": 1}', JSON.stringify(hostile), 'not json'].join('\n'));
    const result = await importFeedback(store, [log]);
    assert.deepEqual(
      result.errors.map((e) => [e.file, e.line]),
      [
        [log, 2],
        [log, 4],
      ],
    );
    assert.match(result.errors[0]!.message, /"completionId"|"completion"|not a Continue/);
    assert.equal(result.imported, 2);
    const stored = [...store.iterateFeedback()].find((f) => f.filePath === '../../../../etc/passwd');
    assert.equal(stored?.completion, '<img src=x onerror=alert(1)>', 'kept as text');
    store.close();
  });

  it('stops between batches when cancelled, keeping what it stored; importing again completes it', async () => {
    const store = openStore(join(dir, 'cancel.sqlite'));
    const controller = new AbortController();
    await assert.rejects(
      importFeedback(store, [continueLog], {
        batchLines: 1,
        signal: controller.signal,
        onProgress: () => controller.abort(),
      }),
      /was cancelled after 1 lines/,
    );
    assert.equal(store.countFeedback(), 1);
    const rest = await importFeedback(store, [continueLog]);
    assert.deepEqual([rest.imported, rest.skipped, store.countFeedback(), store.countPairs()], [2, 1, 3, 1]);
    store.close();
  });

  it('prefer import detects the format, reports FILE:LINE and exits 1 on bad lines', () => {
    const db = join(dir, 'cli.sqlite');
    const first = preferJson('import', continueLog, '--db', db);
    assert.equal(first.code, 0);
    assert.equal(first.value.format, 'continue');
    assert.equal(first.value.imported, 3);
    assert.equal(first.value.pairs_added, 1);
    const tabby = preferJson('import', ...tabbyDays, '--db', db, '--format', 'tabby');
    assert.equal(tabby.value.imported, 3);
    const bad = prefer('import', join(fixtures, 'continue/autocomplete-bad.jsonl'), '--db', db);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /autocomplete-bad\.jsonl:2: field "accepted" must be true or false/);
    assert.match(bad.stdout, /autocomplete-bad\.jsonl:4: field "completion" is empty/);
    const wrong = prefer('import', continueLog, '--db', db, '--format', 'tabby');
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /autocomplete\.jsonl:1: this line is continue format but the file is tabby/);
  });
});
