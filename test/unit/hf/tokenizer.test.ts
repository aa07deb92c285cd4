import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CheckpointTokenizer } from '../../../src/engine/hf/tokenizer.ts';
import { FIXTURE_VOCAB_SIZE, fixtureTokenizer } from '../../../scripts/fixtures/make-checkpoints.ts';

const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/tokenizer');
const tokenizer = await CheckpointTokenizer.fromDir(FIXTURE_DIR);

// Golden ids, checked by hand: single bytes are ids 0–255 (id = byte value, GPT-2 byte↔char map), learned
// merges follow, and the special tokens are 761 <|endoftext|>, 762 <|fim_prefix|>, 763 <|fim_middle|>,
// 764 <|fim_suffix|>, 765 <|fim_pad|>, 766 <|repo_name|>, 767 <|file_sep|>.
const GOLDEN: [string, number[], string[]][] = [
  ['return a + b;', [262, 283, 302, 323, 365, 59], ['re', 'turn', 'Ġa', 'Ġ+', 'Ġb', ';']],
  ['def push(self, item):', [332, 619, 40, 321, 44, 278, 293, 291], ['def', 'Ġpush', '(', 'self', ',', 'Ġi', 'tem', '):']],
  // ';' is byte 59, ' ' byte 32 ('Ġ'), 'x' byte 120: no merge covers " x" in the corpus.
  ['<|fim_prefix|>const x = <|fim_suffix|>;<|fim_middle|>', [762, 446, 32, 120, 260, 32, 764, 59, 763], ['<|fim_prefix|>', 'const', 'Ġ', 'x', 'Ġ=', 'Ġ', '<|fim_suffix|>', ';', '<|fim_middle|>']],
  // é was learned from the corpus ("Café"); € is E2 82 AC → bytes 226, 130, 172.
  ['café €', [99, 692, 32, 226, 130, 172], ['c', 'afÃ©', 'Ġ', 'â', 'Ĥ', '¬']],
  // 你 = E4 BD A0, 好 = E5 A5 BD: no merges, raw bytes.
  ['你好', [228, 189, 160, 229, 165, 189], ['ä', '½', 'ł', 'å', '¥', '½']],
  ['x<|endoftext|>', [120, 761], ['x', '<|endoftext|>']],
];

test('encodes to golden ids on the fixture tokenizer, special and non-ASCII text included', () => {
  for (const [text, ids, tokens] of GOLDEN) {
    assert.deepEqual(tokenizer.encode(text), ids, text);
    assert.deepEqual(ids.map((id) => tokenizer.tokenText(id)), tokens, text);
  }
});

test('decodes back to the original text (round trip) for code, specials and any Unicode', () => {
  const texts = [
    ...GOLDEN.map(([text]) => text),
    'function f(x) {\n\treturn x ** 2; // ² ≠ 2 😀\n}\n',
    '  leading and trailing spaces  ',
    'Grüße, Ελληνικά, العربية, 日本語 🎉🎉',
    '',
  ];
  for (const text of texts) assert.equal(tokenizer.decode(tokenizer.encode(text)), text, JSON.stringify(text));
});

test('skips special tokens on request', () => {
  const ids = tokenizer.encode('<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>');
  assert.equal(tokenizer.decode(ids, { skipSpecialTokens: true }), 'ab');
  assert.equal(tokenizer.isSpecial(761), true);
  assert.equal(tokenizer.isSpecial(120), false);
});

test('knows special tokens by name, EOS/BOS/PAD ids and the vocabulary size', () => {
  assert.equal(tokenizer.vocabSize, FIXTURE_VOCAB_SIZE);
  assert.equal(tokenizer.tokenId('<|endoftext|>'), 761);
  assert.equal(tokenizer.tokenId('<|file_sep|>'), 767);
  assert.equal(tokenizer.tokenId('<|not_a_token|>'), null);
  assert.deepEqual(tokenizer.eosTokenIds, [761]);
  assert.equal(tokenizer.bosTokenId, null);
  assert.equal(tokenizer.padTokenId, 761);
});

test('finds Qwen-style FIM tokens', () => {
  assert.deepEqual(tokenizer.fim, {
    style: 'qwen',
    prefix: { id: 762, text: '<|fim_prefix|>' },
    suffix: { id: 764, text: '<|fim_suffix|>' },
    middle: { id: 763, text: '<|fim_middle|>' },
    end: null,
  });
});

/** A copy of the fixture tokenizer whose special tokens are renamed to another family's spelling. */
async function withSpecials(names: string[]): Promise<CheckpointTokenizer> {
  const json = JSON.parse(await readFile(join(FIXTURE_DIR, 'tokenizer.json'), 'utf8'));
  json.added_tokens = names.map((content, i) => ({ id: 761 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  return new CheckpointTokenizer(json, { eos_token: names[0] });
}

test('finds StarCoder, DeepSeek-Coder and CodeLlama FIM tokens, and none when absent', async () => {
  const starcoder = await withSpecials(['<|endoftext|>', '<fim_prefix>', '<fim_middle>', '<fim_suffix>']);
  assert.equal(starcoder.fim?.style, 'starcoder');
  assert.deepEqual([starcoder.fim?.prefix.id, starcoder.fim?.suffix.id, starcoder.fim?.middle.id], [762, 764, 763]);
  const deepseek = await withSpecials(['<｜end▁of▁sentence｜>', '<｜fim▁hole｜>', '<｜fim▁begin｜>', '<｜fim▁end｜>']);
  assert.equal(deepseek.fim?.style, 'deepseek');
  assert.deepEqual([deepseek.fim?.prefix.text, deepseek.fim?.suffix.text, deepseek.fim?.middle.text], ['<｜fim▁begin｜>', '<｜fim▁hole｜>', '<｜fim▁end｜>']);
  const codellama = await withSpecials(['</s>', '▁<PRE>', '▁<SUF>', '▁<MID>', '▁<EOT>']);
  assert.equal(codellama.fim?.style, 'codellama');
  assert.deepEqual([codellama.fim?.prefix.id, codellama.fim?.suffix.id, codellama.fim?.middle.id, codellama.fim?.end?.id], [762, 763, 764, 765]);
  const none = await withSpecials(['<|endoftext|>', '<|im_start|>', '<|im_end|>']);
  assert.equal(none.fim, null);
  assert.deepEqual(none.eosTokenIds, [761]);
});

test('streaming decode holds back a multi-byte character split over tokens until it is complete', () => {
  // € is three byte tokens (226, 130, 172); 😀 is four (240, 159, 152, 128).
  const ids = tokenizer.encode('a €😀 b');
  assert.deepEqual(ids, [97, 32, 226, 130, 172, 240, 159, 152, 128, 365]);
  const stream = tokenizer.streamDecoder();
  const pieces = ids.map((id) => stream.push(id));
  const euroStart = ids.indexOf(226);
  assert.deepEqual(pieces.slice(euroStart, euroStart + 3), ['', '', '€']);
  const emojiStart = ids.indexOf(240);
  assert.deepEqual(pieces.slice(emojiStart, emojiStart + 4), ['', '', '', '😀']);
  assert.ok(pieces.every((piece) => !piece.includes('\uFFFD')), 'no replacement characters');
  assert.equal(pieces.join('') + stream.flush(), 'a €😀 b');
});

test('streaming decode reproduces the full decode for long code, piece by piece', () => {
  const text = 'export function distance(a: Point, b: Point): number {\n  return Math.sqrt(dx * dx + dy * dy); // ½ · π ≈ 1.57\n}\n';
  const stream = tokenizer.streamDecoder();
  let streamed = '';
  for (const id of tokenizer.encode(text)) streamed += stream.push(id);
  streamed += stream.flush();
  assert.equal(streamed, text);
});

test('flush returns an incomplete trailing character as U+FFFD instead of dropping it', () => {
  const stream = tokenizer.streamDecoder();
  assert.equal(stream.push(120), 'x');
  assert.equal(stream.push(226), '');
  assert.equal(stream.flush(), '\uFFFD');
});

test('the committed fixture tokenizer is exactly what the generator produces', async () => {
  const { tokenizer: generated, config } = fixtureTokenizer();
  assert.deepEqual(JSON.parse(await readFile(join(FIXTURE_DIR, 'tokenizer.json'), 'utf8')), generated);
  assert.deepEqual(JSON.parse(await readFile(join(FIXTURE_DIR, 'tokenizer_config.json'), 'utf8')), config);
});

test('loads without tokenizer_config.json: same ids, no configured EOS', async () => {
  const { copyFile } = await import('node:fs/promises');
  const { tempDir } = await import('./temp-dir.ts');
  const dir = await tempDir('tokonly');
  await copyFile(join(FIXTURE_DIR, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const bare = await CheckpointTokenizer.fromDir(dir);
  assert.deepEqual(bare.encode(GOLDEN[0]![0]), GOLDEN[0]![1]);
  assert.deepEqual(bare.eosTokenIds, []);
  assert.equal(bare.fim?.style, 'qwen');
});
