import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parses, sampleBoundaries, statementStarts } from '../../../scripts/eval-base.ts';

const file = `import { a } from './a';

export function f(x: number): number {
  const y = x + 1;
  if (y > 2) {
    return y;
  }
  return a(y);
}
`;

test('finds statement starts at every level of nesting, after indentation', () => {
  const starts = statementStarts('f.ts', file);
  const lines = starts.map((s) => file.slice(s, file.indexOf('\n', s)));
  assert.deepEqual(lines, ["import { a } from './a';", 'export function f(x: number): number {', 'const y = x + 1;', 'if (y > 2) {', 'return y;', 'return a(y);']);
});

test('a completion counts only when the file with it inserted parses', async () => {
  const at = file.indexOf('return a(y)');
  const [prefix, suffix] = [file.slice(0, at), file.slice(at)];
  assert.equal(await parses('typescript', prefix, suffix, 'const z = y * 2;\n  '), true);
  assert.equal(await parses('typescript', prefix, suffix, 'const z = (y * 2;\n  '), false);
});

test('boundaries are drawn deterministically from parseable files only', async () => {
  const documents = [
    { package: 'p', file: 'p/ok.ts', text: file },
    { package: 'p', file: 'p/broken.ts', text: 'export function (' },
  ];
  const a = await sampleBoundaries(documents, 5, 3);
  assert.deepEqual(await sampleBoundaries(documents, 5, 3), a);
  assert.equal(a.length, 5);
  for (const b of a) {
    assert.equal(b.file, 'p/ok.ts');
    assert.equal(b.prefix + b.suffix, file);
  }
});
