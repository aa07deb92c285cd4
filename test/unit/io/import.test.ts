import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { exportPairs } from '../../../src/io/exportPairs.ts';
import { FORMAT_NAMES } from '../../../src/io/formats.ts';
import { importPairs } from '../../../src/io/importPairs.ts';
import { openStore, type Store } from '../../../src/store/store.ts';
import { sampleStore, tempDir } from './helpers.ts';

const dir = tempDir('import');
const golden = (name: string) => join(import.meta.dirname, '../../fixtures/io/golden', name);
let n = 0;
const fresh = (): Store => openStore(join(dir, `i${n++}.sqlite`));
const triples = (store: Store) =>
  [...store.iteratePairs({ includeDisagreements: true })].map((p) => [
    p.prefix,
    p.suffix,
    p.chosen,
    p.rejected,
    p.source,
  ]);

describe('import', () => {
  for (const format of FORMAT_NAMES) {
    it(`imports the ${format} golden file, detected and forced`, async () => {
      const source = sampleStore(join(dir, `source-${format}.sqlite`));
      for (const forced of [undefined, format]) {
        const store = fresh();
        const result = await importPairs(store, golden(`${format}.jsonl`), { format: forced });
        assert.deepEqual(result.errors, []);
        assert.equal(result.format, format);
        // OpenAI lines carry no source, so the labeler's copy of a human pair is a repeat there.
        const expected = triples(source)
          .map(([prefix, suffix, chosen, rejected, src]) =>
            format === 'openai'
              ? [prefix, '', chosen, rejected, 'imported']
              : [prefix, suffix, chosen, rejected, src],
          )
          .filter((t, i, all) => all.findIndex((u) => JSON.stringify(u) === JSON.stringify(t)) === i);
        assert.equal(result.imported, expected.length);
        assert.equal(result.skipped, 5 - expected.length);
        assert.deepEqual(triples(store), expected);
        store.close();
      }
      source.close();
    });
  }

  it('keeps language, file path and workspace from TRL extra fields, and shares candidate texts', async () => {
    const store = fresh();
    await importPairs(store, golden('trl.jsonl'));
    const p = [...store.iteratePairs()][0]!;
    assert.deepEqual(
      [p.language, p.filePath, p.workspace],
      ['typescript', '/home/dev/acme-app/src/sum.ts', 'acme-app'],
    );
    // 3 distinct texts for the sum prompt, 2 for greet: each text is one candidate row.
    assert.equal(store.stats().candidates, 5);
    assert.equal(store.stats().prompts, 2);
    store.close();
  });

  it('is idempotent: importing the same file again adds nothing', async () => {
    const store = fresh();
    const first = await importPairs(store, golden('trl.jsonl'));
    const again = await importPairs(store, golden('trl.jsonl'));
    assert.equal(first.imported, 5);
    assert.deepEqual([again.imported, again.skipped], [0, 5]);
    const s = store.stats();
    assert.deepEqual([s.pairs, s.candidates, s.prompts], [5, 5, 2]);
    store.close();
  });

  it('round-trips an export into an empty store', async () => {
    const source = sampleStore(join(dir, 'round.sqlite'));
    const file = join(dir, 'round.jsonl');
    exportPairs(source, file, { format: 'trl', private: false });
    const target = fresh();
    await importPairs(target, file);
    assert.deepEqual(triples(target), triples(source));
    const again = join(dir, 'round-again.jsonl');
    exportPairs(target, again, { format: 'trl', private: false });
    const strip = (s: Store) =>
      [...s.iteratePairs()].map((p) => [p.prefix, p.chosen, p.rejected, p.language, p.filePath]);
    assert.deepEqual(strip(target), strip(source));
    source.close();
    target.close();
  });

  it('commits nothing of a file whose every line is bad', async () => {
    const store = fresh();
    const file = join(dir, 'all-bad.jsonl');
    writeFileSync(file, '{"prompt": 1}\nnot json\n');
    const result = await importPairs(store, file);
    assert.equal(result.imported, 0);
    assert.deepEqual(
      result.errors.map((e) => e.line),
      [1, 2],
    );
    assert.equal(store.stats().prompts, 0);
    store.close();
  });

  it('stops between batches when cancelled, keeping the committed ones', async () => {
    const store = fresh();
    const file = join(dir, 'cancelled.jsonl');
    writeFileSync(
      file,
      Array.from({ length: 6000 }, (_, i) =>
        JSON.stringify({ prompt: `p${i}`, chosen: 'a', rejected: 'b' }),
      ).join('\n'),
    );
    const controller = new AbortController();
    await assert.rejects(
      importPairs(store, file, {
        batchLines: 2000,
        signal: controller.signal,
        onProgress: () => controller.abort(),
      }),
      /cancelled after line 4000/,
    );
    assert.equal(store.stats().pairs, 2000);
    const resumed = await importPairs(store, file);
    assert.deepEqual([resumed.imported, resumed.skipped], [4000, 2000]);
    store.close();
  });

  it('reports progress per committed batch', async () => {
    const store = fresh();
    const file = join(dir, 'many.jsonl');
    writeFileSync(
      file,
      Array.from({ length: 4500 }, (_, i) =>
        JSON.stringify({ prompt: `p${i}`, chosen: 'a', rejected: 'b' }),
      ).join('\n'),
    );
    const seen: number[] = [];
    const result = await importPairs(store, file, {
      batchLines: 2000,
      onProgress: (lines) => seen.push(lines),
    });
    assert.equal(result.imported, 4500);
    assert.deepEqual(seen, [2000, 4000, 4500]);
    store.close();
  });
});
