/**
 * Synthetic quote-style preference pairs for the DPO style check: a code prefix cut just before a line whose
 * string literals are all plain (no escapes, no quotes inside, no other quote character on the line), that line
 * written with the preferred quote as "chosen" and with the other quote as "rejected"; and the reading of which
 * quote a sampled line's first string literal uses.
 *
 * The cut sits before the newline that ends the previous line, so the completion is that newline and the line:
 * the corpus was tokenized whole, where a newline merges with the next line's indentation, and a prompt ending
 * in a bare newline token leaves the model far from anything it saw (it then mostly writes blank lines).
 */
import ts from 'typescript';
import { mulberry32 } from '../../src/pretrain/batches.ts';
import type { PairText } from '../../src/dpo/examples.ts';
import type { CorpusDocument } from '../corpus/train-tokenizer.ts';

export type Quote = "'" | '"';
export const otherQuote = (quote: Quote): Quote => (quote === "'" ? '"' : "'");

/** A line that reads the same in either quote style. */
export interface QuoteLine {
  /** offset of the line's first character (indentation included) in its file */
  start: number;
  /** the line, without its newline */
  text: string;
  /** [start, end) of each string literal, delimiters included, relative to the line */
  literals: readonly (readonly [number, number])[];
}

/** A cut of a corpus file before a quote line: the prompt is `prefix`, the completion is a newline and the line. */
export interface QuoteCut {
  file: string;
  /** the file up to the end of the line before, without its newline */
  prefix: string;
  line: QuoteLine;
}

// JSX attributes follow their own quote convention, and declaration files are mostly emitted by tsc
const SCRIPT_EXTENSIONS = new Set(['ts', 'mts', 'cts', 'js', 'mjs', 'cjs']);
const QUOTE_CHARACTERS = /['"`]/;
const NOT_PLAIN_BODY = /['"`\\\r\n]/;

export function isScriptFile(file: string): boolean {
  return !/\.d\.[mc]?ts$/.test(file) && SCRIPT_EXTENSIONS.has(file.split('.').pop() ?? '');
}

/** The lines of a file that can be rewritten in either quote style, in file order. */
export function quoteLines(fileName: string, text: string): QuoteLine[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const literalsByLine = new Map<number, [number, number][]>();
  const visit = (node: ts.Node) => {
    if (ts.isStringLiteral(node)) {
      const start = node.getStart(source);
      const lineStart = text.lastIndexOf('\n', start - 1) + 1;
      literalsByLine.set(lineStart, [...(literalsByLine.get(lineStart) ?? []), [start, node.end]]);
    }
    node.forEachChild(visit);
  };
  visit(source);
  const lines: QuoteLine[] = [];
  for (const [start, literals] of [...literalsByLine].sort((a, b) => a[0] - b[0])) {
    const newline = text.indexOf('\n', start);
    const line = text.slice(start, newline === -1 ? text.length : newline);
    const relative = literals.map(([s, e]) => [s - start, e - start] as const).sort((a, b) => a[0] - b[0]);
    const plain = relative.every(([s, e]) => e <= line.length && !NOT_PLAIN_BODY.test(line.slice(s + 1, e - 1)));
    let outside = '';
    let from = 0;
    for (const [s, e] of relative) {
      outside += line.slice(from, s);
      from = e;
    }
    outside += line.slice(from);
    if (plain && !QUOTE_CHARACTERS.test(outside) && !line.includes('\r')) lines.push({ start, text: line, literals: relative });
  }
  return lines;
}

/** The line with every string literal delimited by `quote`. */
export function writeWithQuote(line: QuoteLine, quote: Quote): string {
  let out = '';
  let from = 0;
  for (const [s, e] of line.literals) {
    out += `${line.text.slice(from, s)}${quote}${line.text.slice(s + 1, e - 1)}${quote}`;
    from = e;
  }
  return out + line.text.slice(from);
}

/** The quote the line's first literal was written with in its file. */
export function originalQuote(line: QuoteLine): Quote {
  return line.text[line.literals[0]![0]] as Quote;
}

export interface CutOptions {
  count: number;
  seed: number;
  /** a cut needs at least this much of its file before it, so the prompt has context */
  minPrefixChars?: number;
  /** files longer than this are passed over (parse time) */
  maxFileChars?: number;
}

/**
 * `count` cuts drawn with `seed`, at most one per file: a random script file, then a random quote line in it
 * with enough of the file before it. Fewer when the documents run out.
 */
export function drawQuoteCuts(documents: readonly CorpusDocument[], options: CutOptions): QuoteCut[] {
  const { count, seed, maxFileChars = 100_000 } = options;
  const minPrefixChars = Math.max(1, options.minPrefixChars ?? 64);
  const random = mulberry32(seed);
  const usable = documents.filter((d) => isScriptFile(d.file) && d.text.length <= maxFileChars);
  const tried = new Set<number>();
  const cuts: QuoteCut[] = [];
  while (cuts.length < count && tried.size < usable.length) {
    const index = Math.floor(random() * usable.length);
    if (tried.has(index)) continue;
    tried.add(index);
    const doc = usable[index]!;
    const lines = quoteLines(doc.file, doc.text).filter((l) => l.start >= minPrefixChars);
    if (lines.length === 0) continue;
    const line = lines[Math.floor(random() * lines.length)]!;
    cuts.push({ file: doc.file, prefix: doc.text.slice(0, line.start - 1), line });
  }
  return cuts;
}

/** A prefix-only pair: newline and line in the preferred quote over newline and the same line in the other. */
export function quotePair(cut: QuoteCut, prefer: Quote): PairText {
  return { prefix: cut.prefix, suffix: '', chosen: `\n${writeWithQuote(cut.line, prefer)}`, rejected: `\n${writeWithQuote(cut.line, otherQuote(prefer))}` };
}

/** The first line of a completion that is not blank ('' when there is none). */
export function firstNonBlankLine(completion: string): string {
  return completion.split('\n').find((line) => line.trim().length > 0) ?? '';
}

export type FirstLiteral = Quote | 'template' | 'none';

/**
 * Which quote the first string literal of a sampled line uses: read with TypeScript's scanner, so quotes in
 * comments do not count; 'template' for a template literal first, 'none' when there is no terminated literal.
 */
export function firstLiteral(code: string): FirstLiteral {
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, code);
  for (let token = scanner.scan(); token !== ts.SyntaxKind.EndOfFileToken; token = scanner.scan()) {
    if (token === ts.SyntaxKind.StringLiteral) return scanner.isUnterminated() ? 'none' : (scanner.getTokenText()[0] as Quote);
    if (token === ts.SyntaxKind.NoSubstitutionTemplateLiteral || token === ts.SyntaxKind.TemplateHead) return 'template';
  }
  return 'none';
}
