import { existsSync, statSync } from 'node:fs';
import { clampThreads } from '../../engine/runtime/threads.ts';
import { WEIGHT_CHOICES, isWeightChoice } from '../../engine/sample/engine.ts';
import { TRAINING_WEIGHT_STORAGES } from '../../engine/models/weights.ts';
import { TRAINING_OPTIONS, type TrainingValues, defaultValues, trainingFrom } from '../../rounds/options.ts';
import { type ScoreResult, scorePairs } from '../../rounds/score.ts';
import { openStore, type Store } from '../../store/store.ts';
import { type Command, type ParsedArgs, UsageError, commandError, numberFlag, requireString } from '../command.ts';
import { MODEL_FLAG } from '../modelFlag.ts';
import { adapterVersionFilter, pairFilterFlags, pairFilterOptions, pairFilterUsage } from '../pairFilterFlags.ts';
import { pairsFromFile } from '../pairsFile.ts';

const USAGE = [
  `prefer score [--model DIR|FILE.gguf] [--adapter DIR] [--weights ${TRAINING_WEIGHT_STORAGES.join('|')}] (--pairs FILE.jsonl | --db DB [filters])`,
  '             [--max-length T --batch P --device cpu|webgpu --threads N] [--json]',
  '',
  "Prints each pair's summed log-probs of its chosen and rejected completion (TRL's logps/chosen, logps/rejected),",
  'tokenized and computed as a training round computes them, and their means; with --adapter, also',
  'rewards/accuracies: the share of pairs on which the adapter raised chosen over rejected against the base model.',
  'With --weights int8|int4 the base is held block-quantized as prefer train --weights holds it (int4 on the CPU only).',
  '',
  ...pairFilterUsage('adapter-version'),
].join('\n');

/** A round's flag that shapes scoring, checked as `prefer train` checks it. */
function roundFlag(args: ParsedArgs, flag: 'max-length' | 'batch' | 'threads'): number | undefined {
  return numberFlag(args, 'score', flag, TRAINING_OPTIONS[flag]);
}

/** The storage of the base weights: the scoring graph is the training graph, so it takes what `prefer train --weights` takes. */
function weightsFlag(args: ParsedArgs): TrainingValues['weights'] {
  const weights = args.values.weights ?? 'fp32';
  if (typeof weights === 'string' && (TRAINING_WEIGHT_STORAGES as readonly string[]).includes(weights)) return weights as TrainingValues['weights'];
  if (typeof weights === 'string' && isWeightChoice(weights))
    throw new UsageError(`prefer score: --weights ${weights}: scoring runs the training graph, which holds its base as ${TRAINING_WEIGHT_STORAGES.join(', ')} (as prefer train does)`);
  throw new UsageError(`prefer score: --weights must be one of ${WEIGHT_CHOICES.join(', ')}, got ${JSON.stringify(weights)}`);
}

const format = (x: number) => x.toFixed(4).padStart(12);

function table(result: ScoreResult): string {
  const { mean } = result;
  return [
    `${'pair'.padStart(6)} ${'logps/chosen'.padStart(12)} ${'logps/rejected'.padStart(14)}`,
    ...result.pairs.map((p, i) => `${String(i + 1).padStart(6)} ${format(p['logps/chosen'])} ${format(p['logps/rejected']).padStart(14)}`),
    `${'mean'.padStart(6)} ${format(mean['logps/chosen'])} ${format(mean['logps/rejected']).padStart(14)}`,
    ...(mean['rewards/accuracies'] === undefined ? [] : [`the adapter raised chosen over rejected on ${Math.round(mean['rewards/accuracies'] * 100)} % of ${result.pairs.length} pairs`]),
  ].join('\n');
}

export const score: Command = {
  name: 'score',
  summary: "score pairs: the model's (or an adapter's) log-probs of each chosen and rejected completion",
  usage: USAGE,
  options: {
    model: MODEL_FLAG,
    adapter: { type: 'string' },
    weights: { type: 'string' },
    pairs: { type: 'string' },
    db: { type: 'string' },
    ...pairFilterOptions('adapter-version'),
    'max-length': { type: 'string' },
    batch: { type: 'string' },
    device: { type: 'string' },
    threads: { type: 'string' },
  },
  async run(args, out) {
    const modelDir = requireString(args, 'model', 'score');
    const db = args.values.db as string | undefined;
    const pairsFile = args.values.pairs as string | undefined;
    if ((db === undefined) === (pairsFile === undefined)) throw new UsageError('prefer score: give exactly one of --db DB or --pairs FILE.jsonl');
    const adapterDir = args.values.adapter as string | undefined;
    if (adapterDir !== undefined && !(existsSync(adapterDir) && statSync(adapterDir).isDirectory()))
      throw new UsageError(`prefer score: --adapter ${adapterDir}: no such adapter folder`);
    if (!existsSync(modelDir)) throw new UsageError(`prefer score: --model ${modelDir}: no such model`);
    const weights = weightsFlag(args);
    const device = args.values.device ?? 'cpu';
    if (device !== 'cpu' && device !== 'webgpu') throw new UsageError(`prefer score: --device must be ${TRAINING_OPTIONS.device.what}, got ${JSON.stringify(device)}`);
    const maxLength = roundFlag(args, 'max-length');
    const batch = roundFlag(args, 'batch');
    const threads = clampThreads(roundFlag(args, 'threads') ?? 0);
    if (threads.note) process.stderr.write(`note: ${threads.note}\n`);
    const filter = pairFilterFlags(args, 'score');
    const defaults = defaultValues();
    const training = trainingFrom({ ...defaults, device, weights, threads: threads.threads, 'max-length': maxLength ?? defaults['max-length'], batch: batch ?? defaults.batch });

    let store: Store | undefined;
    if (db !== undefined) {
      if (!existsSync(db)) throw new UsageError(`prefer score: --db ${db}: no such database`);
      try {
        // scoring never changes the database
        store = openStore(db, { readonly: true });
      } catch (e) {
        throw commandError('score', e);
      }
    }
    try {
      const pairs = store ? { store, filter: { ...filter, adapter: adapterVersionFilter(store, args, 'score', 'adapter-version') } } : pairsFromFile(pairsFile!, 'score');
      const none = 'store' in pairs ? store!.countPairs(pairs.filter) === 0 && `--db ${db}: no pairs pass the filters` : pairs.length === 0 && `${pairsFile}: no pairs`;
      if (none) throw new UsageError(`prefer score: ${none}`);
      const result = await scorePairs({ modelDir, adapterDir, pairs, training });
      out.result(result, table(result));
      return 0;
    } catch (e) {
      throw commandError('score', e);
    } finally {
      store?.close();
    }
  },
};
