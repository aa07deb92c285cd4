import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readJsonlLines } from '../../../src/io/lines.ts';
import { tempDir } from './helpers.ts';

const dir = tempDir('lines');

describe('JSONL line reader', () => {
  it('reads a line that spans several read chunks, with a multi-byte character across a chunk boundary', () => {
    const file = join(dir, 'long.jsonl');
    // 'é' is two bytes; an odd-length run of ASCII before it puts one of them on each side of the 1 MiB mark.
    const long = 'a'.repeat((1 << 20) - 1) + 'é'.repeat(1 << 20);
    writeFileSync(file, `first\n${long}\nlast`);
    const lines = [...readJsonlLines(file)];
    assert.deepEqual(
      lines.map((l) => ('text' in l ? [l.line, l.text.length] : [l.line, l.error])),
      [
        [1, 5],
        [2, long.length],
        [3, 4],
      ],
    );
    assert.equal((lines[1] as { text: string }).text, long);
  });

  it('drops a line over the limit, reports it once, and reads on', () => {
    const file = join(dir, 'limit.jsonl');
    writeFileSync(file, `ok\n${'x'.repeat(3000)}\nafter\n${'y'.repeat(1001)}`);
    const lines = [...readJsonlLines(file, 1000)];
    assert.deepEqual(lines, [
      { line: 1, text: 'ok' },
      { line: 2, error: 'line is longer than 1000 bytes' },
      { line: 3, text: 'after' },
      { line: 4, error: 'line is longer than 1000 bytes' },
    ]);
  });

  it('numbers blank lines but does not return them, and strips CR and BOM', () => {
    const file = join(dir, 'blank.jsonl');
    writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('a\r\n\r\n  \nb\r\n')]));
    assert.deepEqual(
      [...readJsonlLines(file)],
      [
        { line: 1, text: 'a' },
        { line: 4, text: 'b' },
      ],
    );
  });
});
