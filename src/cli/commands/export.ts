import { exportPairs } from '../../io/exportPairs.ts';
import { FORMAT_NAMES, isFormatName } from '../../io/formats.ts';
import { openStore, type PairFilter, type Store } from '../../store/store.ts';
import { type Command, commandError, UsageError, requireString } from '../command.ts';
import { adapterVersionFilter, pairFilterFlags, pairFilterOptions, pairFilterUsage } from '../pairFilterFlags.ts';

export const exportCommand: Command = {
  name: 'export',
  summary: 'export preference pairs as JSONL for TRL or OpenAI',
  usage: [
    `prefer export --db DB --format ${FORMAT_NAMES.join('|')} --out FILE [filters] [--include-ties] [--private] [--force] [--json]`,
    '',
    ...pairFilterUsage('adapter'),
    '  --include-ties  also write ties and both-bad judgments to FILE.ties.jsonl (they are not DPO pairs)',
    '  --private       leave out file paths and workspace names',
    '  --force         replace FILE (and FILE.ties.jsonl) when it exists',
  ].join('\n'),
  options: {
    db: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
    ...pairFilterOptions('adapter'),
    'include-ties': { type: 'boolean' },
    private: { type: 'boolean' },
    force: { type: 'boolean' },
  },
  run(args, out) {
    const db = requireString(args, 'db', 'export');
    const format = requireString(args, 'format', 'export');
    const file = requireString(args, 'out', 'export');
    if (!isFormatName(format))
      throw new UsageError(`prefer export: --format must be one of ${FORMAT_NAMES.join(', ')}`);
    const filter: PairFilter = pairFilterFlags(args, 'export');
    let store: Store;
    try {
      // Read-only: an export never changes the database, whatever it is.
      store = openStore(db, { readonly: true });
    } catch (e) {
      throw commandError('export', e);
    }
    const tty = process.stderr.isTTY === true;
    try {
      filter.adapter = adapterVersionFilter(store, args, 'export', 'adapter');
      const result = exportPairs(store, file, {
        format,
        filter,
        force: args.values.force === true,
        private: args.values.private === true,
        includeTies: args.values['include-ties'] === true,
        onProgress: tty
          ? (done, total) => process.stderr.write(`\rexporting to ${file}: ${done}/${total}`)
          : undefined,
      });
      if (tty) process.stderr.write('\n');
      const value: Record<string, unknown> = { exported: result.exported, out: file };
      if (result.ties) value.ties = result.ties;
      out.result(
        value,
        `exported ${result.exported} pairs to ${file}` +
          (result.ties ? `; ${result.ties.exported} ties and both-bad judgments to ${result.ties.file}` : ''),
      );
      return 0;
    } catch (e) {
      throw commandError('export', e);
    } finally {
      store.close();
    }
  },
};
