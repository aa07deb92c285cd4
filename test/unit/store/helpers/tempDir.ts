import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/** A fresh directory for this test file's databases, removed when the file's tests end. */
export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `prefer-${name}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
