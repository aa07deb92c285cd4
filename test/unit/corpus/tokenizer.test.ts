import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckpointTokenizer } from '../../../src/engine/hf/tokenizer.ts';
import { trainByteLevelBpe } from '../../../scripts/fixtures/bpe.ts';
import { TOKENIZER_CORPUS } from '../../../scripts/fixtures/corpus.ts';
import { WordCounter, trainBpe } from '../../../scripts/corpus/bpeTrainer.ts';
import { SPECIAL_TOKENS, tokenizerFiles } from '../../../scripts/corpus/tokenizerFiles.ts';

const repo = join(import.meta.dirname, '../../..');
const sources = (dir: string) =>
  readdirSync(join(repo, dir))
    .filter((f) => f.endsWith('.ts'))
    .sort()
    .map((f) => readFileSync(join(repo, dir, f), 'utf8'));

function trained(texts: readonly string[], vocabSize: number) {
  const counter = new WordCounter();
  for (const t of texts) counter.add(t);
  const bpe = trainBpe(counter.counts, vocabSize - SPECIAL_TOKENS.length);
  const files = tokenizerFiles(bpe);
  return { bpe, tokenizer: new CheckpointTokenizer(files.tokenizer, files.config) };
}

// train on the engine's graph and model sources; hold out the store and the sampler
const { bpe, tokenizer } = trained([...sources('src/engine/graph'), ...sources('src/engine/models')], 1024);
const heldout = [...sources('src/store'), ...sources('src/engine/sample')];

test('learns the same merges as the textbook trainer (most frequent pair, ties by token text)', () => {
  const counter = new WordCounter();
  counter.add(TOKENIZER_CORPUS);
  const fast = trainBpe(counter.counts, 700);
  const reference = trainByteLevelBpe(TOKENIZER_CORPUS, 700);
  assert.deepEqual(fast.merges, reference.merges);
  assert.deepEqual(fast.vocab, reference.vocab);
});

test('round-trips held-out code exactly, and compresses it', () => {
  let bytes = 0;
  let tokens = 0;
  for (const text of [...heldout, 'const s = "Grüße 😀 — 日本語";\n\t\tif (x) {\r\n}\n']) {
    const ids = tokenizer.encode(text);
    assert.equal(tokenizer.decode(ids), text);
    bytes += Buffer.byteLength(text);
    tokens += ids.length;
  }
  assert.ok(bytes / tokens > 1.8, `only ${(bytes / tokens).toFixed(2)} bytes per token on held-out code`);
});

test('encodes each special token to one id after the learned vocabulary, and exposes the Qwen FIM template', () => {
  assert.equal(tokenizer.vocabSize, 1024);
  SPECIAL_TOKENS.forEach((token, i) => {
    assert.deepEqual(tokenizer.encode(token), [bpe.vocab.length + i], token);
    assert.equal(tokenizer.isSpecial(bpe.vocab.length + i), true);
  });
  const ids = tokenizer.encode('<|fim_prefix|>let a = <|fim_suffix|>;<|fim_middle|>1<|endoftext|>');
  assert.equal(tokenizer.decode(ids), '<|fim_prefix|>let a = <|fim_suffix|>;<|fim_middle|>1<|endoftext|>');
  assert.equal(tokenizer.fim?.style, 'qwen');
  assert.deepEqual(tokenizer.eosTokenIds, [bpe.vocab.length]);
});

test('gives every token a distinct string even when two merge paths spell the same text', () => {
  assert.equal(new Set(bpe.vocab).size, bpe.vocab.length);
});
