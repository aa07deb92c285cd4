import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
// eslint-disable-next-line no-restricted-imports -- reads the file a killed import left, as another program would
import Database from 'better-sqlite3';
import { preferJson, tempDir } from './helpers.ts';
import { DEFAULT_BATCH_LINES as BATCH } from '../../../src/io/importPairs.ts';

const dir = tempDir('cli-import-killed');
const cli = join(import.meta.dirname, '../../../src/cli/cli.ts');

describe('prefer import, killed part way', () => {
  it('keeps only whole batches, and importing again completes the file', async () => {
    const lines = 5 * BATCH;
    const file = join(dir, 'many.jsonl');
    writeFileSync(
      file,
      Array.from({ length: lines }, (_, i) =>
        JSON.stringify({ prompt: `const v${i >> 2} = `, chosen: `${i};`, rejected: `${i} +` }),
      ).join('\n'),
    );
    const db = join(dir, 'killed.sqlite');
    const child = spawn(process.execPath, [cli, 'import', file, '--db', db], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('close', resolve));
    // Kill as soon as the first batch is visible to another connection.
    let stored = 0;
    for (let waited = 0; stored === 0 && waited < 30_000; waited += 10) {
      await new Promise((r) => setTimeout(r, 10));
      try {
        const reader = new Database(db, { readonly: true, fileMustExist: true });
        stored = reader.prepare('SELECT count(*) FROM pair').pluck().get() as number;
        reader.close();
      } catch {
        // Not created yet, or its schema not yet migrated.
      }
    }
    child.kill('SIGKILL');
    await exited;

    const check = new Database(db);
    assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
    const kept = check.prepare('SELECT count(*) FROM pair').pluck().get() as number;
    check.close();
    assert.ok(kept > 0 && kept < lines, `killed part way (${kept} of ${lines} kept)`);
    assert.equal(kept % BATCH, 0, 'only whole batches were committed');

    const again = preferJson('import', file, '--db', db);
    assert.equal(again.code, 0);
    assert.deepEqual([again.value.imported, again.value.skipped], [lines - kept, kept]);
    const done = new Database(db, { readonly: true });
    assert.equal(done.prepare('SELECT count(*) FROM pair').pluck().get(), lines);
    assert.equal(done.prepare('SELECT count(*) FROM candidate').pluck().get(), 2 * lines);
    done.close();
  });
});
