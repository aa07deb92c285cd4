import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rateInWords, wilsonInterval } from '../../../src/dpo/interval.ts';

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 5e-4, `${what}: ${actual} ≈ ${expected}`);

describe('the Wilson interval of a rate', () => {
  it('matches published values', () => {
    // 5 of 10 and 81 of 263: the textbook examples (Wilson 1927; Newcombe 1998)
    const half = wilsonInterval(5, 10);
    close(half.low, 0.2366, '5/10 low');
    close(half.high, 0.7634, '5/10 high');
    const wide = wilsonInterval(81, 263);
    close(wide.low, 0.2553, '81/263 low');
    close(wide.high, 0.3662, '81/263 high');
  });

  it('knows nothing from no trials', () => {
    assert.deepEqual(wilsonInterval(0, 0), { low: 0, high: 1 });
    assert.equal(rateInWords(0, 0), 'no data yet');
  });

  it('stays wide after one trial, where the rate alone says 0 or 1', () => {
    const won = wilsonInterval(1, 1);
    close(won.low, 0.2065, '1/1 low');
    assert.equal(won.high, 1);
    const lost = wilsonInterval(0, 1);
    assert.equal(lost.low, 0);
    close(lost.high, 0.7935, '0/1 high');
    assert.equal(rateInWords(1, 1), '100 % of 1 (95 % interval 21–100 %)');
  });

  it('narrows as trials grow', () => {
    const few = wilsonInterval(2, 3);
    const many = wilsonInterval(200, 300);
    assert.ok(many.high - many.low < few.high - few.low);
    assert.equal(rateInWords(2, 3), '67 % of 3 (95 % interval 21–94 %)');
  });

  it('rejects counts that are not a rate', () => {
    assert.throws(() => wilsonInterval(3, 2), RangeError);
    assert.throws(() => wilsonInterval(-1, 2), RangeError);
    assert.throws(() => wilsonInterval(0.5, 2), RangeError);
  });
});
