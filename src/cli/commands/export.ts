import { exportPairs } from '../../io/exportPairs.ts';
import { FORMAT_NAMES, isFormatName } from '../../io/formats.ts';
import { openStore, type PairFilter, type Store } from '../../store/store.ts';
import { type Command, commandError, type ParsedArgs, UsageError, requireString } from '../command.ts';

function strings(args: ParsedArgs, flag: string): string[] | undefined {
  const v = args.values[flag];
  if (v === undefined) return undefined;
  const values = (Array.isArray(v) ? v : [v]).map(String).flatMap((s) => s.split(','));
  if (values.some((s) => s.trim() === ''))
    throw new UsageError(`prefer export: --${flag}: empty value (give a name, or a comma list of names)`);
  return values;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?)?$/;

function date(args: ParsedArgs, flag: 'since' | 'until'): string | undefined {
  const v = args.values[flag] as string | undefined;
  if (v === undefined) return undefined;
  const m = ISO_DATE.exec(v);
  // Date.parse rolls 2025-02-31 over to March: the day must survive the round trip.
  const day = m && new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  const valid =
    day !== null &&
    !Number.isNaN(Date.parse(v)) &&
    day.getUTCMonth() === Number(m![2]) - 1 &&
    day.getUTCDate() === Number(m![3]);
  if (!valid)
    throw new UsageError(`prefer export: --${flag} ${v}: not ISO 8601 (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)`);
  return v;
}

function adapterFilter(store: Store, flag: string | undefined): PairFilter['adapter'] {
  if (flag === undefined) return undefined;
  if (flag === 'base') return 'base';
  if (!/^v?\d+$/.test(flag))
    throw new UsageError(`prefer export: --adapter ${flag}: expected an adapter version (e.g. v3) or "base"`);
  const version = Number(flag.replace(/^v/, ''));
  const adapter = store.adapters().find((a) => a.version === version);
  if (!adapter)
    throw new UsageError(`prefer export: --adapter ${flag}: no such adapter version (try prefer stats)`);
  return adapter.id;
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'export preference pairs as JSONL for TRL or OpenAI',
  usage: [
    `prefer export --db DB --format ${FORMAT_NAMES.join('|')} --out FILE [filters] [--include-ties] [--private] [--force] [--json]`,
    '',
    'filters (each may repeat or take a comma list):',
    '  --source S     human, implicit, imported, or a labeler name (parse, compile, test, metric)',
    '  --language L   VS Code language id, e.g. typescript',
    '  --since DATE   created at or after (YYYY-MM-DD or ISO timestamp)',
    '  --until DATE   created before',
    '  --adapter V    pairs sampled with adapter version V, or "base"',
    '  --include-disagreements   also labeler pairs that contradict a human judgment',
    '  --include-ties  also write ties and both-bad judgments to FILE.ties.jsonl (they are not DPO pairs)',
    '  --private       leave out file paths and workspace names',
    '  --force         replace FILE (and FILE.ties.jsonl) when it exists',
  ].join('\n'),
  options: {
    db: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
    source: { type: 'string', multiple: true },
    language: { type: 'string', multiple: true },
    since: { type: 'string' },
    until: { type: 'string' },
    adapter: { type: 'string' },
    'include-ties': { type: 'boolean' },
    'include-disagreements': { type: 'boolean' },
    private: { type: 'boolean' },
    force: { type: 'boolean' },
  },
  run(args, out) {
    const db = requireString(args, 'db', 'export');
    const format = requireString(args, 'format', 'export');
    const file = requireString(args, 'out', 'export');
    if (!isFormatName(format))
      throw new UsageError(`prefer export: --format must be one of ${FORMAT_NAMES.join(', ')}`);
    const filter: PairFilter = {
      sources: strings(args, 'source'),
      languages: strings(args, 'language'),
      since: date(args, 'since'),
      until: date(args, 'until'),
      includeDisagreements: args.values['include-disagreements'] === true,
    };
    let store: Store;
    try {
      // Read-only: an export never changes the database, whatever it is.
      store = openStore(db, { readonly: true });
    } catch (e) {
      throw commandError('export', e);
    }
    const tty = process.stderr.isTTY === true;
    try {
      filter.adapter = adapterFilter(store, args.values.adapter as string | undefined);
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
