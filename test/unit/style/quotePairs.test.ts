import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drawQuoteCuts, firstLiteral, firstNonBlankLine, isScriptFile, quoteLines, quotePair, writeWithQuote } from '../../../scripts/style/quotePairs.ts';

const file = `import { join } from "node:path";
// the user's home
const greeting = 'hello';
const escaped = 'it\\'s';
const tab = 'a\\tb';
const mixed = 'a "b" c';
const both = label('x', "y");
const template = \`t\`;
const commented = 'ok'; // don't
const empty = '';
`;

test('finds only lines whose every string literal is plain and that have no other quote character', () => {
  const lines = quoteLines('f.ts', file).map((l) => l.text);
  assert.deepEqual(lines, ['import { join } from "node:path";', "const greeting = 'hello';", `const both = label('x', "y");`, "const empty = '';"]);
});

test('rewrites every literal of a line to one quote and leaves the rest of the line alone', () => {
  const both = quoteLines('f.ts', file).find((l) => l.text.startsWith('const both'))!;
  assert.equal(writeWithQuote(both, "'"), "const both = label('x', 'y');");
  assert.equal(writeWithQuote(both, '"'), 'const both = label("x", "y");');
  const empty = quoteLines('f.ts', file).find((l) => l.text.startsWith('const empty'))!;
  assert.equal(writeWithQuote(empty, '"'), 'const empty = "";');
});

test('a pair is the prefix before the line, the line in the preferred quote over the line in the other', () => {
  const documents = [{ package: 'p', file: 'p/f.ts', text: file }];
  const cuts = drawQuoteCuts(documents, { count: 1, seed: 3, minPrefixChars: 0 });
  assert.equal(cuts.length, 1);
  const cut = cuts[0]!;
  assert.equal(`${cut.prefix}\n${cut.line.text}`, file.slice(0, cut.line.start + cut.line.text.length));
  const single = quotePair(cut, "'");
  const double = quotePair(cut, '"');
  assert.equal(single.suffix, '');
  assert.equal(single.chosen, double.rejected);
  assert.equal(single.rejected, double.chosen);
  assert.ok(single.chosen.startsWith('\n') && !single.chosen.includes('"'));
  assert.ok(!single.rejected.includes("'"));
});

test('cuts are drawn deterministically from the seed, one per file, only from script files with context before the line', () => {
  const documents = Array.from({ length: 12 }, (_, i) => ({ package: 'p', file: `p/f${i}.${i % 4 === 0 ? 'd.ts' : i % 4 === 1 ? 'tsx' : 'js'}`, text: `${'// padding\n'.repeat(i)}${file}` }));
  const draw = (seed: number) => drawQuoteCuts(documents, { count: 6, seed, minPrefixChars: 40 });
  const a = draw(5);
  assert.deepEqual(draw(5), a);
  assert.notDeepEqual(draw(6).map((c) => [c.file, c.line.start]), a.map((c) => [c.file, c.line.start]));
  assert.equal(a.length, 6);
  assert.equal(new Set(a.map((c) => c.file)).size, 6);
  for (const cut of a) {
    assert.ok(cut.file.endsWith('.js'), cut.file);
    assert.ok(cut.prefix.length >= 39);
    const text = documents.find((d) => d.file === cut.file)!.text;
    assert.ok(text.startsWith(`${cut.prefix}\n${cut.line.text}\n`));
  }
  assert.equal(isScriptFile('a/b.d.mts'), false);
  assert.equal(isScriptFile('a/b.mjs'), true);
});

test("reads the quote of a sampled line's first string literal, not of a comment or an unterminated string", () => {
  assert.equal(firstLiteral(`  foo('a', "b");`), "'");
  assert.equal(firstLiteral(`  foo("a", 'b');`), '"');
  assert.equal(firstLiteral('  x = `a` + "b";'), 'template');
  assert.equal(firstLiteral(`  x = 1; // it's "quoted"`), 'none');
  assert.equal(firstLiteral(`  throw new Error('unfinished`), 'none');
  assert.equal(firstLiteral(''), 'none');
});

test('a sampled completion is read by its first non-blank line', () => {
  assert.equal(firstNonBlankLine(`\n  \n  foo("a");\n  bar('b');`), '  foo("a");');
  assert.equal(firstNonBlankLine('\n\t\n'), '');
});
