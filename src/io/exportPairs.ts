import type Database from 'better-sqlite3';
import type { PairFilter, Store } from '../store/store.ts';
import { storeError } from '../store/storeFile.ts';
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

interface TieRow {
  outcome: string;
  prefix: string;
  suffix: string;
  language: string | null;
  filePath: string | null;
  workspace: string | null;
  source: string;
  shownOrder: string;
  createdAt: string;
}

/** One line per tie or both-bad comparison: the prompt and every candidate shown, in shown order. */
function exportTies(store: Store, file: string, options: ExportOptions): { file: string; exported: number } {
  try {
    return writeTies(store.db, file, options);
  } catch (e) {
    throw storeError(store.file, e);
  }
}

function writeTies(
  db: Database.Database,
  file: string,
  options: ExportOptions,
): { file: string; exported: number } {
  const filter = options.filter ?? {};
  const conditions = ["c.outcome IN ('tie', 'both_bad')"];
  const params: unknown[] = [];
  if (filter.sources) {
    conditions.push(
      filter.sources.length ? `c.source IN (${filter.sources.map(() => '?').join(', ')})` : '0',
    );
    params.push(...filter.sources);
  }
  if (filter.languages) {
    conditions.push(
      filter.languages.length
        ? `coalesce(p.language, 'unknown') IN (${filter.languages.map(() => '?').join(', ')})`
        : '0',
    );
    params.push(...filter.languages);
  }
  if (filter.since) {
    conditions.push('c.created_at >= ?');
    params.push(filter.since);
  }
  if (filter.until) {
    conditions.push('c.created_at < ?');
    params.push(filter.until);
  }
  const shownWithAdapter = `EXISTS (SELECT 1 FROM json_each(c.shown_order) shown
    JOIN candidate k ON k.id = shown.value WHERE k.adapter_id IS NOT NULL AND (? IS NULL OR k.adapter_id = ?))`;
  if (filter.adapter === 'base') {
    conditions.push(`NOT ${shownWithAdapter}`);
    params.push(null, null);
  } else if (filter.adapter !== undefined) {
    conditions.push(shownWithAdapter);
    params.push(filter.adapter, filter.adapter);
  }
  const rows = db
    .prepare(
      `SELECT c.outcome, p.prefix, p.suffix, p.language, p.file_path AS filePath, p.workspace, c.source,
              c.shown_order AS shownOrder, c.created_at AS createdAt
       FROM comparison c JOIN prompt p ON p.id = c.prompt_id WHERE ${conditions.join(' AND ')} ORDER BY c.id`,
    )
    .iterate(...params) as Iterable<TieRow>;
  const candidateText = db.prepare('SELECT text FROM candidate WHERE id = ?').pluck();
  const writer = new AtomicLineWriter(file);
  let exported = 0;
  try {
    for (const row of rows) {
      const completions = (JSON.parse(row.shownOrder) as number[]).map(
        (id) => candidateText.get(id) as string,
      );
      const line: Record<string, unknown> = {
        outcome: row.outcome,
        prompt: row.prefix,
        completions,
        suffix: row.suffix,
        language: row.language,
        source: row.source,
        created_at: row.createdAt,
      };
      if (!options.private) {
        line.file_path = row.filePath;
        line.workspace = row.workspace;
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
