/**
 * Trains the default model's byte-level BPE on the corpus's train split and tokenizes both splits for
 * pretraining. Vocabulary 4096 (4091 learned + 5 special): a tiny model's tied embedding and LM head cost
 * V × hidden parameters and V × hidden FLOPs per token, so a small vocabulary leaves the budget to the layers.
 *
 *   node scripts/corpus/train-tokenizer.ts [--corpus .cache/corpus] [--out .cache/tokenizer] [--vocab 4096]
 *   node scripts/corpus/train-tokenizer.ts --use models/default   (tokenize only, with a model's tokenizer: to
 *                                              evaluate that model on a corpus rebuilt since it was trained)
 *
 * Writes tokenizer.json + tokenizer_config.json to --out, and train.u16 / heldout.u16 (token ids, documents
 * separated by <|endoftext|>) plus tokens.json (counts) to --corpus.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type TrainedBpe, WordCounter, trainBpe } from './bpeTrainer.ts';
import { SPECIAL_TOKENS, specialTokenId, tokenizerFiles } from './tokenizerFiles.ts';

export interface CorpusDocument {
  package: string;
  file: string;
  text: string;
}

export function* readDocuments(path: string): Generator<CorpusDocument> {
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === '') continue;
    try {
      yield JSON.parse(lines[i]!) as CorpusDocument;
    } catch (e) {
      throw new Error(`${path}:${i + 1}: not a JSON document (${(e as Error).message})`);
    }
  }
}

/** Token ids of every document, each followed by <|endoftext|>, written as little-endian uint16. */
export function tokenizeSplit(tokenizer: Tokenizer, documentsPath: string, outPath: string, endOfText: number): { documents: number; tokens: number; bytes: number } {
  const tmp = `${outPath}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  let documents = 0;
  let tokens = 0;
  let bytes = 0;
  try {
    for (const doc of readDocuments(documentsPath)) {
      const ids = tokenizer.encode(doc.text, { add_special_tokens: false }).ids;
      const out = new Uint16Array(ids.length + 1);
      out.set(ids);
      out[ids.length] = endOfText;
      writeSync(fd, out);
      documents++;
      tokens += out.length;
      bytes += Buffer.byteLength(doc.text);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, outPath);
  return { documents, tokens, bytes };
}

export function trainTokenizer(corpusDir: string, vocabSize: number): TrainedBpe {
  const counter = new WordCounter();
  for (const doc of readDocuments(join(corpusDir, 'train.jsonl'))) counter.add(doc.text);
  return trainBpe(counter.counts, vocabSize - SPECIAL_TOKENS.length);
}

function main(): void {
  const repoRoot = resolve(import.meta.dirname, '../..');
  const { values } = parseArgs({
    options: {
      corpus: { type: 'string', default: join(repoRoot, '.cache/corpus') },
      out: { type: 'string', default: join(repoRoot, '.cache/tokenizer') },
      vocab: { type: 'string', default: '4096' },
      use: { type: 'string' },
    },
  });
  if (values.use !== undefined) return tokenizeWith(resolve(values.use), resolve(values.corpus!));
  const vocabSize = Number(values.vocab);
  if (!Number.isInteger(vocabSize) || vocabSize < 512 || vocabSize > 65536) throw new Error(`--vocab must be an integer in 512..65536, got ${values.vocab}`);
  const corpusDir = resolve(values.corpus!);
  const outDir = resolve(values.out!);
  let started = performance.now();
  const bpe = trainTokenizer(corpusDir, vocabSize);
  const trainSeconds = (performance.now() - started) / 1000;
  const files = tokenizerFiles(bpe);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'tokenizer.json'), `${JSON.stringify(files.tokenizer)}\n`);
  writeFileSync(join(outDir, 'tokenizer_config.json'), `${JSON.stringify(files.config, null, 2)}\n`);
  console.log(`tokenizer: ${bpe.vocab.length} learned + ${SPECIAL_TOKENS.length} special tokens, ${bpe.merges.length} merges, ${trainSeconds.toFixed(1)} s → ${outDir}`);

  started = performance.now();
  const tokenizer = new Tokenizer(files.tokenizer, files.config);
  const endOfText = specialTokenId(bpe, '<|endoftext|>');
  const counts = {
    vocabSize: bpe.vocab.length + SPECIAL_TOKENS.length,
    train: tokenizeSplit(tokenizer, join(corpusDir, 'train.jsonl'), join(corpusDir, 'train.u16'), endOfText),
    heldout: tokenizeSplit(tokenizer, join(corpusDir, 'heldout.jsonl'), join(corpusDir, 'heldout.u16'), endOfText),
  };
  writeFileSync(join(corpusDir, 'tokens.json'), `${JSON.stringify(counts, null, 2)}\n`);
  const perToken = (s: { tokens: number; bytes: number }) => (s.bytes / s.tokens).toFixed(2);
  console.log(
    `tokens: train ${counts.train.tokens} (${perToken(counts.train)} bytes/token), held-out ${counts.heldout.tokens} (${perToken(counts.heldout)} bytes/token), ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

/** Tokenizes both splits with the tokenizer of a model folder (tokenizer.json, tokenizer_config.json). */
function tokenizeWith(modelDir: string, corpusDir: string): void {
  const read = (name: string) => JSON.parse(readFileSync(join(modelDir, name), 'utf8')) as Record<string, unknown>;
  const files = { tokenizer: read('tokenizer.json'), config: read('tokenizer_config.json') };
  const endOfText = (files.tokenizer.added_tokens as { id: number; content: string }[]).find((t) => t.content === '<|endoftext|>')?.id;
  if (endOfText === undefined) throw new Error(`${join(modelDir, 'tokenizer.json')}: no <|endoftext|> token`);
  const tokenizer = new Tokenizer(files.tokenizer, files.config);
  const counts = {
    tokenizer: modelDir,
    train: tokenizeSplit(tokenizer, join(corpusDir, 'train.jsonl'), join(corpusDir, 'train.u16'), endOfText),
    heldout: tokenizeSplit(tokenizer, join(corpusDir, 'heldout.jsonl'), join(corpusDir, 'heldout.u16'), endOfText),
  };
  writeFileSync(join(corpusDir, 'tokens.json'), `${JSON.stringify(counts, null, 2)}\n`);
  console.log(`tokens (${modelDir}'s tokenizer): train ${counts.train.tokens}, held-out ${counts.heldout.tokens}`);
}

if (import.meta.main) main();
