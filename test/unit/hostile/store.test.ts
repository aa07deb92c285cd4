/**
 * Hostile input for the store and the JSONL commands (import, export, stats): databases that are not Prefer
 * stores, damaged or newer ones, outputs that would overwrite the database or another file, bad flags.
 */
import { closeSync, mkdirSync, openSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { importPairs } from '../../../src/io/importPairs.ts';
import { migrations } from '../../../src/store/migrations.ts';
import { openStore } from '../../../src/store/store.ts';
import { PREFER_APPLICATION_ID } from '../../../src/store/storeFile.ts';
import { hostileCases } from './harness.ts';

/** A store with `pairs` imported pairs, closed (so everything is in the main file). */
async function store(dir: string, name = 'prefer.sqlite', pairs = 50): Promise<string> {
  const file = join(dir, name);
  const jsonl = join(dir, '.pairs.jsonl');
  writeFileSync(
    jsonl,
    Array.from({ length: pairs }, (_, i) =>
      JSON.stringify({
        prompt: `const v${i} = `.repeat(20),
        chosen: `${i};`.repeat(30),
        rejected: `${i}`.repeat(30),
      }),
    ).join('\n'),
  );
  const s = openStore(file);
  await importPairs(s, jsonl);
  s.close();
  return file;
}

/** Another application's database: its own tables, its own user_version, optionally WAL or its own id. */
function otherApp(dir: string, options: { wal?: boolean; applicationId?: number } = {}): string {
  const file = join(dir, 'other-app.sqlite');
  const db = new Database(file);
  if (options.wal) db.pragma('journal_mode = WAL');
  db.exec(
    "CREATE TABLE settings (k TEXT PRIMARY KEY, v TEXT); INSERT INTO settings VALUES ('theme', 'dark')",
  );
  db.pragma('user_version = 3');
  if (options.applicationId !== undefined) db.pragma(`application_id = ${options.applicationId}`);
  db.close();
  return file;
}

function newerStore(dir: string): string {
  const file = join(dir, 'future.sqlite');
  const db = new Database(file);
  db.pragma(`application_id = ${PREFER_APPLICATION_ID}`);
  db.exec('CREATE TABLE pair (id INTEGER PRIMARY KEY, shape_of_the_future TEXT)');
  db.pragma(`user_version = ${migrations.length + 7}`);
  db.close();
  return file;
}

/** A real store with pairs whose middle pages were overwritten (a bad disk, a bad copy). */
async function corruptStore(dir: string): Promise<string> {
  const file = await store(dir, 'corrupt.sqlite', 2000);
  const { size } = statSync(file);
  const fd = openSync(file, 'r+');
  const garbage = Buffer.alloc(3 * 4096);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 131 + 17) & 0xff;
  writeSync(fd, garbage, 0, garbage.length, Math.floor(size / 2 / 4096) * 4096);
  closeSync(fd);
  return file;
}

const jsonl = (dir: string, name = 'pairs.jsonl') => {
  const file = join(dir, name);
  writeFileSync(file, '{"prompt":"a","chosen":"b","rejected":"c"}\n');
  return file;
};

const exportArgs = (db: string, out: string, ...more: string[]) => [
  'export',
  '--db',
  db,
  '--format',
  'trl',
  '--out',
  out,
  ...more,
];

hostileCases('store', [
  {
    name: 'stats --db another application’s SQLite file',
    setup: (dir) => ['stats', '--db', otherApp(dir)],
    error: /other-app\.sqlite: is a SQLite database of another application/,
  },
  {
    name: 'import into another application’s SQLite file in WAL mode',
    setup: (dir) => ['import', jsonl(dir), '--db', otherApp(dir, { wal: true })],
    error: /other-app\.sqlite: is a SQLite database of another application/,
  },
  {
    name: 'export from a SQLite file with another application id',
    setup: (dir) => exportArgs(otherApp(dir, { applicationId: 0x47504b47 }), 'out.jsonl'),
    error: /other-app\.sqlite: is a SQLite database of another application/,
  },
  {
    name: 'stats --db a text file',
    setup: (dir) => {
      writeFileSync(join(dir, 'notes.txt'), 'remember the milk\n'.repeat(20));
      return ['stats', '--db', 'notes.txt'];
    },
    error: /notes\.txt: is not a SQLite database/,
  },
  {
    name: 'import --db a file of random bytes',
    setup: (dir) => {
      writeFileSync(
        join(dir, 'random.bin'),
        Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 37 + 11) & 0xff)),
      );
      return ['import', jsonl(dir), '--db', 'random.bin'];
    },
    error: /random\.bin: is not a SQLite database/,
  },
  {
    name: 'import into a store damaged mid-file',
    setup: async (dir) => ['import', jsonl(dir), '--db', await corruptStore(dir)],
    error: /corrupt\.sqlite: the database is damaged/,
    timeoutMs: 120_000,
  },
  {
    name: 'stats --db a folder',
    setup: (dir) => {
      mkdirSync(join(dir, 'store'));
      return ['stats', '--db', 'store'];
    },
    error: /store: is a folder, not a database file/,
  },
  {
    name: 'import --db a folder',
    setup: (dir) => {
      mkdirSync(join(dir, 'store'));
      return ['import', jsonl(dir), '--db', 'store'];
    },
    error: /store: is a folder, not a database file/,
  },
  {
    name: 'import --db a path below a file',
    setup: (dir) => {
      writeFileSync(join(dir, 'notes.txt'), 'not a folder\n');
      return ['import', jsonl(dir), '--db', join('notes.txt', 'prefer.sqlite')];
    },
    error: /notes\.txt/,
  },
  {
    name: 'import into a store of a newer Prefer',
    setup: (dir) => ['import', jsonl(dir), '--db', newerStore(dir)],
    error: /future\.sqlite: database schema version \d+ is newer than this version of Prefer/,
  },
  {
    name: 'stats on a store of a newer Prefer',
    setup: (dir) => ['stats', '--db', newerStore(dir)],
    error: /future\.sqlite: database schema version \d+ is newer/,
  },
  {
    name: 'export --out the database itself',
    setup: async (dir) => exportArgs(await store(dir), join(dir, 'prefer.sqlite'), '--force'),
    error: /prefer\.sqlite: is the database/,
  },
  {
    name: 'export --out a link to the database',
    setup: async (dir) => {
      const db = await store(dir);
      symlinkSync(db, join(dir, 'pairs.jsonl'));
      return exportArgs(db, 'pairs.jsonl', '--force');
    },
    error: /pairs\.jsonl: is the database/,
  },
  {
    name: 'export --out the database’s write-ahead log',
    setup: async (dir) => exportArgs(await store(dir), 'prefer.sqlite-wal'),
    error: /prefer\.sqlite-wal: is the database/,
  },
  {
    name: 'export --out an existing file without --force',
    setup: async (dir) => exportArgs(await store(dir), jsonl(dir, 'previous.jsonl')),
    error: /previous\.jsonl: already exists \(--force overwrites it\)/,
  },
  {
    name: 'export --include-ties when the ties file exists, without --force',
    setup: async (dir) => {
      jsonl(dir, 'out.ties.jsonl');
      return exportArgs(await store(dir), 'out.jsonl', '--include-ties');
    },
    error: /out\.ties\.jsonl: already exists/,
  },
  {
    name: 'export --out a folder',
    setup: async (dir) => {
      mkdirSync(join(dir, 'exports'));
      return exportArgs(await store(dir), 'exports', '--force');
    },
    error: /exports: is a folder/,
  },
  {
    name: 'export --out in a missing folder',
    setup: async (dir) => exportArgs(await store(dir), join('missing', 'out.jsonl')),
    error: /missing: no such folder/,
  },
  {
    name: 'import a folder',
    setup: async (dir) => {
      mkdirSync(join(dir, 'data.jsonl'));
      return ['import', 'data.jsonl', '--db', await store(dir)];
    },
    error: /data\.jsonl: is a folder, not a file/,
  },
  {
    name: 'import a line with a lone surrogate (two texts would become one)',
    setup: (dir) => {
      writeFileSync(
        join(dir, 'surrogate.jsonl'),
        '{"prompt":"p","chosen":"x\\ud800","rejected":"x\\udbff"}\n{"prompt":"p","chosen":"y","rejected":"z\\udc00"}\n',
      );
      return ['import', 'surrogate.jsonl', '--db', 'new.sqlite'];
    },
    error: /surrogate\.jsonl:1: field "chosen" has a lone surrogate \(\\ud800\)/,
    code: 1,
    mayCreate: /^new\.sqlite$/,
  },
  {
    name: 'export with a bad --format',
    setup: async (dir) => ['export', '--db', await store(dir), '--format', 'csv', '--out', 'out.csv'],
    error: /--format must be one of trl, trl-conversational, openai/,
  },
  {
    name: 'import with a bad --format',
    setup: async (dir) => ['import', jsonl(dir), '--db', await store(dir), '--format', 'xml'],
    error: /--format must be one of/,
  },
  {
    name: 'export --since a day that does not exist',
    setup: async (dir) => exportArgs(await store(dir), 'out.jsonl', '--since', '2025-02-31'),
    error: /--since 2025-02-31: not ISO 8601/,
  },
  {
    name: 'export --until a word',
    setup: async (dir) => exportArgs(await store(dir), 'out.jsonl', '--until', 'tomorrow'),
    error: /--until tomorrow: not ISO 8601/,
  },
  {
    name: 'export --adapter that is not a version',
    setup: async (dir) => exportArgs(await store(dir), 'out.jsonl', '--adapter', 'latest'),
    error: /--adapter latest: expected an adapter version/,
  },
  {
    name: 'export --source with an empty name',
    setup: async (dir) => exportArgs(await store(dir), 'out.jsonl', '--source', 'human,'),
    error: /--source: empty value/,
  },
  {
    name: 'stats --db a database that does not exist',
    setup: () => ['stats', '--db', 'nothing-here.sqlite'],
    error: /nothing-here\.sqlite: no such database/,
  },
  {
    name: 'export from a database that does not exist',
    setup: () => exportArgs('nothing-here.sqlite', 'out.jsonl'),
    error: /nothing-here\.sqlite: no such database/,
  },
]);
