import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { migrations } from '../../../src/store/migrations.ts';
import { openStore } from '../../../src/store/store.ts';
import { PREFER_APPLICATION_ID } from '../../../src/store/storeFile.ts';
import { connectionOf } from '../../../src/store/connection.ts';

const dir = mkdtempSync(join(tmpdir(), 'prefer-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const prompt = {
  workspace: 'ws',
  filePath: '/ws/a.ts',
  language: 'typescript',
  prefix: 'const x = ',
  suffix: ';\n',
};
const candidates = ['1', '2', '3'].map((text) => ({ text, modelId: 'm' }));

describe('store', () => {
  it('creates the schema by migration in WAL mode with foreign keys on', () => {
    const store = openStore(join(dir, 'new.sqlite'));
    assert.equal(store.schemaVersion, migrations.length);
    assert.equal(connectionOf(store).pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(connectionOf(store).pragma('foreign_keys', { simple: true }), 1);
    store.close();
  });

  it('stores a pick as one comparison and chosen-over-each-other pairs', () => {
    const file = join(dir, 'pick.sqlite');
    const store = openStore(file);
    const result = store.recordPick({ prompt, candidates, chosenIndex: 1, decisionMs: 1234 });
    assert.equal(result.pairsAdded, 2);
    store.close();

    const db = new Database(file, { readonly: true });
    const rows = db
      .prepare(
        `SELECT c.text AS chosen, r.text AS rejected, pair.source FROM pair
         JOIN candidate c ON c.id = pair.chosen_id JOIN candidate r ON r.id = pair.rejected_id ORDER BY r.text`,
      )
      .all();
    assert.deepEqual(rows, [
      { chosen: '2', rejected: '1', source: 'human' },
      { chosen: '2', rejected: '3', source: 'human' },
    ]);
    const comparison = db.prepare('SELECT outcome, decision_ms, shown_order FROM comparison').get() as {
      outcome: string;
      decision_ms: number;
      shown_order: string;
    };
    assert.equal(comparison.outcome, 'pick');
    assert.equal(comparison.decision_ms, 1234);
    assert.equal(JSON.parse(comparison.shown_order).length, 3);
    db.close();
  });

  it('deduplicates prompts by content hash', () => {
    const store = openStore(join(dir, 'dedupe.sqlite'));
    store.recordPick({ prompt, candidates, chosenIndex: 0 });
    store.recordPick({ prompt, candidates, chosenIndex: 2 });
    assert.equal(store.stats().prompts, 1);
    assert.equal(store.stats().comparisons, 2);
    store.close();
  });

  it('rejects a pick outside the candidates and writes nothing', () => {
    const store = openStore(join(dir, 'bad.sqlite'));
    assert.throws(() => store.recordPick({ prompt, candidates, chosenIndex: 3 }), /outside 0\.\.2/);
    const { prompts, candidates: stored, comparisons, pairs, pairsBySource, pairsByLanguage } = store.stats();
    assert.deepEqual(
      { prompts, candidates: stored, comparisons, pairs, pairsBySource, pairsByLanguage },
      { prompts: 0, candidates: 0, comparisons: 0, pairs: 0, pairsBySource: {}, pairsByLanguage: {} },
    );
    store.close();
  });

  it('refuses a database from a newer version of Prefer without changing a byte of it', () => {
    const file = join(dir, 'future.sqlite');
    const db = new Database(file);
    db.pragma(`application_id = ${PREFER_APPLICATION_ID}`);
    db.pragma(`user_version = ${migrations.length + 1}`);
    db.close();
    const before = readFileSync(file);
    assert.throws(
      () => openStore(file),
      /future\.sqlite: database schema version \d+ is newer than this version of Prefer understands/,
    );
    assert.throws(() => openStore(file, { readonly: true }), /is newer than this version of Prefer/);
    assert.ok(readFileSync(file).equals(before), 'not switched to WAL');
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('future')),
      ['future.sqlite'],
    );
  });
});
