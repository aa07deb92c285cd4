// The ways a user starts Prefer from a shell: the `prefer` bin (dist/cli.cjs) and the npm scripts. On a Node older
// than 22 each says so in one line and exits 2 (better-sqlite3 segfaults there); `prefer sample` and `prefer train`
// use the bundled model when no --model is given.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { MODEL_FLAG } from '../../../src/cli/modelFlag.ts';
import { bundledModelDir } from '../../../src/engine/hf/bundledModel.ts';
import { preferJson, tempDir } from './helpers.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const dir = tempDir('entry-points');
const systemNode = '/usr/bin/node';
/** Preloaded first: this Node reports itself as 20.20.2, as the system's Node here does. */
const pretendNode20 = join(dir, 'pretend-node-20.cjs');

before(() => {
  writeFileSync(pretendNode20, "Object.defineProperty(process.versions, 'node', { value: '20.20.2' });\n");
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'pipe' });
});

function assertRefusesOldNode(r: ReturnType<typeof spawnSync>, found: string): void {
  const stderr = String(r.stderr);
  assert.equal(r.status, 2, stderr);
  assert.equal(String(r.stdout), '');
  assert.equal(stderr.trimEnd().split('\n').length, 1, stderr);
  assert.ok(stderr.includes(`found Node ${found}`), stderr);
  assert.match(stderr, /needs Node >= 22/);
  assert.match(stderr, /source scripts\/env\.sh/);
}

test('the prefer bin refuses Node 20 in one line with exit code 2, before loading the store', () => {
  const r = spawnSync(
    process.execPath,
    ['-r', pretendNode20, 'dist/cli.cjs', 'stats', '--db', join(dir, 'x.sqlite')],
    { cwd: root },
  );
  assertRefusesOldNode(r, '20.20.2');
  const fine = spawnSync(process.execPath, ['dist/cli.cjs', '--help'], { cwd: root, encoding: 'utf8' });
  assert.equal(fine.status, 0, fine.stderr);
});

test('the npm scripts that run TypeScript refuse Node 20 before Node reads the .ts file', () => {
  const scripts = (
    JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts;
  const runningTs = Object.entries(scripts).filter(([, line]) => /^node .*\.ts\b/.test(line));
  assert.ok(runningTs.length >= 7, `found ${runningTs.length}`);
  for (const [name, line] of runningTs)
    assert.match(line, /^node -r \.\/scripts\/require-node\.cjs \S+\.ts/, name);
  const r = spawnSync(
    process.execPath,
    ['-r', pretendNode20, '-r', './scripts/require-node.cjs', 'bench/store.ts'],
    { cwd: root },
  );
  assertRefusesOldNode(r, '20.20.2');
});

test('where the system Node is older than 22, it gets the one-line refusal, never a segfault', () => {
  const version = spawnSync(systemNode, ['-p', 'process.versions.node'], { encoding: 'utf8' });
  assert.equal(version.status, 0, `${systemNode} runs`);
  const found = version.stdout.trim();
  const old = Number(found.split('.')[0]) < 22;
  for (const args of [
    ['dist/cli.cjs', 'stats', '--db', join(dir, 'y.sqlite')],
    ['-r', './scripts/require-node.cjs', 'bench/store.ts', '--help'],
  ]) {
    const r = spawnSync(systemNode, args, { cwd: root, timeout: 60_000 });
    if (old) assertRefusesOldNode(r, found);
    else assert.notEqual(r.signal, 'SIGSEGV');
  }
});

test('prefer sample and prefer train default --model to the bundled model, as the editor does', () => {
  const bundled = bundledModelDir(root);
  assert.equal(bundled, join(root, 'models', 'default'));
  assert.equal(bundledModelDir(join(root, 'dist')), bundled, 'from the bundle in dist/');
  assert.equal(bundledModelDir(join(root, 'src', 'extension', 'compare')), bundled, 'from the sources');
  assert.equal(bundledModelDir(dir), undefined, 'nothing outside a package');
  assert.equal(MODEL_FLAG.default, bundled);
  const r = preferJson(
    'sample',
    '--prefix',
    'function add(a, b) {\n  return',
    '--n',
    '2',
    '--max-tokens',
    '3',
    '--seed',
    '1',
    '--cache',
    join(dir, 'cache'),
    '--threads',
    '1',
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal((r.value as { candidates: unknown[] }).candidates.length, 2);
});
