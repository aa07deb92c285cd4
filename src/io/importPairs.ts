import type { Store } from '../store/store.ts';
import { decodePair, detectFormat, type FormatName, type PairRecord, RecordError } from './formats.ts';
import { DEFAULT_MAX_LINE_BYTES, readJsonlLines } from './lines.ts';
import { firstLine } from '../inputError.ts';

export interface ImportOptions {
  /** Forced format; by default the first valid line decides and every line must match it. */
  format?: FormatName | undefined;
  maxLineBytes?: number | undefined;
  /** Called after each committed batch with the number of lines read so far. */
  onProgress?: ((linesRead: number) => void) | undefined;
  /** Lines per transaction (DEFAULT_BATCH_LINES). */
  batchLines?: number | undefined;
  /** Stops between batches with an error; the batches committed so far stay, and a re-import completes them. */
  signal?: AbortSignal | undefined;
}

export interface ImportError {
  line: number;
  message: string;
}

export interface ImportResult {
  format: FormatName | undefined;
  imported: number;
  /** Valid pairs already stored (an earlier import, or a repeat within the file). */
  skipped: number;
  /** The first MAX_REPORTED_ERRORS bad lines; `errorCount` counts them all. */
  errors: ImportError[];
  errorCount: number;
}

/** Source of imported pairs whose line names none. */
export const IMPORTED_SOURCE = 'imported';
/** Model id of candidates that came from a file rather than from sampling. */
export const IMPORTED_MODEL_ID = 'imported';
export const MAX_REPORTED_ERRORS = 1000;
/**
 * Lines per transaction. Larger batches write less: each commit rewrites the index pages it touched, and
 * content-hash keys touch pages all over the index (2000 lines per batch wrote 2x the bytes of 10000).
 */
export const DEFAULT_BATCH_LINES = 10_000;

function notAPair(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `a line must be a JSON object, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`;
  }
  return 'not a preference pair: expected "prompt"/"chosen"/"rejected" or "input"/"preferred_output"/"non_preferred_output"';
}


/**
 * Imports a JSONL file of pairs. Good lines are committed in batches of one transaction each; bad lines
 * are reported with their number and reason and change nothing. Importing the same file again adds nothing.
 */
export async function importPairs(
  store: Store,
  file: string,
  options: ImportOptions = {},
): Promise<ImportResult> {
  // A damaged store is refused before the first line is read, not written into.
  const storeBatch = store.pairImporter({ source: IMPORTED_SOURCE, confidence: 1, modelId: IMPORTED_MODEL_ID });
  const batchLines = options.batchLines ?? DEFAULT_BATCH_LINES;
  const result: ImportResult = { format: options.format, imported: 0, skipped: 0, errors: [], errorCount: 0 };
  const fail = (line: number, message: string) => {
    result.errorCount++;
    if (result.errors.length < MAX_REPORTED_ERRORS) result.errors.push({ line, message });
  };

  let batch: PairRecord[] = [];
  let linesRead = 0;
  const commit = async () => {
    if (options.signal?.aborted) throw new Error(`import of ${file} was cancelled after line ${linesRead}`);
    const counts = storeBatch(batch);
    result.imported += counts.imported;
    result.skipped += counts.skipped;
    batch = [];
    options.onProgress?.(linesRead);
    // Let the event loop breathe between batches (progress output, cancellation, an extension host).
    await new Promise((resolve) => setImmediate(resolve));
  };

  for (const line of readJsonlLines(file, options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES)) {
    linesRead = line.line;
    if ('error' in line) {
      fail(line.line, line.error);
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(line.text);
    } catch (e) {
      fail(line.line, `invalid JSON: ${firstLine(e)}`);
      continue;
    }
    const detected = detectFormat(value);
    const format: FormatName | undefined = result.format ?? detected;
    if (detected === undefined) {
      fail(line.line, notAPair(value));
      continue;
    }
    if (detected !== format) {
      fail(line.line, `this line is ${detected} format but the file is ${format}`);
      continue;
    }
    try {
      batch.push(decodePair(format, value));
      result.format = format;
    } catch (e) {
      if (!(e instanceof RecordError)) throw e;
      fail(line.line, e.message);
      continue;
    }
    if (batch.length >= batchLines) await commit();
  }
  if (batch.length > 0) await commit();
  return result;
}
