import { firstLine } from '../inputError.ts';
import type { FeedbackInput, Store } from '../store/store.ts';
import { decodeContinue, decodeTabby, detectFeedbackFormat, type FeedbackFormat } from './feedbackFormats.ts';
import { RecordError } from './formats.ts';
import { DEFAULT_BATCH_LINES, MAX_REPORTED_ERRORS } from './importPairs.ts';
import { DEFAULT_MAX_LINE_BYTES, readJsonlLines } from './lines.ts';

export interface FeedbackImportOptions {
  /** Forced format; by default the first valid line decides and every line must match it. */
  format?: FeedbackFormat | undefined;
  maxLineBytes?: number | undefined;
  /** Called after each committed batch with the number of lines read so far (both passes, for Tabby). */
  onProgress?: ((linesRead: number) => void) | undefined;
  batchLines?: number | undefined;
  /** Stops between batches with an error; the batches committed so far stay, and a re-import completes them. */
  signal?: AbortSignal | undefined;
}

export interface FeedbackImportError {
  file: string;
  line: number;
  message: string;
}

export interface FeedbackImportResult {
  format: FeedbackFormat | undefined;
  /** Judged completions stored. */
  imported: number;
  /** Judged completions stored by an earlier import (the tool's own id), or repeated. */
  skipped: number;
  /** Pairs added where one prompt got both an accepted and a rejected completion. */
  pairsAdded: number;
  /** Completions the log records no outcome for (shown only, or accepted one line at a time). */
  unjudged: number;
  errors: FeedbackImportError[];
  errorCount: number;
}

type Parsed = { file: string; line: number; value: unknown };

/** Yielded every PAUSE_LINES lines read, so the import lets progress and cancellation through in any pass. */
const PAUSE = Symbol('pause');
const PAUSE_LINES = 10_000;

/** Reads the files' JSON lines of the one format they are in, reporting the others; see FeedbackImportOptions. */
class FeedbackReader {
  readonly result: FeedbackImportResult;
  linesRead = 0;
  private pausedAt = 0;

  private readonly files: readonly string[];
  private readonly options: FeedbackImportOptions;

  constructor(files: readonly string[], options: FeedbackImportOptions) {
    this.files = files;
    this.options = options;
    this.result = {
      format: options.format,
      imported: 0,
      skipped: 0,
      pairsAdded: 0,
      unjudged: 0,
      errors: [],
      errorCount: 0,
    };
  }

  fail(file: string, line: number, message: string): void {
    this.result.errorCount++;
    if (this.result.errors.length < MAX_REPORTED_ERRORS) this.result.errors.push({ file, line, message });
  }

  /** Every line of the format; `report` false reads again quietly what a first pass reported. */
  *lines(report = true): Generator<Parsed> {
    const fail = report ? this.fail.bind(this) : () => undefined;
    for (const file of this.files) {
      for (const line of readJsonlLines(file, this.options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES)) {
        this.linesRead++;
        if ('error' in line) {
          fail(file, line.line, line.error);
          continue;
        }
        let value: unknown;
        try {
          value = JSON.parse(line.text);
        } catch (e) {
          fail(file, line.line, `invalid JSON: ${firstLine(e)}`);
          continue;
        }
        const detected = detectFeedbackFormat(value);
        const format = this.result.format ?? detected;
        if (detected === undefined) {
          fail(
            file,
            line.line,
            'not a Continue autocomplete line (completionId, prefix, completion) nor a Tabby event ({ts, event})',
          );
          continue;
        }
        if (detected !== format) {
          fail(file, line.line, `this line is ${detected} format but the file is ${format}`);
          continue;
        }
        this.result.format = format;
        yield { file, line: line.line, value };
      }
    }
  }

  /** Whether PAUSE_LINES lines were read since the last pause. */
  pauseDue(): boolean {
    if (this.linesRead - this.pausedAt < PAUSE_LINES) return false;
    this.pausedAt = this.linesRead;
    return true;
  }

  /** The value decoded, or undefined with the line reported when it is not what its format says. */
  decode<T>(parsed: Parsed, decoder: (value: unknown) => T, report = true): T | undefined {
    try {
      return decoder(parsed.value);
    } catch (e) {
      if (!(e instanceof RecordError)) throw e;
      if (report) this.fail(parsed.file, parsed.line, e.message);
      return undefined;
    }
  }
}

/** Continue: one line per completion, its outcome on the line. */
function* continueFeedback(reader: FeedbackReader): Generator<FeedbackInput | typeof PAUSE> {
  for (const parsed of reader.lines()) {
    if (reader.pauseDue()) yield PAUSE;
    const decoded = reader.decode(parsed, (value) => ({ feedback: decodeContinue(value) }));
    if (decoded === undefined) continue;
    if (decoded.feedback === undefined) reader.result.unjudged++;
    else yield decoded.feedback;
  }
}

/**
 * Tabby: the outcomes come after their completion, maybe in a later file. A first pass keeps the outcome of
 * each choice (a select anywhere wins over a dismiss); a second reads the completions that have one.
 */
function* tabbyFeedback(reader: FeedbackReader): Generator<FeedbackInput | typeof PAUSE> {
  const outcomes = new Map<string, { desirable: boolean; at: string | undefined }>();
  const key = (id: string, index: number) => `${id}#${index}`;
  for (const parsed of reader.lines()) {
    if (reader.pauseDue()) yield PAUSE;
    const event = reader.decode(parsed, decodeTabby);
    if (event?.kind !== 'judgment') continue;
    const k = key(event.id, event.index);
    if (!outcomes.get(k)?.desirable) outcomes.set(k, { desirable: event.desirable, at: event.at });
  }
  for (const parsed of reader.lines(false)) {
    if (reader.pauseDue()) yield PAUSE;
    const event = reader.decode(parsed, decodeTabby, false);
    if (event?.kind !== 'completion') continue;
    for (const [index, completion] of event.choices) {
      const outcome = outcomes.get(key(event.id, index));
      if (!outcome || completion.trim() === '') {
        reader.result.unjudged++;
        continue;
      }
      yield {
        prompt: event.prompt,
        completion,
        desirable: outcome.desirable,
        source: 'tabby',
        externalId: key(event.id, index),
        createdAt: outcome.at,
      };
    }
  }
}

/**
 * Imports completions judged in another tool's logs (all the files in one format): each is stored as judged on
 * its own, and a prompt with an accepted and a rejected completion also gets the pair. Good lines commit in
 * batches; bad lines are reported by file and number and change nothing; importing again adds nothing.
 */
export async function importFeedback(
  store: Store,
  files: readonly string[],
  options: FeedbackImportOptions = {},
): Promise<FeedbackImportResult> {
  // A damaged store is refused before the first line is read.
  const storeBatch = store.feedbackImporter();
  const reader = new FeedbackReader(files, options);
  const { result } = reader;
  const batchLines = options.batchLines ?? DEFAULT_BATCH_LINES;
  let batch: FeedbackInput[] = [];
  const pause = async () => {
    options.onProgress?.(reader.linesRead);
    // Let the event loop breathe (progress output, cancellation, an extension host).
    await new Promise((resolve) => setImmediate(resolve));
    if (options.signal?.aborted)
      throw new Error(`import of ${files.join(', ')} was cancelled after ${reader.linesRead} lines`);
  };
  const commit = async () => {
    if (options.signal?.aborted)
      throw new Error(`import of ${files.join(', ')} was cancelled after ${reader.linesRead} lines`);
    const counts = storeBatch(batch);
    result.imported += counts.imported;
    result.skipped += counts.skipped;
    result.pairsAdded += counts.pairsAdded;
    batch = [];
    await pause();
  };
  const format = options.format ?? firstFormat(files);
  result.format = format;
  const items = format === 'tabby' ? tabbyFeedback(reader) : continueFeedback(reader);
  for (const item of items) {
    if (item === PAUSE) {
      await pause();
      continue;
    }
    batch.push(item);
    if (batch.length >= batchLines) await commit();
  }
  if (batch.length > 0 || options.onProgress) await commit();
  return result;
}

/** The tool whose log `file` is, from its first JSON line that says; undefined when none does. */
export function sniffFeedbackFormat(file: string): FeedbackFormat | undefined {
  for (const line of readJsonlLines(file)) {
    if ('error' in line) continue;
    try {
      return detectFeedbackFormat(JSON.parse(line.text));
    } catch {
      // an unparsable line is reported by the import that reads it
    }
  }
  return undefined;
}

/** The format of the first file that has one (Continue when none does: every line is then reported). */
function firstFormat(files: readonly string[]): FeedbackFormat {
  for (const file of files) {
    const format = sniffFeedbackFormat(file);
    if (format) return format;
  }
  return 'continue';
}
