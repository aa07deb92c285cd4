import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckpointTokenizer } from '../../../src/engine/hf/tokenizer.ts';
import { STATEMENT_FIM_DEFAULTS, statementExample, statementExamples, statementSpans } from '../../../scripts/corpus/statement-fim.ts';
import { mulberry32 } from '../../../src/pretrain/batches.ts';

const tokenizer = await CheckpointTokenizer.fromDir(join(import.meta.dirname, '../../../models/default'));
const id = (text: string) => tokenizer.tokenId(text)!;
const markers = { prefix: id('<|fim_prefix|>'), suffix: id('<|fim_suffix|>'), middle: id('<|fim_middle|>'), endOfText: id('<|endoftext|>') };

const FILE = `import { a } from './a';

export function f(x: number): number {
    const y = x + 1;
    if (y > 2) {
        return a(y);
    }
    return y;
}
`;

/** decoded prefix / suffix / middle of an example */
function parts(example: number[]): { prefix: string; suffix: string; middle: string } {
  const s = example.indexOf(markers.suffix);
  const m = example.indexOf(markers.middle);
  assert.equal(example[0], markers.prefix);
  assert.equal(example.at(-1), markers.endOfText);
  return { prefix: tokenizer.decode(example.slice(1, s)), suffix: tokenizer.decode(example.slice(s + 1, m)), middle: tokenizer.decode(example.slice(m + 1, -1)) };
}

test('lists the statements of every statement list with the start of their next sibling', () => {
  const spans = statementSpans('f.ts', FILE)!;
  const texts = spans.map((s) => FILE.slice(s.start, s.end).split('\n')[0]);
  assert.deepEqual(texts, ["import { a } from './a';", 'export function f(x: number): number {', 'const y = x + 1;', 'if (y > 2) {', 'return a(y);', 'return y;']);
  const declaration = spans[2]!;
  assert.equal(declaration.next, FILE.indexOf('if (y'));
  assert.equal(spans[4]!.next, null, 'the only statement of a block has no next sibling');
});

test('a file that does not parse has no statements', () => {
  assert.equal(statementSpans('f.ts', 'const x = ;\n'), null);
});

test('cuts the middle at statement boundaries in the text and tokenizes each part on its own', () => {
  const spans = statementSpans('f.ts', FILE)!;
  const wide = { ...STATEMENT_FIM_DEFAULTS, prefixTokens: [1000, 1000] as [number, number], suffixTokens: [1000, 1000] as [number, number] };
  const example = statementExample(FILE, spans, 2, false, mulberry32(1), tokenizer, markers, wide)!;
  const { prefix, suffix, middle } = parts(example);
  assert.equal(middle, 'const y = x + 1;\n    ');
  assert.ok(prefix.endsWith('{\n    '), 'the prefix keeps the indentation before the cursor');
  assert.ok(suffix.startsWith('if (y > 2)'));
  assert.equal(prefix + middle + suffix, FILE);
  // the prefix ends in the whole indentation token, as the editor's prompt does at that cursor
  const prefixIds = example.slice(1, example.indexOf(markers.suffix));
  assert.deepEqual(prefixIds.slice(-1), tokenizer.encode('{\n    ').slice(-1));
  assert.equal(tokenizer.decode(prefixIds.slice(-1)), '\n    ');
});

test('two statements are the statement and its next sibling; the last of a list ends at its own end', () => {
  const spans = statementSpans('f.ts', FILE)!;
  const wide = { ...STATEMENT_FIM_DEFAULTS, prefixTokens: [1000, 1000] as [number, number], suffixTokens: [1000, 1000] as [number, number] };
  assert.equal(parts(statementExample(FILE, spans, 2, true, mulberry32(1), tokenizer, markers, wide)!).middle, 'const y = x + 1;\n    if (y > 2) {\n        return a(y);\n    }\n    ');
  assert.equal(parts(statementExample(FILE, spans, 5, true, mulberry32(1), tokenizer, markers, wide)!).middle, 'return y;');
});

test('keeps at most the drawn number of prefix and suffix tokens and drops long middles', () => {
  const spans = statementSpans('f.ts', FILE)!;
  const narrow = { ...STATEMENT_FIM_DEFAULTS, prefixTokens: [3, 3] as [number, number], suffixTokens: [2, 2] as [number, number] };
  const example = statementExample(FILE, spans, 3, false, mulberry32(1), tokenizer, markers, narrow)!;
  assert.equal(example.indexOf(markers.suffix), 1 + 3);
  assert.equal(example.indexOf(markers.middle) - example.indexOf(markers.suffix) - 1, 2);
  assert.equal(statementExample(FILE, spans, 1, false, mulberry32(1), tokenizer, markers, { ...narrow, maxMiddleTokens: 10 }), null, 'the whole function is longer than 10 tokens');
});

test('draws the same examples for a seed, others for another seed, skipping files that do not parse', () => {
  const documents = [
    { file: 'f.ts', text: FILE },
    { file: 'broken.ts', text: 'function (\n' },
    { file: 'notes.md', text: '# not code\n' },
    { file: 'g.js', text: 'let n = 0;\nfor (const k of [1, 2]) {\n  n += k;\n}\nmodule.exports = n;\n' },
  ];
  const draw = (seed: number) => [...statementExamples(documents, 12, seed, tokenizer, markers)];
  const a = draw(3);
  assert.equal(a.length, 12);
  assert.deepEqual(draw(3), a);
  assert.notDeepEqual(draw(4), a);
  for (const example of a) {
    const { prefix, middle, suffix } = parts(example);
    const text = prefix + middle + suffix;
    assert.ok(FILE.includes(text) || documents[3]!.text.includes(text), `an example is a window of a parseable file: ${JSON.stringify(text)}`);
  }
});
