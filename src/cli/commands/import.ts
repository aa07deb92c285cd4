import { existsSync, statSync } from 'node:fs';
import { FEEDBACK_FORMATS, type FeedbackFormat, isFeedbackFormat } from '../../io/feedbackFormats.ts';
import { FORMAT_NAMES, isFormatName } from '../../io/formats.ts';
import { importFeedback, sniffFeedbackFormat } from '../../io/importFeedback.ts';
import { importPairs } from '../../io/importPairs.ts';
import { openStore, type Store } from '../../store/store.ts';
import { type Command, commandError, type Output, UsageError, requireString } from '../command.ts';

const ALL_FORMATS = [...FORMAT_NAMES, ...FEEDBACK_FORMATS];

export const importCommand: Command = {
  name: 'import',
  summary:
    'import preference pairs (TRL, TRL conversational, OpenAI DPO) or Continue / Tabby completion logs',
  usage: [
    `prefer import FILE --db DB [--format ${ALL_FORMATS.join('|')}] [--json]`,
    '',
    '  --format   force the format; by default the first valid line decides and every line must match it',
    '',
    'Bad lines are reported with their line number and skipped; good lines are stored. Pairs already stored',
    'are skipped, so importing a file twice adds nothing. Exit code 1 when any line was rejected.',
    '',
    'continue: ~/.continue/dev_data/<version>/autocomplete.jsonl; tabby: ~/.tabby/events/<date>.json (several',
    'files may be given, in date order). Each accepted completion is stored as desirable and each rejected or',
    'dismissed one as undesirable; a prompt with both also gets the pair. File paths in them are kept as text.',
  ].join('\n'),
  options: { db: { type: 'string' }, format: { type: 'string' } },
  allowPositionals: true,
  async run(args, out) {
    const db = requireString(args, 'db', 'import');
    const [file, ...extra] = args.positionals;
    if (file === undefined) throw new UsageError('prefer import: FILE is required');
    for (const f of args.positionals) checkInputFile(f);
    const format = args.values.format;
    if (
      format !== undefined &&
      (typeof format !== 'string' || !(isFormatName(format) || isFeedbackFormat(format)))
    ) {
      throw new UsageError(`prefer import: --format must be one of ${ALL_FORMATS.join(', ')}`);
    }
    const feedback =
      format === undefined ? sniffFeedbackFormat(file) : isFeedbackFormat(format) ? format : undefined;
    if (extra.length > 0 && feedback === undefined)
      throw new UsageError(`prefer import: one FILE at a time (also got ${extra.join(' ')})`);
    if (feedback !== undefined) return runFeedbackImport(db, args.positionals, feedback, out);
    const tty = process.stderr.isTTY === true;
    let store;
    try {
      store = openStore(db);
    } catch (e) {
      throw commandError('import', e);
    }
    try {
      const result = await importPairs(store, file, {
        format: format as (typeof FORMAT_NAMES)[number] | undefined,
        onProgress: tty
          ? (lines) => process.stderr.write(`\rimporting ${file}: ${lines} lines read`)
          : undefined,
      });
      if (tty) process.stderr.write('\n');
      const { imported, skipped, errors, errorCount } = result;
      out.result(
        { imported, skipped, errors, error_count: errorCount, format: result.format ?? null },
        [
          `imported ${imported}, skipped ${skipped} already stored, ${errorCount} bad line${errorCount === 1 ? '' : 's'}` +
            (result.format ? ` (${result.format})` : ''),
          ...errors.map((e) => `${file}:${e.line}: ${e.message}`),
          ...(errorCount > errors.length ? [`… and ${errorCount - errors.length} more`] : []),
        ].join('\n'),
      );
      // The exit code says lines were rejected; one line on stderr says which, for a reader of the log.
      if (errorCount > 0) {
        const first = errors[0]!;
        process.stderr.write(
          `prefer import: ${errorCount} bad line${errorCount === 1 ? '' : 's'} not imported (first: ${file}:${first.line}: ${first.message})\n`,
        );
      }
      return errorCount > 0 ? 1 : 0;
    } catch (e) {
      throw commandError('import', e);
    } finally {
      store.close();
    }
  },
};

function checkInputFile(file: string): void {
  if (!existsSync(file)) throw new UsageError(`prefer import: ${file}: no such file`);
  if (statSync(file).isDirectory()) throw new UsageError(`prefer import: ${file}: is a folder, not a file`);
  if (!statSync(file).isFile()) throw new UsageError(`prefer import: ${file}: not a file`);
}

/** Continue or Tabby logs: judged completions, and the pairs where a prompt has both kinds. */
async function runFeedbackImport(
  db: string,
  files: readonly string[],
  format: FeedbackFormat,
  out: Output,
): Promise<number> {
  let store: Store;
  try {
    store = openStore(db);
  } catch (e) {
    throw commandError('import', e);
  }
  const tty = process.stderr.isTTY === true;
  try {
    const result = await importFeedback(store, files, {
      format,
      onProgress: tty
        ? (lines) => process.stderr.write(`\rimporting ${format} feedback: ${lines} lines read`)
        : undefined,
    });
    if (tty) process.stderr.write('\n');
    const { imported, skipped, pairsAdded, unjudged, errors, errorCount } = result;
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
    out.result(
      { imported, skipped, pairs_added: pairsAdded, unjudged, errors, error_count: errorCount, format },
      [
        `imported ${plural(imported, 'judged completion')} and ${plural(pairsAdded, 'pair')}, skipped ${skipped} already stored, ` +
          `${unjudged} without an outcome, ${plural(errorCount, 'bad line')} (${format})`,
        ...errors.map((e) => `${e.file}:${e.line}: ${e.message}`),
        ...(errorCount > errors.length ? [`… and ${errorCount - errors.length} more`] : []),
      ].join('\n'),
    );
    if (errorCount > 0) {
      const first = errors[0]!;
      process.stderr.write(
        `prefer import: ${plural(errorCount, 'bad line')} not imported (first: ${first.file}:${first.line}: ${first.message})\n`,
      );
    }
    return errorCount > 0 ? 1 : 0;
  } catch (e) {
    throw commandError('import', e);
  } finally {
    store.close();
  }
}
