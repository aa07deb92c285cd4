import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { openStore, type Store } from '../../../src/store/store.ts';

export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `prefer-${name}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A store holding one skipped comparison per prompt, so only the labeler's pairs are present. */
export function storeWith(
  file: string,
  prompts: { prompt: Parameters<Store['recordJudgment']>[0]['prompt']; texts: string[] }[],
): Store {
  const store = openStore(file);
  for (const { prompt, texts } of prompts) {
    store.recordJudgment({
      prompt,
      candidates: texts.map((text) => ({ text, modelId: 'm' })),
      outcome: { kind: 'skip' },
    });
  }
  return store;
}

export const pairsOf = (store: Store, source: string) =>
  [...store.iteratePairs({ sources: [source], includeDisagreements: true })].map((p) => [
    p.chosen,
    p.rejected,
  ]);
