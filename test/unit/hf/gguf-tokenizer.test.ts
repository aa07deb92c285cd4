/**
 * The tokenizer a GGUF's metadata builds against llama.cpp's own (node-llama-cpp, reference tier): the fixture
 * vocabulary and merges written as a GGUF under each supported tokenizer.ggml.pre, then the same texts tokenized
 * by both; ids must be equal.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { TOKENIZER_CORPUS } from '../../../scripts/fixtures/corpus.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { writeGguf } from '../../reference/gguf.ts';
import { REFERENCE_PREFIX, referenceUnavailable } from '../../reference/llamacpp.ts';
import { tempDir } from './temp-dir.ts';

/** The corpus in pieces, plus what the pre-tokenizers treat differently: digits, apostrophes, CRLF, runs of spaces, CJK, punctuation. */
const TEXTS = [
  ...TOKENIZER_CORPUS.split('\n\n').filter((piece) => piece.trim() !== ''),
  "It's 12345 o'clock, they'll say; we'RE here.\r\n\r\n    indented\t\ttabs   \n",
  'x = [1, 22, 333, 4444, 55555]; // 3.14159e-10 ≈ π',
  '中文字符 和 한국어 텍스트 — naïve café, Ünïcödé!',
  '$a+b<=c>d^e~f|g && h || !i ?? j',
  '   leading spaces and trailing   ',
];

interface LlamaModel {
  tokenize(text: string, specialTokens?: boolean): number[];
  dispose(): Promise<void>;
}
interface Llama {
  loadModel(options: { modelPath: string; vocabOnly?: boolean }): Promise<LlamaModel>;
}

const unavailable = referenceUnavailable();

test('tokens equal llama.cpp for every supported tokenizer.ggml.pre', { skip: unavailable ?? false }, async () => {
  const dir = await tempDir('gguf-tokenizer');
  const source = await loadCheckpoint(await makeCheckpoint('qwen2', join(dir, 'qwen2')));
  const api = (await import(pathToFileURL(join(REFERENCE_PREFIX, 'node_modules/node-llama-cpp/dist/index.js')).href)) as {
    getLlama(options: Record<string, unknown>): Promise<Llama>;
  };
  const llama = await api.getLlama({ gpu: false, build: 'never', skipDownload: true, logLevel: 'error', progressLogs: false });
  const differing = new Set<string>();
  for (const pre of ['gpt-2', 'default', 'qwen2', 'llama-bpe', 'starcoder', 'deepseek-coder']) {
    const path = join(dir, `${pre}.gguf`);
    await writeGguf(source, path, { pre });
    const ours = (await loadCheckpoint(path)).tokenizer;
    const reference = await llama.loadModel({ modelPath: path, vocabOnly: true });
    try {
      for (const text of TEXTS) {
        const expected = [...reference.tokenize(text, false)];
        assert.deepEqual(ours.encode(text), expected, `pre ${pre}: ${JSON.stringify(text.slice(0, 60))}`);
        assert.equal(ours.decode(expected), text);
        if (JSON.stringify(expected) !== JSON.stringify(source.tokenizer.encode(text))) differing.add(pre);
      }
    } finally {
      await reference.dispose();
    }
  }
  // the comparison can fail: the pre-tokenizers split these texts differently from the fixture's gpt2-style one
  assert.ok(differing.has('qwen2') && differing.has('deepseek-coder') && !differing.has('gpt-2'), `differing: ${[...differing].join(', ')}`);
});
