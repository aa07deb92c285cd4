/** The flags that pick stored pairs (`prefer export`, `prefer score`): parsed and checked once, here. */
import type { PairFilter, Store } from '../store/store.ts';
import { type Command, type ParsedArgs, UsageError } from './command.ts';

/** The filter flags' parser options; `adapterFlag` names the flag that picks pairs by adapter version. */
export function pairFilterOptions(adapterFlag: string): Command['options'] {
  return {
    source: { type: 'string', multiple: true },
    language: { type: 'string', multiple: true },
    since: { type: 'string' },
    until: { type: 'string' },
    [adapterFlag]: { type: 'string' },
    'include-disagreements': { type: 'boolean' },
  };
}

/** Usage lines of the filter flags, in the order the options list them. */
export function pairFilterUsage(adapterFlag: string): string[] {
  return [
    'filters (each may repeat or take a comma list):',
    '  --source S     human, implicit, imported, or a labeler name (parse, compile, test, metric)',
    '  --language L   VS Code language id, e.g. typescript',
    '  --since DATE   created at or after (YYYY-MM-DD or ISO timestamp)',
    '  --until DATE   created before',
    `  ${`--${adapterFlag} V`.padEnd(14)} pairs sampled with adapter version V, or "base"`,
    '  --include-disagreements   also labeler pairs that contradict a human judgment',
  ];
}

function strings(args: ParsedArgs, command: string, flag: string): string[] | undefined {
  const v = args.values[flag];
  if (v === undefined) return undefined;
  const values = (Array.isArray(v) ? v : [v]).map(String).flatMap((s) => s.split(','));
  if (values.some((s) => s.trim() === ''))
    throw new UsageError(`prefer ${command}: --${flag}: empty value (give a name, or a comma list of names)`);
  return values;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?)?$/;

function date(args: ParsedArgs, command: string, flag: 'since' | 'until'): string | undefined {
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
    throw new UsageError(`prefer ${command}: --${flag} ${v}: not ISO 8601 (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)`);
  return v;
}

/** The filter the flags give, but for the adapter version (it needs the store: `adapterVersionFilter`). */
export function pairFilterFlags(args: ParsedArgs, command: string): PairFilter {
  return {
    sources: strings(args, command, 'source'),
    languages: strings(args, command, 'language'),
    since: date(args, command, 'since'),
    until: date(args, command, 'until'),
    includeDisagreements: args.values['include-disagreements'] === true,
  };
}

/** The adapter a version flag (`v3`, `3` or `base`) names, as the store knows it. */
export function adapterVersionFilter(store: Store, args: ParsedArgs, command: string, adapterFlag: string): PairFilter['adapter'] {
  const flag = args.values[adapterFlag] as string | undefined;
  if (flag === undefined) return undefined;
  if (flag === 'base') return 'base';
  if (!/^v?\d+$/.test(flag))
    throw new UsageError(`prefer ${command}: --${adapterFlag} ${flag}: expected an adapter version (e.g. v3) or "base"`);
  const version = Number(flag.replace(/^v/, ''));
  const adapter = store.adapters().find((a) => a.version === version);
  if (!adapter)
    throw new UsageError(`prefer ${command}: --${adapterFlag} ${flag}: no such adapter version (try prefer stats)`);
  return adapter.id;
}
