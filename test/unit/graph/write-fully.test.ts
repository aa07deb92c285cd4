/**
 * writeFully: a tensor larger than one write(2) call can move (a 7B model's 2 GB embedding) is written in
 * chunks, each at its own position, so the file holds exactly the bytes given wherever they start.
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeFully } from '../../../src/engine/graph/onnx.ts';

const dir = mkdtempSync(join(tmpdir(), 'prefer-write-fully-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('bytes written in small chunks land in order at their position', () => {
  const path = join(dir, 'data');
  const bytes = Uint8Array.from({ length: 23 }, (_, i) => i + 1);
  const fd = openSync(path, 'w');
  try {
    writeFully(fd, new Uint8Array([9, 9]), 0);
    writeFully(fd, bytes, 2, 5);
  } finally {
    closeSync(fd);
  }
  assert.deepEqual([...readFileSync(path)], [9, 9, ...bytes]);
});
