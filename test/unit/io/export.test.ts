import assert from 'node:assert/strict';
import {
  existsSync,
  linkSync,
  lstatSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exportPairs, tiesFileFor } from '../../../src/io/exportPairs.ts';
import { decodePair, detectFormat, FORMAT_NAMES } from '../../../src/io/formats.ts';
import { sampleStore, tempDir } from './helpers.ts';

const dir = tempDir('export');
const golden = (name: string) => join(import.meta.dirname, '../../fixtures/io/golden', name);
// Regenerate with PREFER_UPDATE_GOLDEN=1 after an intended format change, and review the diff.
const update = process.env.PREFER_UPDATE_GOLDEN === '1';

function assertGolden(actualFile: string, name: string): void {
  const actual = readFileSync(actualFile, 'utf8');
  if (update) writeFileSync(golden(name), actual);
  assert.equal(actual, readFileSync(golden(name), 'utf8'), `${actualFile} differs from golden ${name}`);
}

const store = sampleStore(join(dir, 'sample.sqlite'));

describe('export', () => {
  for (const format of FORMAT_NAMES) {
    it(`writes the ${format} format byte for byte as its golden file`, () => {
      const out = join(dir, `${format}.jsonl`);
      const result = exportPairs(store, out, { format, private: false });
      assert.equal(result.exported, 5, '3 pairs from the ranking, 1 from the pick, 1 from a labeler');
      assertGolden(out, `${format}.jsonl`);
    });

    it(`writes ${format} lines that parse back to the stored pairs`, () => {
      const out = join(dir, `${format}-back.jsonl`);
      exportPairs(store, out, { format, private: false });
      const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
      const stored = [...store.iteratePairs()];
      assert.equal(lines.length, stored.length);
      lines.forEach((line, i) => {
        const value: unknown = JSON.parse(line);
        assert.equal(detectFormat(value), format);
        const pair = decodePair(format, value);
        const expected = stored[i]!;
        assert.equal(pair.prefix, expected.prefix);
        assert.equal(pair.chosen, expected.chosen);
        assert.equal(pair.rejected, expected.rejected);
        if (format !== 'openai') {
          assert.equal(pair.suffix, expected.suffix);
          assert.equal(pair.source, expected.source);
          assert.equal(pair.language, expected.language);
          assert.equal(pair.filePath, expected.filePath);
        }
      });
    });
  }

  it('leaves out file paths and workspace names when private', () => {
    const out = join(dir, 'private.jsonl');
    exportPairs(store, out, { format: 'trl', private: true });
    const text = readFileSync(out, 'utf8');
    assert.ok(!text.includes('/home/dev'), 'no file path');
    assert.ok(!text.includes('acme-app') && !text.includes('"notes"'), 'no workspace name');
    for (const line of text.trimEnd().split('\n')) {
      const record = JSON.parse(line) as Record<string, unknown>;
      assert.ok(!('file_path' in record) && !('workspace' in record));
      assert.equal(typeof record.suffix, 'string');
    }
  });

  it('exports only the pairs that match the filters', () => {
    const count = (filter: Parameters<typeof exportPairs>[2]['filter']) =>
      exportPairs(store, join(dir, 'filtered.jsonl'), { format: 'trl', private: false, filter, force: true })
        .exported;
    assert.equal(count({ languages: ['python'] }), 1);
    assert.equal(count({ sources: ['parse'] }), 1);
    assert.equal(count({ sources: ['human'], languages: ['typescript'] }), 3);
    assert.equal(count({ since: '2025-06-02', until: '2025-06-04' }), 2);
    assert.equal(count({ languages: ['rust'] }), 0);
  });

  it('writes ties and both-bad judgments to a sidecar file only when asked', () => {
    const out = join(dir, 'with-ties.jsonl');
    const without = exportPairs(store, out, { format: 'trl', private: false });
    assert.equal(without.ties, undefined);
    assert.ok(!existsSync(tiesFileFor(out)));
    const result = exportPairs(store, out, { format: 'trl', private: true, includeTies: true, force: true });
    assert.equal(tiesFileFor(out), join(dir, 'with-ties.ties.jsonl'));
    assert.deepEqual(result.ties, { file: tiesFileFor(out), exported: 2 });
    assertGolden(tiesFileFor(out), 'ties.jsonl');
    const main = readFileSync(out, 'utf8');
    assert.ok(!main.includes('return NaN'), 'both-bad candidates are not pairs');
  });

  it('applies the filters to ties too', () => {
    const ties = (filter: Parameters<typeof exportPairs>[2]['filter']) =>
      exportPairs(store, join(dir, 'ties-filtered.jsonl'), {
        format: 'trl',
        private: false,
        includeTies: true,
        filter,
        force: true,
      }).ties!.exported;
    assert.equal(ties({ languages: ['python'] }), 1);
    assert.equal(ties({ since: '2025-06-04' }), 1);
    assert.equal(ties({ sources: ['implicit'] }), 0);
    assert.equal(ties({ adapter: 'base' }), 2);
    assert.equal(ties({ adapter: 1 }), 0);
  });

  it('leaves an existing file untouched when the export fails', () => {
    const out = join(dir, 'kept.jsonl');
    writeFileSync(out, 'previous export\n');
    assert.throws(
      () =>
        exportPairs(store, out, {
          format: 'trl',
          private: false,
          filter: { since: 'not a date' },
          force: true,
        }),
      /not ISO 8601/,
    );
    assert.equal(readFileSync(out, 'utf8'), 'previous export\n');
    assert.ok(!existsSync(`${out}.${process.pid}.partial`));
  });
  it('refuses an output that is the database, by any name, before writing anything', () => {
    const db = join(dir, 'target-checks.sqlite');
    const own = sampleStore(db);
    const before = readFileSync(db);
    linkSync(db, join(dir, 'hard-link.jsonl'));
    symlinkSync(db, join(dir, 'soft-link.jsonl'));
    for (const out of [
      db,
      join(dir, 'hard-link.jsonl'),
      join(dir, 'soft-link.jsonl'),
      `${db}-shm`,
      `${db}-journal`,
    ]) {
      assert.throws(
        () => exportPairs(own, out, { format: 'trl', private: false, force: true }),
        (e: Error) => e.name === 'InputError' && e.message.startsWith(`${out}: is the database`),
        out,
      );
    }
    assert.ok(readFileSync(db).equals(before), 'the database file is unchanged');
    own.close();
    assert.ok(!readdirSync(dir).some((f) => f.endsWith('.partial')));
  });

  it('replaces an existing file only with force, writing through a link and keeping the link', () => {
    const target = join(dir, 'real-target.jsonl');
    const link = join(dir, 'link-to-target.jsonl');
    writeFileSync(target, 'older export\n');
    symlinkSync(target, link);
    assert.throws(
      () => exportPairs(store, link, { format: 'trl', private: false }),
      /link-to-target\.jsonl: already exists/,
    );
    assert.equal(readFileSync(target, 'utf8'), 'older export\n');
    const result = exportPairs(store, link, { format: 'trl', private: false, force: true });
    assert.equal(readFileSync(target, 'utf8').trimEnd().split('\n').length, result.exported);
    assert.ok(lstatSync(link).isSymbolicLink(), 'the link is still a link');
  });
});
