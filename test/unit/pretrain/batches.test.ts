import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type TokenCorpus, documentsOf, evaluationBatches, fimExample, makeBatch, mulberry32 } from '../../../src/pretrain/batches.ts';

const ids = { prefix: 101, suffix: 102, middle: 103, endOfText: 100, pad: 104 };
const EOT = ids.endOfText;

function corpus(): TokenCorpus {
  const tokens: number[] = [];
  for (let d = 0; d < 20; d++) {
    for (let t = 0; t < 5 + d * 3; t++) tokens.push(1 + ((d * 7 + t) % 90));
    tokens.push(EOT);
  }
  const array = Uint16Array.from(tokens);
  return { tokens: array, documents: documentsOf(array, EOT) };
}

test('finds documents between <|endoftext|> separators', () => {
  assert.deepEqual(documentsOf(Uint16Array.from([5, 6, EOT, EOT, 7, EOT, 8]), EOT), [[0, 2], [4, 5], [6, 7]]);
});

test('writes a FIM example as prefix, suffix, middle (PSM) with every token of the chunk once', () => {
  const chunk = [1, 2, 3, 4, 5, 6, 7, 8];
  const example = fimExample(chunk, mulberry32(7), ids);
  const p = example.indexOf(ids.prefix);
  const s = example.indexOf(ids.suffix);
  const m = example.indexOf(ids.middle);
  assert.equal(p, 0);
  assert.ok(p < s && s < m);
  assert.equal(example.at(-1), EOT);
  const prefix = example.slice(p + 1, s);
  const suffix = example.slice(s + 1, m);
  const middle = example.slice(m + 1, -1);
  assert.deepEqual([...prefix, ...middle, ...suffix], chunk);
});

test('a batch depends only on (seed, index): targets are the inputs shifted by one', () => {
  const settings = { batch: 3, seq: 16, fimRate: 0.5, seed: 42 };
  const a = makeBatch(corpus(), settings, 5, ids);
  const b = makeBatch(corpus(), settings, 5, ids);
  assert.deepEqual(a, b);
  assert.notDeepEqual(makeBatch(corpus(), settings, 6, ids).inputIds, a.inputIds);
  assert.notDeepEqual(makeBatch(corpus(), { ...settings, seed: 43 }, 5, ids).inputIds, a.inputIds);
  for (let row = 0; row < 3; row++) for (let t = 0; t + 1 < 16; t++) assert.equal(a.targets[row * 16 + t], a.inputIds[row * 16 + t + 1]);
});

test('mixes FIM examples in at about the requested rate, and none at rate 0', () => {
  const count = (rate: number) => {
    let fim = 0;
    for (let k = 0; k < 50; k++) for (const id of makeBatch(corpus(), { batch: 4, seq: 64, fimRate: rate, seed: 1 }, k, ids).inputIds) if (id === BigInt(ids.middle)) fim++;
    return fim;
  };
  assert.equal(count(0), 0);
  const half = count(0.5);
  const all = count(1);
  assert.ok(half > all * 0.3 && half < all * 0.7, `rate 0.5 gave ${half} FIM middles against ${all} at rate 1`);
});

test('evaluation windows are consecutive and fixed', () => {
  const c = corpus();
  const [first] = evaluationBatches(c, 2, 8, 10);
  assert.deepEqual([...first!.inputIds.slice(0, 8)].map(Number), [...c.tokens.slice(0, 8)]);
  assert.deepEqual([...first!.inputIds.slice(8, 16)].map(Number), [...c.tokens.slice(9, 17)]);
  assert.equal(evaluationBatches(c, 2, 8, 1000).length, Math.floor(Math.floor(c.tokens.length / 9) / 2));
});

test('a whole-line FIM example cuts just after newline tokens, one to eight lines long', () => {
  const NL = 50;
  const lineEnds = new Uint8Array(128);
  lineEnds[NL] = 1;
  const chunk = [1, 2, NL, 3, 4, 5, NL, 6, NL, 7, 8, NL, 9, NL, 10, 11, 12];
  for (let seed = 0; seed < 30; seed++) {
    const example = fimExample(chunk, mulberry32(seed), { ...ids, lineEnds }, true);
    const s = example.indexOf(ids.suffix);
    const m = example.indexOf(ids.middle);
    const prefix = example.slice(1, s);
    const middle = example.slice(m + 1, -1);
    assert.ok(prefix.length === 0 || prefix.at(-1) === NL, `prefix ends mid-line: ${prefix}`);
    assert.ok(middle.length > 0 && (middle.at(-1) === NL || prefix.length + middle.length === chunk.length), `middle ${middle}`);
    assert.ok(middle.filter((t) => t === NL).length <= 8);
    assert.deepEqual([...prefix, ...middle, ...example.slice(s + 1, m)], chunk);
  }
});

test('fimMaxLines caps a whole-line middle at that many lines', () => {
  const NL = 50;
  const lineEnds = new Uint8Array(128);
  lineEnds[NL] = 1;
  const chunk = [1, NL, 2, NL, 3, NL, 4, NL, 5, NL, 6, NL, 7, NL, 8, NL, 9];
  const longest = (maxLines: number) => {
    let most = 0;
    for (let seed = 0; seed < 60; seed++) {
      const example = fimExample(chunk, mulberry32(seed), { ...ids, lineEnds }, true, maxLines);
      const middle = example.slice(example.indexOf(ids.middle) + 1, -1);
      most = Math.max(most, middle.filter((t) => t === NL).length);
    }
    return most;
  };
  assert.equal(longest(1), 1);
  assert.equal(longest(2), 2);
  assert.ok(longest(8) > 2);
});

test('mixes whole prepared examples in at about exampleRate, never cut except at the row end', () => {
  // prepared examples: marker 101, then a run of 200+ ids, then <|endoftext|>
  const tokens: number[] = [];
  for (let e = 0; e < 10; e++) tokens.push(ids.prefix, 200 + e, 200 + e, 200 + e, EOT);
  const prepared = Uint16Array.from(tokens);
  const examples = { tokens: prepared, documents: documentsOf(prepared, EOT) };
  const settings = { batch: 4, seq: 64, fimRate: 0, seed: 3 };
  const pieces = (exampleRate: number) => {
    let whole = 0;
    let chunks = 0;
    for (let k = 0; k < 40; k++) {
      const row = [...makeBatch(corpus(), { ...settings, exampleRate }, k, ids, examples).inputIds].map(Number);
      for (let t = 0; t < row.length; t++) {
        if (row[t] === ids.prefix) {
          // a whole example: its marker, three copies of one id, <|endoftext|> (or the row's end)
          const v = row[t + 1];
          for (let j = 1; j <= 3 && t + j < 64 * (Math.floor(t / 64) + 1); j++) assert.equal(row[t + j], v);
          whole++;
        } else if (row[t] === EOT && row[t - 4] !== ids.prefix) chunks++;
      }
    }
    return { whole, chunks };
  };
  assert.equal(pieces(0).whole, 0);
  const half = pieces(0.5);
  assert.ok(half.whole > 0.3 * (half.whole + half.chunks) && half.whole < 0.7 * (half.whole + half.chunks), `rate 0.5: ${half.whole} examples, ${half.chunks} chunks`);
  // without examples the rate is ignored and the draws are those of a recipe that never had it
  assert.deepEqual(makeBatch(corpus(), { ...settings, exampleRate: 0.5 }, 7, ids), makeBatch(corpus(), settings, 7, ids));
});
