import type { PairFilter, Store } from '../store/store.ts';
import { AtomicLineWriter, checkOutputFile } from './fileWriter.ts';
import { type EncodeOptions, encodePair, type FormatName } from './formats.ts';

export interface ExportOptions extends EncodeOptions {
  format: FormatName;
  filter?: PairFilter | undefined;
  /** Also write ties and both-bad judgments, to the sidecar file named by `tiesFileFor`. */
  includeTies?: boolean | undefined;
  /** Replace `out` (and the ties file) when it exists; without it an existing file is refused. */
  force?: boolean | undefined;
  /** Called every few thousand pairs with the count written and the total to write. */
  onProgress?: ((done: number, total: number) => void) | undefined;
}

export interface ExportResult {
  exported: number;
  /** Only with includeTies. */
  ties?: { file: string; exported: number } | undefined;
}

const PROGRESS_EVERY = 5000;

/** Ties and both-bad judgments are not DPO pairs: they go to `pairs.ties.jsonl` beside `pairs.jsonl`. */
export function tiesFileFor(out: string): string {
  return out.endsWith('.jsonl') ? `${out.slice(0, -'.jsonl'.length)}.ties.jsonl` : `${out}.ties.jsonl`;
}

/**
 * Streams the store's pairs into `out` as JSONL; the file appears complete or not at all. Refused before
 * anything is written (InputError naming the path): an output that is the database or one of its files, a
 * folder, a path in a missing folder, an existing file without `force`.
 */
export function exportPairs(store: Store, out: string, options: ExportOptions): ExportResult {
  const filter = options.filter ?? {};
  const check = { database: store.file, force: options.force === true };
  const target = checkOutputFile(out, check);
  const tiesTarget = options.includeTies ? checkOutputFile(tiesFileFor(out), check) : undefined;
  const total = options.onProgress ? store.countPairs(filter) : 0;
  const writer = new AtomicLineWriter(target);
  let exported = 0;
  try {
    for (const pair of store.iteratePairs(filter)) {
      writer.writeLine(JSON.stringify(encodePair(options.format, pair, options)));
      exported++;
      if (options.onProgress && exported % PROGRESS_EVERY === 0) options.onProgress(exported, total);
    }
    const ties = tiesTarget === undefined ? undefined : exportTies(store, tiesTarget, options);
    writer.commit();
    options.onProgress?.(exported, total);
    return { exported, ties: ties && { file: tiesFileFor(out), exported: ties.exported } };
  } catch (e) {
    writer.abort();
    throw e;
  }
}

/** One line per tie or both-bad comparison: the prompt and every candidate shown, in shown order. */
function exportTies(store: Store, file: string, options: ExportOptions): { file: string; exported: number } {
  const writer = new AtomicLineWriter(file);
  let exported = 0;
  try {
    for (const tie of store.iterateTies(options.filter ?? {})) {
      const line: Record<string, unknown> = {
        outcome: tie.outcome,
        prompt: tie.prefix,
        completions: tie.completions,
        suffix: tie.suffix,
        language: tie.language,
        source: tie.source,
        created_at: tie.createdAt,
      };
      if (!options.private) {
        line.file_path = tie.filePath;
        line.workspace = tie.workspace;
      }
      writer.writeLine(JSON.stringify(line));
      exported++;
    }
    writer.commit();
    return { file, exported };
  } catch (e) {
    writer.abort();
    throw e;
  }
}
