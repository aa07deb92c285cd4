import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { pairTextsHash, promptHash, textHash } from '../../../src/store/hashing.ts';
import { migrate, migrations } from '../../../src/store/migrations.ts';
import { openStore } from '../../../src/store/store.ts';
import { tempDir } from './helpers/tempDir.ts';
import { connectionOf } from '../../../src/store/connection.ts';

const dir = tempDir('migrations');

const tables = (db: Database.Database) =>
  (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
      name: string;
    }[]
  ).map((r) => r.name);

/** A database as version 1 of Prefer left it: one pick recorded twice, so its pairs are duplicated. */
function versionOneDatabase(file: string): { promptHashValue: string } {
  const db = new Database(file);
  migrate(db, 1);
  const prompt = {
    workspace: 'ws',
    filePath: '/ws/a.ts',
    language: 'typescript',
    prefix: 'let a = ',
    suffix: '',
  };
  const hash = promptHash(prompt);
  db.prepare(
    'INSERT INTO prompt (hash, workspace, file_path, language, prefix, suffix) VALUES (?, ?, ?, ?, ?, ?)',
  ).run(hash, prompt.workspace, prompt.filePath, prompt.language, prompt.prefix, prompt.suffix);
  for (let round = 0; round < 2; round++) {
    const ids = ['1', '2'].map((text) =>
      Number(
        db.prepare("INSERT INTO candidate (prompt_id, text, model_id) VALUES (1, ?, 'm')").run(text)
          .lastInsertRowid,
      ),
    );
    const comparison = db
      .prepare("INSERT INTO comparison (prompt_id, shown_order, outcome, chosen_id) VALUES (1, ?, 'pick', ?)")
      .run(JSON.stringify(ids), ids[0]).lastInsertRowid;
    db.prepare(
      "INSERT INTO pair (prompt_id, chosen_id, rejected_id, source, comparison_id) VALUES (1, ?, ?, 'human', ?)",
    ).run(ids[0], ids[1], comparison);
  }
  assert.equal(db.pragma('user_version', { simple: true }), 1);
  db.close();
  return { promptHashValue: hash };
}

describe('migrations', () => {
  it('builds the newest schema from an empty file', () => {
    const store = openStore(join(dir, 'empty.sqlite'));
    assert.equal(store.schemaVersion, migrations.length);
    assert.ok(migrations.length >= 2);
    for (const table of [
      'adapter',
      'candidate',
      'comparison',
      'label_score',
      'labeler_run',
      'pair',
      'prompt',
    ]) {
      assert.ok(tables(connectionOf(store)).includes(table), table);
    }
    assert.ok(tables(connectionOf(store)).includes('training_metric'));
    assert.deepEqual(connectionOf(store).pragma('integrity_check', { simple: true }), 'ok');
    store.close();
  });

  it('upgrades a version-1 database, backfilling content hashes and collapsing duplicate pairs', () => {
    const file = join(dir, 'v1.sqlite');
    const { promptHashValue } = versionOneDatabase(file);
    const store = openStore(file);
    assert.equal(store.schemaVersion, migrations.length);
    const s = store.stats();
    assert.equal(s.comparisons, 2, 'both judgments stay');
    assert.equal(s.candidates, 4);
    assert.equal(s.pairs, 1, 'the repeated pair is stored once');
    const pair = connectionOf(store).prepare('SELECT id, texts_hash FROM pair').get() as {
      id: number;
      texts_hash: Buffer;
    };
    assert.equal(pair.id, 1, 'the first pair is the one kept');
    assert.deepEqual(pair.texts_hash, pairTextsHash(promptHashValue, '1', '2'));
    const hashes = connectionOf(store).prepare('SELECT text, text_hash FROM candidate').all() as {
      text: string;
      text_hash: Buffer;
    }[];
    for (const c of hashes) assert.deepEqual(c.text_hash, textHash(c.text));
    // The upgraded file keeps working: the same judgment again adds no pair, a new one does.
    const again = store.recordPick({
      prompt: {
        workspace: 'ws',
        filePath: '/ws/a.ts',
        language: 'typescript',
        prefix: 'let a = ',
        suffix: '',
      },
      candidates: [
        { text: '1', modelId: 'm' },
        { text: '2', modelId: 'm' },
        { text: '3', modelId: 'm' },
      ],
      chosenIndex: 0,
    });
    assert.equal(again.pairsAdded, 1);
    store.close();
  });

  it('upgrades each earlier version step by step to the same schema as a fresh file', () => {
    const schema = (db: Database.Database) =>
      db
        .prepare(
          "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )
        .all();
    const fresh = openStore(join(dir, 'fresh.sqlite'));
    const expected = schema(connectionOf(fresh));
    fresh.close();
    for (let from = 0; from < migrations.length; from++) {
      const file = join(dir, `from-${from}.sqlite`);
      const db = new Database(file);
      migrate(db, from);
      assert.equal(db.pragma('user_version', { simple: true }), from);
      db.close();
      const store = openStore(file);
      assert.deepEqual(schema(connectionOf(store)), expected, `from version ${from}`);
      store.close();
    }
  });

  it('leaves a database at its earlier version when a migration fails half way', () => {
    const file = join(dir, 'failing.sqlite');
    const db = new Database(file);
    migrate(db, 1);
    // A table the next migration is about to create makes it fail after its first statements ran.
    db.exec('CREATE TABLE labeler_run (x)');
    assert.throws(() => migrate(db), /labeler_run already exists/);
    assert.equal(db.pragma('user_version', { simple: true }), 1);
    assert.ok(!tables(db).includes('adapter'), 'the failed migration left nothing behind');
    db.close();
  });
});
