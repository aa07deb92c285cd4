import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FimStyle, FimTokens } from '../../../src/engine/hf/tokenizer.ts';
import { type PromptTokenizer, buildPrompt } from '../../../src/engine/sample/prompt.ts';

/** One id per character (code point + 1000), FIM markers at 1–4: enough to see what goes where. */
function tokenizer(style: FimStyle | null, bos: number | null = null): PromptTokenizer {
  const marker = (id: number, text: string) => ({ id, text });
  const fim: FimTokens | null = style
    ? { style, prefix: marker(1, 'P'), suffix: marker(2, 'S'), middle: marker(3, 'M'), end: style === 'codellama' ? marker(4, 'E') : null }
    : null;
  return { encode: (t) => [...t].map((ch) => ch.codePointAt(0)! + 1000), fim, bosTokenId: bos };
}
const ids = (t: string) => [...t].map((ch) => ch.codePointAt(0)! + 1000);

test('FIM templates put prefix, suffix and middle markers in PSM order', () => {
  for (const style of ['qwen', 'starcoder', 'deepseek'] as const) {
    const p = buildPrompt(tokenizer(style), 'ab', 'cd');
    assert.deepEqual(p.ids, [1, ...ids('ab'), 2, ...ids('cd'), 3]);
    assert.equal(p.fim, style);
  }
  const codellama = buildPrompt(tokenizer('codellama', 7), 'ab', 'cd');
  assert.deepEqual(codellama.ids, [7, 1, ...ids(' ab'), 2, ...ids('cd'), 3]);
});

test('prefix-only without FIM tokens or without a suffix, with BOS when the tokenizer has one', () => {
  assert.deepEqual(buildPrompt(tokenizer(null, 9), 'abc', 'xyz').ids, [9, ...ids('abc')]);
  const noSuffix = buildPrompt(tokenizer('qwen'), 'abc', '');
  assert.equal(noSuffix.fim, null);
  assert.deepEqual(noSuffix.ids, ids('abc'));
});

test('the budget keeps the end of the prefix and the start of the suffix, shared by suffixShare', () => {
  const p = buildPrompt(tokenizer('qwen'), 'abcdefghij', '0123456789', { maxTokens: 13, suffixShare: 0.3 });
  // 10 tokens of room after 3 markers: 3 for the suffix, 7 for the prefix
  assert.deepEqual(p.ids, [1, ...ids('defghij'), 2, ...ids('012'), 3]);
  assert.deepEqual(p.truncated, { prefix: 3, suffix: 7 });
  // a short suffix leaves its share to the prefix
  const short = buildPrompt(tokenizer('qwen'), 'abcdefghij', '0', { maxTokens: 13, suffixShare: 0.3 });
  assert.deepEqual(short.ids, [1, ...ids('bcdefghij'), 2, ...ids('0'), 3]);
  assert.equal(buildPrompt(tokenizer(null), 'abcdefghij', '', { maxTokens: 4, suffixShare: 0.5 }).ids.length, 4);
});
