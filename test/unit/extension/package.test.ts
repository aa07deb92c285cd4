// What the VSIX holds (the list `vsce ls` gives, as `vsce package` does): bundled JavaScript only, none from
// node_modules, and the files the bundles load at run time. A copy of exactly those files, away from the
// repository's node_modules, opens a store, type-checks with TypeScript's libraries and samples through ONNX Runtime.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../../../src/store/store.ts';

const root = join(import.meta.dirname, '..', '..', '..');

/** Loaded from node_modules by the bundles: the addons, the runtime the ONNX addon links, the checker's libraries. */
const RUNTIME_FILES = [
  'node_modules/better-sqlite3/prebuilds/linux-x64.node',
  'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
  'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1',
  'node_modules/typescript/lib/lib.es2022.full.d.ts',
  'node_modules/typescript/lib/lib.dom.d.ts',
];

describe('the packaged extension', () => {
  let files: string[] = [];
  const copy = mkdtempSync(join(tmpdir(), 'prefer-packaged-'));
  after(() => rmSync(copy, { recursive: true, force: true }));

  before(() => {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'pipe' });
    const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
    const listing = execFileSync(process.execPath, [vsce, 'ls'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 300_000,
    });
    files = listing.split('\n').filter((line) => line !== '');
    for (const file of files) cpSync(join(root, file), join(copy, file));
  });

  it('holds no JavaScript from node_modules, and fewer JavaScript files than vsce warns about', () => {
    const script = /\.(c|m)?js$/;
    assert.deepEqual(
      files.filter((f) => f.startsWith('node_modules/') && script.test(f)),
      [],
    );
    assert.ok(files.filter((f) => script.test(f)).length < 100, files.join('\n'));
    assert.ok(
      files.includes('dist/extension.cjs') && files.includes('dist/engine-worker.cjs'),
      files.join('\n'),
    );
  });

  it('holds the native files and TypeScript libraries the bundles load', () => {
    for (const file of RUNTIME_FILES) assert.ok(files.includes(file), `${file} is not packaged`);
  });

  it('runs from a copy of the packaged files alone', () => {
    // Nothing above the copy may offer a package the bundles would otherwise fall back on.
    for (let dir = copy; dir !== parse(dir).root;) {
      dir = dirname(dir);
      assert.ok(
        !existsSync(join(dir, 'node_modules')),
        `${join(dir, 'node_modules')} would hide a missing file`,
      );
    }
    const cli = (...args: string[]) => {
      const r = spawnSync(process.execPath, [join(copy, 'dist', 'cli.cjs'), ...args, '--json'], {
        cwd: copy,
        encoding: 'utf8',
        timeout: 120_000,
      });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };

    const db = join(copy, 'store.sqlite');
    const store = openStore(db);
    // `.length` of an array types only with TypeScript's library files (without them the labeler refuses to run).
    store.recordJudgment({
      prompt: { language: 'typescript', prefix: 'const n: number = ' },
      candidates: [
        { text: '[1, 2].length;', modelId: 'm' },
        { text: "'two';", modelId: 'm' },
      ],
      outcome: { kind: 'skip' },
    });
    store.close();
    assert.equal(cli('label', '--db', db, '--labeler', 'compile').pairs_added, 1);
    assert.equal((cli('stats', '--db', db).pairsBySource as Record<string, number>).compile, 1);

    const sampled = cli(
      'sample',
      '--prefix',
      'function add(a, b) {',
      '--n',
      '2',
      '--max-tokens',
      '2',
      '--seed',
      '1',
      '--cache',
      join(copy, 'cache'),
    );
    assert.equal((sampled.candidates as unknown[]).length, 2);
  });
});
