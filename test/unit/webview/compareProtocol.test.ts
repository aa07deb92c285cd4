import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Outcome, parseWebviewMessage } from '../../../webview/protocol/compare.ts';

const judge = (outcome: unknown) =>
  parseWebviewMessage({ type: 'judge', roundId: 1, outcome, decisionMs: 5 });

describe('compare panel protocol', () => {
  const outcomes: Outcome[] = [
    { kind: 'pick', chosenIndex: 2 },
    { kind: 'ranking', order: [1, 0, 2] },
    { kind: 'tie' },
    { kind: 'both_bad' },
    { kind: 'skip' },
    { kind: 'edited', text: 'return 42;' },
  ];
  for (const outcome of outcomes) {
    it(`passes a ${outcome.kind} through in the store's shape`, () => {
      const message = judge(outcome);
      assert.ok(!('invalid' in message) && message.type === 'judge', JSON.stringify(message));
      assert.deepEqual(message.outcome, outcome);
    });
  }

  it('rejects a pick that names its candidate by another field', () => {
    assert.ok('invalid' in judge({ kind: 'pick', index: 2 }));
  });

  it("rejects a page naming the model of the user's own answer", () => {
    assert.ok('invalid' in judge({ kind: 'edited', text: 'mine', modelId: 'gpt' }));
  });
});
