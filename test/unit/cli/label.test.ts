import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openStore } from '../../../src/store/store.ts';
import { prefer, preferJson, tempDir } from './helpers.ts';

const dir = tempDir('cli-label');

describe('prefer label', () => {
  const db = join(dir, 'label.sqlite');
  const store = openStore(db);
  store.recordJudgment({
    prompt: { language: 'typescript', prefix: 'const n: number = ' },
    candidates: [
      { text: '1;', modelId: 'm' },
      { text: '1 +;', modelId: 'm' },
      { text: "'one';", modelId: 'm' },
    ],
    outcome: { kind: 'skip' },
  });
  store.close();

  it('adds parse pairs and reports them', () => {
    const r = preferJson('label', '--db', db, '--labeler', 'parse');
    assert.equal(r.code, 0);
    assert.equal(r.value.pairs_added, 2);
    assert.equal(r.value.candidates_scored, 3);
  });

  it('adds compile pairs', () => {
    const r = preferJson('label', '--db', db, '--labeler', 'compile');
    assert.equal(r.code, 0);
    // No error beats the string (one type error) and the syntax error (one); those two tie.
    assert.equal(r.value.pairs_added, 2);
  });

  it('refuses to run a test command without --trust and runs nothing', () => {
    const marker = join(dir, 'ran');
    const r = prefer(
      'label',
      '--db',
      db,
      '--labeler',
      'test',
      '--',
      process.execPath,
      '-e',
      `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`,
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /pass --trust to allow it/);
    assert.ok(!existsSync(marker));
  });

  it('runs a trusted test command given after --', () => {
    const script =
      "process.exit(require('fs').readFileSync(process.argv[1], 'utf8').includes('= 1;') ? 0 : 1)";
    const r = preferJson(
      'label',
      '--db',
      db,
      '--labeler',
      'test',
      '--trust',
      '--timeout',
      '20',
      '--',
      process.execPath,
      '-e',
      script,
      '{file}',
    );
    assert.equal(r.code, 0);
    assert.equal(r.value.pairs_added, 2);
    const s = preferJson('stats', '--db', db).value;
    assert.equal((s.pairsBySource as Record<string, number>).test, 2);
    assert.equal(s.labelerRuns, 3);
  });

  it('rejects an unknown labeler and a command given to the parse labeler', () => {
    assert.match(
      prefer('label', '--db', db, '--labeler', 'vibes').stderr,
      /--labeler must be one of parse, compile, test, metric/,
    );
    assert.match(prefer('label', '--db', db, '--labeler', 'parse', '--', 'ls').stderr, /takes no command/);
  });
});

it('a --json after -- belongs to the labeler command, not to prefer', () => {
  const r = prefer('label', '--db', join(tempDir('json-after-dashes'), 'missing.sqlite'), '--labeler', 'test', '--', 'node', '--json');
  assert.notEqual(r.code, 0);
  assert.equal(r.stdout, '', 'no JSON error object on stdout');
  assert.match(r.stderr, /prefer label/);
});

describe('prefer label on imported file paths', () => {
  const dir = tempDir('cli-label-paths');
  const workspace = join(dir, 'ws');
  mkdirSync(join(workspace, 'src'), { recursive: true });
  const marker = join(dir, 'PWNED');
  const db = join(dir, 'paths.sqlite');
  const lines = [
    'x$(touch $PREFER_TEST_MARKER).js',
    join(workspace, 'src', '`touch $PREFER_TEST_MARKER`.js'),
    '/x/..',
    '../escape.js',
    '/elsewhere/a.js',
    join(workspace, 'src', 'ok.js'),
  ].map((file_path) => JSON.stringify({ prompt: 'say ', chosen: 'good', rejected: 'bad', file_path }));
  writeFileSync(join(dir, 'pairs.jsonl'), lines.join('\n') + '\n');

  it('never runs what a file path holds, skips the paths outside the workspace with reasons, and goes on', () => {
    assert.equal(preferJson('import', join(dir, 'pairs.jsonl'), '--db', db).code, 0);
    process.env.PREFER_TEST_MARKER = marker;
    const labelArgs = ['label', '--db', db, '--labeler', 'test', '--trust'];
    const command = ['--', 'sh', '-c', 'grep -q good {file}'];
    const r = preferJson(...labelArgs, '--workspace', workspace, ...command);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!existsSync(marker), 'nothing in a file path ran');
    assert.equal(r.value.pairs_added, 3, 'the two prompts with safe-named files, and ok.js');
    assert.deepEqual(
      (r.value.skipped as { file_path: string; reason: string }[]).map((s) => [s.file_path, s.reason]),
      [
        ['/x/..', "file path has a '..' segment"],
        ['../escape.js', "file path has a '..' segment"],
        ['/elsewhere/a.js', 'file path is outside the workspace'],
      ],
    );
    const plain = prefer(...labelArgs, ...command);
    assert.equal(plain.code, 0, plain.stderr);
    assert.ok(!existsSync(marker), 'nothing in a file path ran without --workspace either');
    assert.match(plain.stdout, /; 2 prompts skipped \(2 file path has a '\.\.' segment\)/);
  });
});
