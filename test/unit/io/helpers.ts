import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { openStore, type Store } from '../../../src/store/store.ts';
// eslint-disable-next-line no-restricted-imports -- backdates rows and copies a pair as a labeler's, which no store method does
import { connectionOf } from '../../../src/store/connection.ts';

export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `prefer-${name}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A small store with every kind of text an exporter must get right: a FIM suffix, quotes, newlines, tabs,
 * non-ASCII, a labeler pair, a tie and a both-bad judgment. Creation times are fixed so files are stable.
 */
export function sampleStore(file: string): Store {
  const store = openStore(file);
  const ts = {
    workspace: 'acme-app',
    filePath: '/home/dev/acme-app/src/sum.ts',
    language: 'typescript',
    prefix: 'export function sum(xs: number[]): number {\n  ',
    suffix: '\n}\n',
  };
  const py = {
    workspace: 'notes',
    filePath: '/home/dev/notes/greet.py',
    language: 'python',
    prefix: 'def greet(name):\n    ',
  };
  store.recordJudgment({
    prompt: ts,
    candidates: [
      { text: 'return xs.reduce((a, b) => a + b, 0);', modelId: 'qwen2.5-coder-0.5b' },
      { text: 'let s = 0;\n\tfor (const x of xs) s += x;\n  return s;', modelId: 'qwen2.5-coder-0.5b' },
      { text: 'return xs.length', modelId: 'qwen2.5-coder-0.5b' },
    ],
    outcome: { kind: 'ranking', order: [0, 1, 2] },
  });
  store.recordJudgment({
    prompt: py,
    candidates: [
      { text: 'return f"Grüße, {name} — \\"hi\\" 👋"', modelId: 'm' },
      { text: 'print(name)', modelId: 'm' },
    ],
    outcome: { kind: 'pick', chosenIndex: 0 },
  });
  store.recordJudgment({
    prompt: py,
    candidates: [
      { text: 'return 1', modelId: 'm' },
      { text: 'return 2', modelId: 'm' },
    ],
    outcome: { kind: 'tie' },
  });
  store.recordJudgment({
    prompt: ts,
    candidates: [
      { text: 'throw new Error()', modelId: 'm' },
      { text: 'return NaN', modelId: 'm' },
    ],
    outcome: { kind: 'both_bad' },
  });
  const run = store.startLabelerRun('parse');
  const db = connectionOf(store);
  db.prepare(
      `INSERT INTO pair (prompt_id, chosen_id, rejected_id, source, confidence, texts_hash, labeler_run_id)
       SELECT prompt_id, chosen_id, rejected_id, 'parse', 0.9, texts_hash, ? FROM pair WHERE id = 3`,
    )
    .run(run);
  db.exec(`UPDATE pair SET created_at = '2025-06-0' || id || 'T12:00:00.000Z';
                 UPDATE comparison SET created_at = '2025-06-0' || id || 'T12:00:00.000Z';`);
  return store;
}
