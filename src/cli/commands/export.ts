import { writeBundle } from '../../io/bundle.ts';
import { bundleTraining } from '../../io/bundleFiles.ts';
import { exportKto, KTO_FORMAT } from '../../io/exportKto.ts';
import { exportPairs } from '../../io/exportPairs.ts';
import { FORMAT_NAMES, isFormatName } from '../../io/formats.ts';
import { openStore, type PairFilter, type Store } from '../../store/store.ts';
import { type Command, commandError, type ParsedArgs, UsageError, requireString } from '../command.ts';
import {
  adapterVersionFilter,
  pairFilterFlags,
  pairFilterOptions,
  pairFilterUsage,
} from '../pairFilterFlags.ts';
import { TRAINING_FLAG_OPTIONS, trainingFlags } from './train.ts';

const EXPORT_FORMATS = [...FORMAT_NAMES, KTO_FORMAT];
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export const exportCommand: Command = {
  name: 'export',
  summary: 'export preference pairs as JSONL for TRL or OpenAI, or a training bundle for TRL on a cluster',
  usage: [
    `prefer export --db DB --format ${EXPORT_FORMATS.join('|')} --out FILE [filters] [--include-ties] [--private] [--force] [--json]`,
    "prefer export --db DB --bundle DIR [filters] [prefer train's round options: --loss, --beta, --lr, --epochs, --lora-r, …]",
    '',
    ...pairFilterUsage('adapter'),
    '  --include-ties  also write ties and both-bad judgments to FILE.ties.jsonl (they are not DPO pairs)',
    '  --private       leave out file paths and workspace names',
    '  --force         replace FILE (and FILE.ties.jsonl) when it exists',
    `  --format ${KTO_FORMAT}  TRL's unpaired format (prompt, completion, label): completions judged on their own, and`,
    '                  each pair as its chosen (true) and rejected (false) completion',
    '  --bundle DIR    a new folder with pairs.jsonl, unpaired.jsonl, train.py (TRL DPOTrainer, or KTOTrainer with',
    '                  --loss kto, and a PEFT LoRA config from the round options), accelerate configs and a README',
  ].join('\n'),
  options: {
    db: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
    bundle: { type: 'string' },
    ...pairFilterOptions('adapter'),
    'include-ties': { type: 'boolean' },
    private: { type: 'boolean' },
    force: { type: 'boolean' },
    ...TRAINING_FLAG_OPTIONS,
  },
  run(args, out) {
    const db = requireString(args, 'db', 'export');
    const bundle = args.values.bundle as string | undefined;
    if (bundle === undefined) {
      const given = Object.keys(TRAINING_FLAG_OPTIONS).find((flag) => args.values[flag] !== undefined);
      if (given)
        throw new UsageError(`prefer export: --${given} is a round option: it goes with --bundle DIR`);
    } else {
      for (const flag of ['format', 'out', 'include-ties', 'force'])
        if (args.values[flag] !== undefined)
          throw new UsageError(`prefer export: --${flag} does not go with --bundle`);
    }
    const format = bundle === undefined ? requireString(args, 'format', 'export') : undefined;
    const file = bundle === undefined ? requireString(args, 'out', 'export') : undefined;
    if (format !== undefined && !isFormatName(format) && format !== KTO_FORMAT)
      throw new UsageError(`prefer export: --format must be one of ${EXPORT_FORMATS.join(', ')}`);
    const training = bundle === undefined ? undefined : checkedTraining(args);
    const filter: PairFilter = pairFilterFlags(args, 'export');
    let store: Store;
    try {
      // Read-only: an export never changes the database, whatever it is.
      store = openStore(db, { readonly: true });
    } catch (e) {
      throw commandError('export', e);
    }
    try {
      filter.adapter = adapterVersionFilter(store, args, 'export', 'adapter');
      if (bundle !== undefined) {
        const result = writeBundle(store, bundle, filter, training!);
        out.result(
          result,
          `wrote a ${result.trainer.toUpperCase()} bundle to ${bundle}: ${plural(result.pairs, 'pair')}, ${plural(result.unpaired, 'unpaired line')}; see ${bundle}/README.md`,
        );
        return 0;
      }
      if (format === KTO_FORMAT) {
        const counts = exportKto(store, file!, {
          filter,
          force: args.values.force === true,
          private: args.values.private === true,
        });
        out.result(
          { ...counts, out: file },
          `exported ${counts.exported} lines to ${file} (${counts.feedback} judged completions, ${counts.pairs} pairs split in two)`,
        );
        return 0;
      }
      return exportPairFile(store, file!, format as (typeof FORMAT_NAMES)[number], filter, args, out);
    } catch (e) {
      throw commandError('export', e);
    } finally {
      store.close();
    }
  },
};

function checkedTraining(args: ParsedArgs): ReturnType<typeof bundleTraining> {
  try {
    return bundleTraining(trainingFlags(args, 'export'));
  } catch (e) {
    throw commandError('export', e);
  }
}

function exportPairFile(
  store: Store,
  file: string,
  format: (typeof FORMAT_NAMES)[number],
  filter: PairFilter,
  args: ParsedArgs,
  out: Parameters<Command['run']>[1],
): number {
  const tty = process.stderr.isTTY === true;
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
}
