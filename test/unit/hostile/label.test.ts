import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStore } from '../../../src/store/store.ts';
import { hostileCases } from './harness.ts';

/** A Prefer store with one prompt of two candidates, so only the flag at fault stops the run. */
function preferStore(dir: string): string {
  const file = join(dir, 'prefs.sqlite');
  const store = openStore(file);
  store.recordJudgment({
    prompt: { language: 'typescript', prefix: 'const n = ' },
    candidates: [
      { text: '1;', modelId: 'm' },
      { text: '1 +;', modelId: 'm' },
    ],
    outcome: { kind: 'skip' },
  });
  store.close();
  return file;
}

/** A command that leaves a file behind if it ever runs: the harness fails any case that creates one. */
const witness = [process.execPath, '-e', "require('fs').writeFileSync('ran', '')"];
const test = (dir: string, ...flags: string[]) => [
  'label',
  '--db',
  preferStore(dir),
  '--labeler',
  'test',
  ...flags,
];

hostileCases('label', [
  {
    name: 'an unknown --labeler',
    setup: (dir) => ['label', '--db', preferStore(dir), '--labeler', 'vibes'],
    error: /--labeler must be one of parse, compile, test, metric/,
  },
  {
    name: 'no --labeler',
    setup: (dir) => ['label', '--db', preferStore(dir)],
    error: /--labeler is required/,
  },
  {
    name: 'no --db',
    setup: () => ['label', '--labeler', 'parse'],
    error: /--db is required/,
  },
  {
    name: '--db names no file',
    setup: () => ['label', '--db', 'missing.sqlite', '--labeler', 'parse'],
    error: /missing\.sqlite: no such database/,
  },
  {
    name: '--db is a folder',
    setup: (dir) => {
      mkdirSync(join(dir, 'store.sqlite'));
      return ['label', '--db', 'store.sqlite', '--labeler', 'parse'];
    },
    error: /store\.sqlite: not a database file/,
  },
  {
    name: '--db is a FIFO',
    setup: (dir) => {
      execFileSync('mkfifo', [join(dir, 'pipe.sqlite')]);
      return ['label', '--db', 'pipe.sqlite', '--labeler', 'parse'];
    },
    error: /pipe\.sqlite: not a database file/,
  },
  {
    name: '--db is a text file',
    setup: (dir) => {
      writeFileSync(join(dir, 'notes.txt'), 'not a database\n');
      return ['label', '--db', 'notes.txt', '--labeler', 'parse'];
    },
    error: /notes\.txt/,
  },
  {
    name: '--db is the SQLite database of another application',
    setup: (dir) => {
      const db = new Database(join(dir, 'other.sqlite'));
      db.exec('CREATE TABLE contacts (name TEXT)');
      db.close();
      return ['label', '--db', 'other.sqlite', '--labeler', 'parse'];
    },
    error: /other\.sqlite/,
  },
  {
    name: 'the test labeler without a command after --',
    setup: (dir) => test(dir, '--trust'),
    error: /the test labeler needs a command after --/,
  },
  {
    name: 'the metric labeler with an empty program',
    setup: (dir) => ['label', '--db', preferStore(dir), '--labeler', 'metric', '--trust', '--', ''],
    error: /the metric labeler needs a command after --/,
  },
  {
    name: 'the test labeler without --trust runs nothing',
    setup: (dir) => test(dir, '--', ...witness),
    error: /pass --trust to allow it/,
  },
  {
    name: 'the metric labeler without --trust runs nothing',
    setup: (dir) => ['label', '--db', preferStore(dir), '--labeler', 'metric', '--', ...witness],
    error: /pass --trust to allow it/,
  },
  {
    name: 'the parse labeler given a command',
    setup: (dir) => ['label', '--db', preferStore(dir), '--labeler', 'parse', '--', ...witness],
    error: /the parse labeler takes no command/,
  },
  {
    name: '--timeout is not a number',
    setup: (dir) => test(dir, '--trust', '--timeout', 'soon', '--', ...witness),
    error: /--timeout must be a number of seconds .*'soon'/,
  },
  {
    name: '--timeout is zero',
    setup: (dir) => test(dir, '--trust', '--timeout', '0', '--', ...witness),
    error: /--timeout must be a number of seconds/,
  },
  {
    name: '--timeout is negative',
    setup: (dir) => test(dir, '--trust', '--timeout=-5', '--', ...witness),
    error: /--timeout must be a number of seconds/,
  },
  {
    name: '--timeout is Infinity (a timer would fire at once)',
    setup: (dir) => test(dir, '--trust', '--timeout', 'Infinity', '--', ...witness),
    error: /--timeout must be a number of seconds above 0 and at most 86400/,
  },
  {
    name: '--timeout is past what a timer can wait',
    setup: (dir) => test(dir, '--trust', '--timeout', '1e9', '--', ...witness),
    error: /--timeout must be a number of seconds/,
  },
  {
    name: '--timeout given to the parse labeler',
    setup: (dir) => ['label', '--db', preferStore(dir), '--labeler', 'parse', '--timeout', '5'],
    error: /--timeout applies to the test and metric labelers only/,
  },
  {
    name: '--workspace names no folder',
    setup: (dir) => test(dir, '--trust', '--workspace', 'nowhere', '--', ...witness),
    error: /--workspace nowhere: no such folder/,
  },
  {
    name: '--workspace is a file',
    setup: (dir) => {
      writeFileSync(join(dir, 'project.txt'), 'a file\n');
      return test(dir, '--trust', '--workspace', 'project.txt', '--', ...witness);
    },
    error: /--workspace project\.txt: not a folder/,
  },
  {
    name: '--workspace given to the compile labeler',
    setup: (dir) => ['label', '--db', preferStore(dir), '--labeler', 'compile', '--workspace', dir],
    error: /--workspace applies to the test and metric labelers only/,
  },
  {
    name: '--language is empty',
    setup: (dir) => ['label', '--db', preferStore(dir), '--labeler', 'parse', '--language', ''],
    error: /--language has an empty language name/,
  },
  {
    name: '--language is a list with an empty name',
    setup: (dir) => [
      'label',
      '--db',
      preferStore(dir),
      '--labeler',
      'parse',
      '--language',
      'typescript,,json',
    ],
    error: /--language has an empty language name/,
  },
  {
    name: 'an unknown flag',
    setup: (dir) => ['label', '--db', preferStore(dir), '--labeler', 'parse', '--bogus'],
    error: /--bogus/,
  },
]);
