import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openStore } from '../../../src/store/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'prefer-ab-history-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("an adapter's blind A/B history", () => {
  it('lists its decided and tied blind judgments in order, with the running record after each', () => {
    const store = openStore(join(dir, 'history.sqlite'));
    const mine = store.registerAdapter({ path: '/adapters/v1', baseModelHash: 'h' });
    const other = store.registerAdapter({ path: '/adapters/v2', baseModelHash: 'h' });
    const judge = (i: number, adapterId: number, outcome: Parameters<typeof store.recordJudgment>[0]['outcome'], mode: 'compare' | 'blind-ab' = 'blind-ab') =>
      store.recordJudgment({
        prompt: { prefix: `p${i}`, language: 'typescript' },
        candidates: [
          { text: `base ${i}`, modelId: 'm' },
          { text: `tuned ${i}`, modelId: 'm', adapterId },
        ],
        outcome,
        mode,
      });

    judge(1, mine.id, { kind: 'pick', chosenIndex: 1 }); // win
    judge(2, mine.id, { kind: 'pick', chosenIndex: 0 }); // loss
    judge(3, mine.id, { kind: 'skip' }); // decides nothing
    judge(4, mine.id, { kind: 'both_bad' }); // tie
    judge(5, other.id, { kind: 'pick', chosenIndex: 1 }); // another adapter's
    judge(6, mine.id, { kind: 'pick', chosenIndex: 1 }, 'compare'); // not blind
    judge(7, mine.id, { kind: 'ranking', order: [1, 0] }); // win
    judge(8, mine.id, { kind: 'edited', text: 'my own' }); // decides nothing

    const history = store.abHistory(mine.id);
    assert.deepEqual(
      history.map(({ result, wins, losses, ties }) => ({ result, wins, losses, ties })),
      [
        { result: 'win', wins: 1, losses: 0, ties: 0 },
        { result: 'loss', wins: 1, losses: 1, ties: 0 },
        { result: 'tie', wins: 1, losses: 1, ties: 1 },
        { result: 'win', wins: 2, losses: 1, ties: 1 },
      ],
    );
    assert.ok(history.every((h, i) => i === 0 || h.comparisonId > history[i - 1]!.comparisonId), 'oldest first');
    assert.match(history[0]!.at, /^\d{4}-\d\d-\d\dT/);
    const last = history.at(-1)!;
    const record = store.updateAbRecord(mine.id);
    assert.deepEqual({ wins: last.wins, losses: last.losses, ties: last.ties }, { wins: record.wins, losses: record.losses, ties: record.ties }, 'the same count as the record');
    assert.deepEqual(store.abHistory(other.id).map((h) => h.result), ['win']);
    store.close();
  });

  it('is empty before the first blind judgment', () => {
    const store = openStore(join(dir, 'empty.sqlite'));
    const adapter = store.registerAdapter({ path: '/a', baseModelHash: 'h' });
    assert.deepEqual(store.abHistory(adapter.id), []);
    store.close();
  });
});
