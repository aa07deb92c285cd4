import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StopMatcher } from '../../../src/engine/sample/stop.ts';
import { completionStopTokens } from '../../../src/engine/sample/engine.ts';

function stream(stops: string[], deltas: string[]) {
  const m = new StopMatcher(stops);
  let streamed = '';
  for (const d of deltas) {
    streamed += m.push(d);
    if (m.stopped) break;
  }
  streamed += m.flush();
  return { streamed, result: m.result, stopped: m.stopped };
}

test('cuts exactly before a stop string split across deltas', () => {
  const r = stream(['\n\n'], ['return x;', '\n', '\nfunction']);
  assert.equal(r.result, 'return x;');
  assert.equal(r.streamed, 'return x;');
  assert.ok(r.stopped);
});

test('holds back a possible stop-string start, then releases it when it is not one', () => {
  const m = new StopMatcher(['</code>']);
  assert.equal(m.push('a </co'), 'a ');
  assert.equal(m.push('l>'), '</col>');
  assert.equal(m.result, 'a </col>');
  assert.ok(!m.stopped);
});

test('the earliest of several stop strings wins, even inside one delta', () => {
  const r = stream(['END', '\n'], ['abc\nxyzEND']);
  assert.equal(r.result, 'abc');
});

test('without a stop string the whole text streams', () => {
  const r = stream(['###'], ['a#', '#', 'b']);
  assert.equal(r.result, 'a##b');
  assert.equal(r.streamed, 'a##b');
  assert.ok(!r.stopped);
});

test('a FIM model stops at its end token and at any FIM marker, besides the requested tokens', () => {
  const token = (id: number) => ({ id, text: `<${id}>` });
  const fim = { style: 'qwen' as const, prefix: token(92), suffix: token(94), middle: token(93), end: null };
  assert.deepEqual(completionStopTokens([91], fim).sort(), [91, 92, 93, 94]);
  assert.deepEqual(completionStopTokens([91], { ...fim, end: token(95) }).sort(), [91, 92, 93, 94, 95]);
  assert.deepEqual(completionStopTokens([91, 91], null), [91]);
});
