import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketLength, packBatch, tokenizePair } from '../../../src/dpo/examples.ts';

test('packs chosen rows then rejected rows, right-padded, with next-token targets and a completion mask', () => {
  const b = packBatch([{ prompt: [1, 2], chosen: [3, 4], rejected: [5] }], 5, 0);
  assert.deepEqual([...b.inputIds].map(Number), [1, 2, 3, 4, 0, 1, 2, 5, 0, 0]);
  assert.deepEqual([...b.targets].map(Number), [2, 3, 4, 0, 0, 2, 5, 0, 0, 0]);
  // position i counts when token i+1 is a completion token
  assert.deepEqual([...b.completionMask], [0, 1, 1, 0, 0, 0, 1, 0, 0, 0]);
  assert.throws(() => packBatch([{ prompt: [1, 2, 3], chosen: [4, 5, 6], rejected: [7] }], 5, 0), /a row of 6 tokens does not fit length 5/);
});

test('bucket lengths round the longer row up to the step, capped at the maximum', () => {
  assert.equal(bucketLength({ prompt: [1, 2, 3], chosen: [4], rejected: [5, 6, 7] }, 4, 32), 8);
  assert.equal(bucketLength({ prompt: [1, 2, 3, 4], chosen: [4, 5, 6, 7], rejected: [5] }, 4, 32), 8);
  assert.equal(bucketLength({ prompt: Array(30).fill(1), chosen: [4, 5], rejected: [5] }, 16, 32), 32);
});

/** One token per character: enough to see what is kept. */
const charTokenizer = { encode: (s: string) => [...s].map((c) => c.charCodeAt(0)), fim: null, bosTokenId: null };

test('a long pair keeps the end of the prompt and the start of the completions', () => {
  const e = tokenizePair(charTokenizer, { prefix: 'abcdefghij', suffix: '', chosen: 'KLMNOPQRST', rejected: 'xy' }, 8);
  assert.equal(String.fromCharCode(...e.prompt), 'ij');
  assert.equal(String.fromCharCode(...e.chosen), 'KLMNOP');
  assert.equal(String.fromCharCode(...e.rejected), 'xy');
  assert.throws(() => tokenizePair(charTokenizer, { prefix: 'a', suffix: '', chosen: '', rejected: 'x' }, 8), /a completion has no tokens/);
});
