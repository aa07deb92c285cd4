import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { exportPairs } from '../../io/exportPairs.ts';
import { FORMAT_NAMES, isFormatName } from '../../io/formats.ts';
import { openStore, type PairFilter, type Store } from '../../store/store.ts';
import { type Command, type ParsedArgs, UsageError, requireString } from '../command.ts';

const strings = (v: ParsedArgs['values'][string]) =>
  v === undefined ? undefined : (Array.isArray(v) ? v : [v]).map(String).flatMap((s) => s.split(','));

function adapterFilter(store: Store, flag: string | undefined): PairFilter['adapter'] {
  if (flag === undefined) return undefined;
  if (flag === 'base') return 'base';
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
    `prefer export --db DB --format ${FORMAT_NAMES.join('|')} --out FILE [filters] [--include-ties] [--private] [--json]`,
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
  },
  run(args, out) {
    const db = requireString(args, 'db', 'export');
    const format = requireString(args, 'format', 'export');
    const file = requireString(args, 'out', 'export');
    if (!isFormatName(format))
      throw new UsageError(`prefer export: --format must be one of ${FORMAT_NAMES.join(', ')}`);
    if (!existsSync(db)) throw new UsageError(`prefer export: ${db}: no such database`);
    if (!existsSync(dirname(resolve(file))))
      throw new UsageError(`prefer export: ${dirname(file)}: no such folder`);
    const store = openStore(db);
    const tty = process.stderr.isTTY === true;
    try {
      const filter: PairFilter = {
        sources: strings(args.values.source),
        languages: strings(args.values.language),
        since: args.values.since as string | undefined,
        until: args.values.until as string | undefined,
        adapter: adapterFilter(store, args.values.adapter as string | undefined),
        includeDisagreements: args.values['include-disagreements'] === true,
      };
      let result;
      try {
        result = exportPairs(store, file, {
          format,
          filter,
          private: args.values.private === true,
          includeTies: args.values['include-ties'] === true,
          onProgress: tty
            ? (done, total) => process.stderr.write(`\rexporting to ${file}: ${done}/${total}`)
            : undefined,
        });
      } catch (e) {
        if ((e as Error).message.includes('not ISO 8601'))
          throw new UsageError(`prefer export: ${(e as Error).message}`);
        throw new Error(`prefer export: ${(e as Error).message}`);
      }
      if (tty) process.stderr.write('\n');
      const value: Record<string, unknown> = { exported: result.exported, out: file };
      if (result.ties) value.ties = result.ties;
      out.result(
        value,
        `exported ${result.exported} pairs to ${file}` +
          (result.ties ? `; ${result.ties.exported} ties and both-bad judgments to ${result.ties.file}` : ''),
      );
      return 0;
    } finally {
      store.close();
    }
  },
};
