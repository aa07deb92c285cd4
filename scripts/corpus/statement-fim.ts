/**
 * Fill-in-the-middle examples whose middle is one or two whole statements, for pretraining the default model on
 * the completion the editor asks for at a statement boundary: write a statement, then stop.
 *
 * The cut is made in the text, and prefix, suffix and middle are each tokenized on their own, the way the
 * sampler's prompt is built (character-level FIM, as in Bavarian et al. 2022): a cursor after indentation then
 * ends the prefix with the whole indentation token, exactly as at inference. The middle runs from a statement's
 * first character to the next sibling statement's first character (its newline and indentation included), or
 * to the statement's end when it is the last of its list.
 *
 *   node scripts/corpus/statement-fim.ts [--corpus .cache/corpus] [--tokenizer .cache/tokenizer]
 *                                        [--examples 60000] [--seed 5] [--out <corpus>/train-statements.u16]
 *
 * Writes the examples as one token stream (each <|fim_prefix|> … <|endoftext|>), read like a tokenized split.
 */
import { closeSync, openSync, renameSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import ts from 'typescript';
import { CheckpointTokenizer } from '../../src/engine/hf/tokenizer.ts';
import { type FimIds, mulberry32 } from '../../src/pretrain/batches.ts';
import { fimIdsOf } from '../train-base.ts';
import { readDocuments } from './train-tokenizer.ts';

export interface StatementSpan {
  /** first character of the statement */
  start: number;
  /** just past the statement */
  end: number;
  /** first character of the next statement of the same list, or null for the last one */
  next: number | null;
}

const SCRIPT_KIND: Record<string, ts.ScriptKind> = { ts: ts.ScriptKind.TS, mts: ts.ScriptKind.TS, cts: ts.ScriptKind.TS, tsx: ts.ScriptKind.TSX, js: ts.ScriptKind.JS, mjs: ts.ScriptKind.JS, cjs: ts.ScriptKind.JS, jsx: ts.ScriptKind.JSX };

export function scriptKindOf(fileName: string): ts.ScriptKind | null {
  return SCRIPT_KIND[fileName.split('.').pop()!] ?? null;
}

/**
 * The statements of every statement list (file, block, module block, case clause) of a file, in source order;
 * null when the file does not parse.
 */
export function statementSpans(fileName: string, text: string): StatementSpan[] | null {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, scriptKindOf(fileName) ?? ts.ScriptKind.TS);
  if ((source as unknown as { parseDiagnostics: unknown[] }).parseDiagnostics.length > 0) return null;
  const spans: StatementSpan[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isSourceFile(node) || ts.isBlock(node) || ts.isModuleBlock(node) || ts.isCaseClause(node) || ts.isDefaultClause(node)) {
      const list = node.statements;
      list.forEach((s, k) => spans.push({ start: s.getStart(source), end: s.end, next: k + 1 < list.length ? list[k + 1]!.getStart(source) : null }));
    }
    node.forEachChild(visit);
  };
  visit(source);
  return spans.sort((a, b) => a.start - b.start);
}

export interface ExampleTokenizer {
  encode(text: string): number[];
}

export interface StatementFimOptions {
  /** prefix tokens kept, drawn uniformly in [min, max] */
  prefixTokens: [number, number];
  /** suffix tokens kept, drawn uniformly in [min, max] */
  suffixTokens: [number, number];
  /** middles longer than this are not used */
  maxMiddleTokens: number;
  /** share of examples whose middle is two consecutive statements */
  twoStatementRate: number;
}

export const STATEMENT_FIM_DEFAULTS: StatementFimOptions = { prefixTokens: [16, 320], suffixTokens: [0, 96], maxMiddleTokens: 40, twoStatementRate: 0.25 };

export type FimMarkers = Pick<FimIds, 'prefix' | 'suffix' | 'middle' | 'endOfText'>;

/** Characters of context read around a cut before tokenizing (more than the longest kept side needs). */
const CONTEXT_CHARS = 4000;

/**
 * One example at statement `k` of a file (and `k + 1` too when `two`), or null when the middle is too long or
 * blank. The text cut is exact: decode(prefix) + decode(middle) + decode(suffix) is a window of the file.
 */
export function statementExample(text: string, spans: readonly StatementSpan[], k: number, two: boolean, random: () => number, tokenizer: ExampleTokenizer, markers: FimMarkers, options: StatementFimOptions): number[] | null {
  const first = spans[k]!;
  // the second statement must be the next sibling of the first
  const last = two && first.next !== null ? (spans.find((s) => s.start === first.next) ?? first) : first;
  const cutEnd = last.next ?? last.end;
  const middleText = text.slice(first.start, cutEnd);
  if (middleText.trim().length === 0) return null;
  const middle = tokenizer.encode(middleText);
  if (middle.length > options.maxMiddleTokens) return null;
  const draw = ([lo, hi]: [number, number]) => lo + Math.floor(random() * (hi - lo + 1));
  const prefixIds = tokenizer.encode(text.slice(Math.max(0, first.start - CONTEXT_CHARS), first.start));
  const suffixIds = tokenizer.encode(text.slice(cutEnd, cutEnd + CONTEXT_CHARS));
  const prefix = prefixIds.slice(Math.max(0, prefixIds.length - draw(options.prefixTokens)));
  const suffix = suffixIds.slice(0, draw(options.suffixTokens));
  return [markers.prefix, ...prefix, markers.suffix, ...suffix, markers.middle, ...middle, markers.endOfText];
}

export interface StatementDocument {
  file: string;
  text: string;
}

/**
 * `count` examples drawn with `seed`: a random parseable document, then a random statement of it (so every file
 * weighs the same, as the evaluation draws its boundaries). Deterministic for a seed and document list.
 */
export function* statementExamples(documents: readonly StatementDocument[], count: number, seed: number, tokenizer: ExampleTokenizer, markers: FimMarkers, options: StatementFimOptions = STATEMENT_FIM_DEFAULTS): Generator<number[]> {
  const random = mulberry32(seed);
  const spansByDocument = new Map<number, StatementSpan[] | null>();
  let made = 0;
  for (let tries = 0; made < count && tries < count * 20; tries++) {
    const d = Math.floor(random() * documents.length);
    const doc = documents[d]!;
    if (!spansByDocument.has(d)) spansByDocument.set(d, scriptKindOf(doc.file) === null ? null : statementSpans(doc.file, doc.text));
    const spans = spansByDocument.get(d)!;
    if (!spans || spans.length === 0) continue;
    const k = Math.floor(random() * spans.length);
    const example = statementExample(doc.text, spans, k, random() < options.twoStatementRate, random, tokenizer, markers, options);
    if (!example) continue;
    made++;
    yield example;
  }
}

async function main(): Promise<void> {
  const repoRoot = resolve(import.meta.dirname, '../..');
  const { values } = parseArgs({
    options: {
      corpus: { type: 'string', default: join(repoRoot, '.cache/corpus') },
      tokenizer: { type: 'string', default: join(repoRoot, '.cache/tokenizer') },
      examples: { type: 'string', default: '60000' },
      seed: { type: 'string', default: '5' },
      out: { type: 'string' },
    },
  });
  const count = Number(values.examples);
  if (!Number.isInteger(count) || count < 1) throw new Error(`--examples must be a positive integer, got ${values.examples}`);
  const corpusDir = resolve(values.corpus!);
  const tokenizerDir = resolve(values.tokenizer!);
  const tokenizer = await CheckpointTokenizer.fromDir(tokenizerDir);
  const markers = await fimIdsOf(tokenizerDir);
  const documents = [...readDocuments(join(corpusDir, 'train.jsonl'))];
  const outPath = resolve(values.out ?? join(corpusDir, 'train-statements.u16'));
  const tmp = `${outPath}.tmp-${process.pid}`;
  const started = performance.now();
  const fd = openSync(tmp, 'w');
  let made = 0;
  let tokens = 0;
  try {
    for (const example of statementExamples(documents, count, Number(values.seed), tokenizer, markers)) {
      writeSync(fd, Uint16Array.from(example));
      made++;
      tokens += example.length;
      if (made % 5000 === 0) console.log(`statement-fim: ${made}/${count} examples, ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
  } finally {
    closeSync(fd);
  }
  if (made < count) throw new Error(`statement-fim: only ${made} of ${count} examples found in ${join(corpusDir, 'train.jsonl')}`);
  renameSync(tmp, outPath);
  console.log(`statement-fim: ${made} examples, ${tokens} tokens (${(tokens / made).toFixed(0)} per example), ${((performance.now() - started) / 1000).toFixed(0)} s → ${outPath}`);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(`statement-fim: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
