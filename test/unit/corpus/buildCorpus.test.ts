import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type ManifestEntry, buildCorpus, splitOf } from '../../../scripts/corpus/build-corpus.ts';

const root = mkdtempSync(join(tmpdir(), 'prefer-corpus-'));
after(() => rmSync(root, { recursive: true, force: true }));

const source = (name: string) =>
  `/** ${name}: adds numbers and keeps a running total. */\nlet total = 0;\n\nexport function ${name}(a: number, b: number): number {\n  const sum = a + b;\n  total += sum;\n  return sum;\n}\n\nexport const ${name}Name = '${name}';\nexport const ${name}Total = () => total;\n`;

function pkg(dir: string, json: Record<string, unknown>, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify(json));
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
}

const modules = join(root, 'node_modules');
pkg(join(modules, 'alpha'), { name: 'alpha', version: '1.0.0', license: 'MIT' }, { 'src/a.ts': source('alpha'), 'dist/a.min.js': source('alphaMin'), 'lib/copy.js': source('shared') });
pkg(join(modules, 'beta'), { name: 'beta', version: '2.1.0', license: 'GPL-3.0' }, { 'index.js': source('beta') });
pkg(join(modules, 'gamma'), { name: 'gamma', version: '0.3.0', license: 'Apache-2.0' }, { 'index.js': source('shared'), 'lib/esm/package.json': '' });
// a nested dependency with its own license, and a type-only package.json that inherits its owner
pkg(join(modules, 'gamma/node_modules/delta'), { name: 'delta', version: '5.0.0', license: 'ISC' }, { 'index.cjs': source('delta') });
pkg(join(modules, 'gamma/lib/esm'), { type: 'module' }, { 'index.mjs': source('gammaEsm') });

const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');
const manifestOf = (dir: string) => read(dir, 'manifest.jsonl').trim().split('\n').map((l) => JSON.parse(l) as ManifestEntry);

test('keeps permissive hand-written files with package, version, license and hash; drops the rest', () => {
  const out = join(root, 'out1');
  const summary = buildCorpus([modules], out, 5, root);
  const manifest = manifestOf(out);
  const kept = manifest.map((e) => `${e.package}@${e.version} ${e.license} ${e.file}`);
  assert.deepEqual(kept, [
    'alpha@1.0.0 MIT node_modules/alpha/lib/copy.js',
    'alpha@1.0.0 MIT node_modules/alpha/src/a.ts',
    'gamma@0.3.0 Apache-2.0 node_modules/gamma/lib/esm/index.mjs',
    'delta@5.0.0 ISC node_modules/gamma/node_modules/delta/index.cjs',
  ]);
  assert.equal(summary.dropped['license'], 1);
  assert.equal(summary.dropped['minified-name'], 1);
  // gamma/index.js has the same bytes as alpha/lib/copy.js: only the first in walk order is kept
  assert.equal(summary.dropped['duplicate'], 1);
  for (const e of manifest) assert.match(e.sha256, /^[0-9a-f]{64}$/);
});

test('splits by package name, so no package has files on both sides', () => {
  const out = join(root, 'out2');
  buildCorpus([modules], out, 50, root);
  const manifest = manifestOf(out);
  for (const e of manifest) assert.equal(e.split, splitOf(e.package, 50));
  const sides = new Map<string, Set<string>>();
  for (const e of manifest) sides.set(e.package, (sides.get(e.package) ?? new Set()).add(e.split));
  for (const [name, s] of sides) assert.equal(s.size, 1, name);
  const documents = [...read(out, 'train.jsonl').trim().split('\n'), ...read(out, 'heldout.jsonl').trim().split('\n')].filter(Boolean);
  assert.equal(documents.length, manifest.length);
});

test('is deterministic: a rebuild writes identical files', () => {
  const [a, b] = [join(root, 'out3'), join(root, 'out4')];
  buildCorpus([modules], a, 5, root);
  buildCorpus([modules], b, 5, root);
  for (const file of ['manifest.jsonl', 'train.jsonl', 'heldout.jsonl', 'summary.json']) assert.equal(read(a, file), read(b, file), file);
});
