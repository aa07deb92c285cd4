import { existsSync, statSync } from 'node:fs';
import { FORMAT_NAMES, isFormatName } from '../../io/formats.ts';
import { importPairs } from '../../io/importPairs.ts';
import { openStore } from '../../store/store.ts';
import { type Command, commandError, UsageError, requireString } from '../command.ts';

export const importCommand: Command = {
  name: 'import',
  summary: 'import preference pairs from a JSONL file (TRL, TRL conversational or OpenAI DPO)',
  usage: [
    `prefer import FILE --db DB [--format ${FORMAT_NAMES.join('|')}] [--json]`,
    '',
    '  --format   force the format; by default the first valid line decides and every line must match it',
    '',
    'Bad lines are reported with their line number and skipped; good lines are stored. Pairs already stored',
    'are skipped, so importing a file twice adds nothing. Exit code 1 when any line was rejected.',
  ].join('\n'),
  options: { db: { type: 'string' }, format: { type: 'string' } },
  allowPositionals: true,
  async run(args, out) {
    const db = requireString(args, 'db', 'import');
    const [file, ...extra] = args.positionals;
    if (file === undefined) throw new UsageError('prefer import: FILE is required');
    if (extra.length > 0)
      throw new UsageError(`prefer import: one FILE at a time (also got ${extra.join(' ')})`);
    if (!existsSync(file)) throw new UsageError(`prefer import: ${file}: no such file`);
    if (statSync(file).isDirectory()) throw new UsageError(`prefer import: ${file}: is a folder, not a file`);
    if (!statSync(file).isFile()) throw new UsageError(`prefer import: ${file}: not a file`);
    const format = args.values.format;
    if (format !== undefined && (typeof format !== 'string' || !isFormatName(format))) {
      throw new UsageError(`prefer import: --format must be one of ${FORMAT_NAMES.join(', ')}`);
    }
    const tty = process.stderr.isTTY === true;
    let store;
    try {
      store = openStore(db);
    } catch (e) {
      throw commandError('import', e);
    }
    try {
      const result = await importPairs(store, file, {
        format,
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
