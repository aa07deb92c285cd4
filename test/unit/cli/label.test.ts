import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
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
