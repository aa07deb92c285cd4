import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { migrate, migrations } from '../../../src/store/migrations.ts';
import { openStore } from '../../../src/store/store.ts';
import { PREFER_APPLICATION_ID } from '../../../src/store/storeFile.ts';
import { tempDir } from './helpers/tempDir.ts';
import { connectionOf } from '../../../src/store/connection.ts';

const dir = tempDir('store-file');
const cli = join(import.meta.dirname, '../../../src/cli/cli.ts');
const prompt = { prefix: 'const x = ', language: 'typescript' };
const candidates = ['1', '2', '3'].map((text) => ({ text, modelId: 'm' }));

/** Every file of `folder` and its bytes. */
const contents = (folder: string) =>
  Object.fromEntries(readdirSync(folder).map((f) => [f, readFileSync(join(folder, f)).toString('base64')]));

function folderWith(name: string): string {
  const folder = join(dir, name);
  mkdirSync(folder);
  return folder;
}

/** A store as Prefer left it before the application id (version 4), with one pick. */
function versionFourStore(file: string): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  migrate(db, 4);
  db.exec("INSERT INTO prompt (hash, prefix) VALUES ('h', 'const x = ')");
  db.close();
}

describe('opening a file as a store', () => {
  it('marks a new store with Prefer’s application id', () => {
    const store = openStore(join(dir, 'marked.sqlite'));
    assert.equal(connectionOf(store).pragma('application_id', { simple: true }), PREFER_APPLICATION_ID);
    store.close();
  });

  it('knows a store from before the application id, reads it unchanged, and marks it on the first write open', () => {
    const folder = folderWith('legacy');
    const file = join(folder, 'prefer.sqlite');
    versionFourStore(file);
    const before = contents(folder);
    const reader = openStore(file, { readonly: true });
    assert.equal(reader.stats().prompts, 1);
    assert.equal(reader.schemaVersion, migrations.length, 'read through an upgraded copy');
    reader.close();
    assert.deepEqual(contents(folder), before, 'a read-only open changes nothing');
    const writer = openStore(file);
    assert.equal(connectionOf(writer).pragma('application_id', { simple: true }), PREFER_APPLICATION_ID);
    assert.equal(writer.schemaVersion, migrations.length);
    assert.equal(writer.stats().prompts, 1);
    writer.close();
  });

  it('opens an empty file, or a SQLite file with an empty schema, as a new store', () => {
    const folder = folderWith('empty');
    writeFileSync(join(folder, 'zero.sqlite'), '');
    const reader = openStore(join(folder, 'zero.sqlite'), { readonly: true });
    assert.equal(reader.stats().pairs, 0);
    reader.close();
    assert.deepEqual(contents(folder), { 'zero.sqlite': '' }, 'read-only: still 0 bytes, nothing beside it');
    const bare = new Database(join(folder, 'bare.sqlite'));
    bare.pragma('journal_mode = WAL');
    bare.close();
    const store = openStore(join(folder, 'bare.sqlite'));
    assert.equal(store.schemaVersion, migrations.length);
    store.close();
    assert.throws(
      () => openStore(join(folder, 'missing.sqlite'), { readonly: true }),
      /missing\.sqlite: no such database/,
    );
    assert.ok(!readdirSync(folder).includes('missing.sqlite'));
  });

  for (const [kind, make] of [
    ['rollback journal', (db: Database.Database) => db.pragma('user_version = 0')],
    [
      'WAL mode and a user_version',
      (db: Database.Database) => (db.pragma('journal_mode = WAL'), db.pragma('user_version = 4')),
    ],
    ['its own application id', (db: Database.Database) => db.pragma('application_id = 7')],
  ] as const) {
    it(`refuses another application’s database (${kind}) without changing or adding a file`, () => {
      const folder = folderWith(`other-${kind.replace(/\W/g, '')}`);
      const file = join(folder, 'app.db');
      const db = new Database(file);
      make(db);
      // Prefer's own table names: only the application id or Prefer's version tells a store.
      db.exec('CREATE TABLE prompt (x); CREATE TABLE pair (y)');
      db.close();
      const before = contents(folder);
      for (const options of [{}, { readonly: true }])
        assert.throws(() => openStore(file, options), /app\.db: is a SQLite database of another application/);
      assert.deepEqual(contents(folder), before);
    });
  }

  it('refuses a file that is not SQLite, naming it', () => {
    const file = join(dir, 'notes.txt');
    writeFileSync(file, 'hello\n'.repeat(100));
    assert.throws(() => openStore(file), /notes\.txt: is not a SQLite database/);
    assert.equal(readFileSync(file, 'utf8'), 'hello\n'.repeat(100));
  });

  it('refuses to write into a damaged store, naming it, and leaves its bytes alone', () => {
    const folder = folderWith('damaged');
    const file = join(folder, 'prefer.sqlite');
    const store = openStore(file);
    for (let i = 0; i < 300; i++)
      store.recordPick({
        prompt: { ...prompt, prefix: `let v${i} = ${'x'.repeat(200)}` },
        candidates,
        chosenIndex: 0,
      });
    store.close();
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 4096 * 8);
    closeSync(fd);
    const before = contents(folder);
    const damaged = openStore(file);
    assert.throws(
      () => damaged.recordPick({ prompt, candidates, chosenIndex: 1 }),
      /prefer\.sqlite: the database is damaged \(.+\); restore it from a backup/,
    );
    damaged.close();
    assert.deepEqual(contents(folder), before);
  });

  it('names the file in SQLite’s errors', () => {
    const file = join(dir, 'named.sqlite');
    openStore(file).close();
    const reader = openStore(file, { readonly: true });
    assert.throws(
      () => reader.recordPick({ prompt, candidates, chosenIndex: 0 }),
      (e: Error) => e.message.startsWith(`${file}: attempt to write a readonly database`),
    );
    reader.close();
  });

  it('reads what another connection has written but not yet checkpointed', () => {
    const file = join(dir, 'live.sqlite');
    const writer = openStore(file);
    connectionOf(writer).pragma('wal_autocheckpoint = 0');
    writer.recordPick({ prompt, candidates, chosenIndex: 2 });
    const reader = openStore(file, { readonly: true });
    assert.equal(reader.stats().pairs, 2);
    reader.close();
    writer.close();
  });

  it('reads a store in a read-only folder (stats and export) without writing beside it', () => {
    const folder = folderWith('read-only');
    const file = join(folder, 'prefer.sqlite');
    const store = openStore(file);
    store.recordPick({ prompt, candidates, chosenIndex: 0 });
    store.close();
    const out = folderWith('exports');
    // root writes anywhere: run the reader as another user, so the folder really is read-only to it.
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    for (const p of [dir, out]) chmodSync(p, 0o777);
    chmodSync(folder, 0o555);
    chmodSync(file, 0o444);
    const before = contents(folder);
    try {
      const run = (...args: string[]) =>
        spawnSync(process.execPath, [cli, ...args, '--json'], { encoding: 'utf8', ...asUser });
      const stats = run('stats', '--db', file);
      assert.equal(stats.status, 0, stats.stderr);
      assert.equal((JSON.parse(stats.stdout) as { pairs: number }).pairs, 2);
      const exported = run('export', '--db', file, '--format', 'trl', '--out', join(out, 'pairs.jsonl'));
      assert.equal(exported.status, 0, exported.stderr);
      assert.equal(readFileSync(join(out, 'pairs.jsonl'), 'utf8').trimEnd().split('\n').length, 2);
      assert.deepEqual(contents(folder), before);
    } finally {
      chmodSync(folder, 0o755);
    }
  });
});
