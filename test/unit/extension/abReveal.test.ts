import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { abRecordInWords, abReveal } from '../../../src/extension/compare/abReveal.ts';
import type { AbJudgment } from '../../../src/store/store.ts';

const judged = (result: AbJudgment['result'], wins: number, losses: number, ties: number, i: number): AbJudgment => ({
  comparisonId: i,
  at: `2026-01-0${i}T00:00:00.000Z`,
  result,
  wins,
  losses,
  ties,
});

describe('the blind A/B reveal', () => {
  it('labels each shown card with the model that wrote it', () => {
    const reveal = abReveal([{}, { adapterId: 3 }, { adapterId: 3 }, {}], { wins: 0, losses: 0, ties: 1, winRate: null }, [judged('tie', 0, 0, 1, 1)]);
    assert.deepEqual(reveal.sources, ['base', 'adapter', 'adapter', 'base']);
    assert.deepEqual(reveal.history, [], 'a tie decides nothing');
    assert.equal(reveal.record, 'adapter vs base: no decided judgments yet, 1 tie');
  });

  it('gives the win-rate with n, ties and a 95 % interval, and its course over the decided judgments', () => {
    assert.equal(abRecordInWords({ wins: 2, losses: 1, ties: 0, winRate: 2 / 3 }), 'adapter vs base: wins 67 % of 3 (95 % interval 21–94 %), 0 ties');
    const history = [judged('win', 1, 0, 0, 1), judged('tie', 1, 0, 1, 2), judged('loss', 1, 1, 1, 3)];
    const reveal = abReveal([{ adapterId: 1 }, {}], { wins: 1, losses: 1, ties: 1, winRate: 0.5 }, history);
    assert.equal(reveal.record, 'adapter vs base: wins 50 % of 2 (95 % interval 9–91 %), 1 tie');
    assert.deepEqual(reveal.history.map((h) => [h.judgment, h.winRate]), [[1, 1], [2, 0.5]]);
    assert.ok(Math.abs(reveal.history[0]!.low - 0.2065) < 1e-3 && reveal.history[0]!.high === 1);
  });
});
