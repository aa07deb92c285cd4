import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { prefer, preferJson, tempDir } from './helpers.ts';

const dir = tempDir('cli');
const golden = (name: string) => join(import.meta.dirname, '../../fixtures/io/golden', name);

describe('prefer import / export / stats', () => {
  const db = join(dir, 'pairs.sqlite');

  it('imports a file and reports counts as one JSON object', () => {
    const r = preferJson('import', golden('trl.jsonl'), '--db', db);
    assert.equal(r.code, 0);
    assert.deepEqual(r.value, { imported: 5, skipped: 0, errors: [], error_count: 0, format: 'trl' });
    const again = preferJson('import', golden('trl.jsonl'), '--db', db);
    assert.deepEqual([again.value.imported, again.value.skipped], [0, 5]);
  });

  it('reports bad lines with their numbers and exits 1 while keeping the good ones', () => {
    const file = join(dir, 'some-bad.jsonl');
    writeFileSync(
      file,
      '{"prompt":"p","chosen":"a","rejected":"b"}\n{oops\n{"prompt":"p","chosen":"a","rejected":"a"}\n',
    );
    const bad = join(dir, 'bad.sqlite');
    const r = preferJson('import', file, '--db', bad);
    assert.equal(r.code, 1);
    assert.equal(r.value.imported, 1);
    assert.deepEqual(
      (r.value.errors as { line: number }[]).map((e) => e.line),
      [2, 3],
    );
    const text = prefer('import', file, '--db', join(dir, 'bad-text.sqlite'));
    assert.match(text.stdout, /some-bad\.jsonl:2: invalid JSON/);
  });

  it('exports with filters and the private option', () => {
    const out = join(dir, 'out.jsonl');
    const r = preferJson(
      'export',
      '--db',
      db,
      '--format',
      'trl',
      '--out',
      out,
      '--language',
      'python',
      '--private',
    );
    assert.equal(r.code, 0);
    assert.deepEqual(r.value, { exported: 1, out });
    const line = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
    assert.equal(line.language, 'python');
    assert.ok(!('file_path' in line) && !('workspace' in line));
    const bySource = preferJson(
      'export',
      '--db',
      db,
      '--format',
      'openai',
      '--out',
      out,
      '--source',
      'human,parse',
      '--force',
    );
    assert.equal(bySource.value.exported, 5);
  });

  it('counts pairs by source, language and adapter', () => {
    const r = preferJson('stats', '--db', db);
    assert.equal(r.code, 0);
    assert.deepEqual(r.value.pairsBySource, { human: 4, parse: 1 });
    assert.deepEqual(r.value.pairsByLanguage, { python: 1, typescript: 4 });
    assert.deepEqual(r.value.pairsByAdapter, { base: 5 });
    assert.match(prefer('stats', '--db', db).stdout, /by source\s+human 4, parse 1/);
  });

  it('fails with one line and a non-zero exit code on bad usage', () => {
    const cases: [string[], RegExp][] = [
      [
        ['export', '--db', db, '--format', 'csv', '--out', join(dir, 'x.jsonl')],
        /--format must be one of trl, trl-conversational, openai/,
      ],
      [
        ['export', '--db', join(dir, 'missing.sqlite'), '--format', 'trl', '--out', join(dir, 'x.jsonl')],
        /no such database/,
      ],
      [
        ['export', '--db', db, '--format', 'trl', '--out', join(dir, 'x.jsonl'), '--since', 'yesterday'],
        /not ISO 8601/,
      ],
      [
        ['export', '--db', db, '--format', 'trl', '--out', join(dir, 'x.jsonl'), '--adapter', '7'],
        /no such adapter version/,
      ],
      [['import', join(dir, 'nope.jsonl'), '--db', db], /no such file/],
      [['import', dir, '--db', db], /not a file/],
      [
        ['export', '--db', db, '--format', 'trl', '--out', join(dir, 'no-folder', 'x.jsonl')],
        /no-folder: no such folder/,
      ],
      [['import', '--db', db], /FILE is required/],
      [['import', golden('trl.jsonl'), '--db', db, '--format', 'xml'], /--format must be one of/],
    ];
    for (const [args, message] of cases) {
      const r = prefer(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    assert.ok(!existsSync(join(dir, 'x.jsonl')));
  });

  it('prints help for each command', () => {
    for (const command of ['import', 'export', 'stats']) {
      const r = prefer(command, '--help');
      assert.equal(r.code, 0);
      assert.match(r.stdout, new RegExp(`^prefer ${command} `));
    }
  });
});
