import { existsSync } from 'node:fs';
import { exampleUnit } from '../../dpo/losses.ts';
import type { StepMetrics } from '../../dpo/trainer.ts';
import { clampThreads } from '../../engine/runtime/threads.ts';
import { isInputError } from '../../inputError.ts';
import { TRAINING_OPTIONS, type TrainingOption, type TrainingValues, defaultValues } from '../../rounds/options.ts';
import { describePhase, heldOutAccuracy, unreliableMetricsWarning } from '../../rounds/phases.ts';
import { commandLineTraining } from '../../rounds/plan.ts';
import { runRound } from '../../rounds/round.ts';
import { type Command, type ParsedArgs, UsageError, numberFlag, requireString } from '../command.ts';
import { MODEL_FLAG } from '../modelFlag.ts';
import { pairsFromFile } from '../pairsFile.ts';

const OPTIONS = Object.entries(TRAINING_OPTIONS) as [keyof TrainingValues, TrainingOption][];

/** How a flag is written in the usage text: `--beta B`, `--loss sigmoid|robust|…`, `--rslora`. */
function flagSyntax(flag: string, option: TrainingOption): string {
  if (option.kind === 'switch') return `--${flag}`;
  if (option.kind === 'choice') return `--${flag} ${option.choices.join('|')}`;
  return `--${flag} ${option.placeholder}`;
}

function flagHelp(option: TrainingOption): string {
  const fallback = option.kind === 'number' || option.kind === 'choice' ? option.default : undefined;
  if (fallback === undefined) return option.help;
  const shown = typeof fallback === 'number' && fallback !== 0 && Math.abs(fallback) < 1e-3 ? fallback.toExponential() : fallback;
  return `${option.help} (default ${shown})`;
}

const USAGE = (() => {
  const lines = OPTIONS.map(([flag, option]) => [flagSyntax(flag, option), flagHelp(option)] as const);
  const width = Math.max(...lines.map(([syntax]) => syntax.length));
  return [
    'prefer train (--db DB | --pairs FILE.jsonl) [--model DIR|FILE.gguf] --out DIR [options] [--json]',
    '',
    ...lines.map(([syntax, help]) => `  ${syntax.padEnd(width)}  ${help}`),
    '',
    'Prints one line per step (TRL metric names), then {eval, adapter}. The adapter is saved in PEFT format into',
    'OUT, which must not exist yet (nor lie inside the model folder); a round that diverges saves nothing.',
    'State is checkpointed to OUT.checkpoint every N steps; --resume continues a killed or cancelled round.',
  ].join('\n');
})();

/** The parser options of the training flags (also `prefer export --bundle`'s). */
export const TRAINING_FLAG_OPTIONS = Object.fromEntries(
  OPTIONS.map(([flag, option]) => [flag, { type: option.kind === 'switch' ? 'boolean' : 'string' } as const]),
);

/** The training flags given, checked against the table; absent ones take its defaults. */
export function trainingFlags(args: ParsedArgs, command = 'train'): TrainingValues {
  const values: Record<string, unknown> = { ...defaultValues() };
  for (const [flag, option] of OPTIONS) {
    const given = args.values[flag];
    if (given === undefined) continue;
    if (option.kind === 'number') values[flag] = numberFlag(args, command, flag, option);
    else if (option.kind === 'switch') values[flag] = given === true;
    else if (option.kind === 'list') values[flag] = (given as string).split(',').map((s) => s.trim()).filter(Boolean);
    else if ((option.choices as readonly unknown[]).includes(given)) values[flag] = given;
    else throw new UsageError(`prefer ${command}: --${flag} must be ${option.what}`);
  }
  return values as unknown as TrainingValues;
}

export const train: Command = {
  name: 'train',
  summary: 'run a LoRA-DPO round on the stored (or given) pairs and save a PEFT adapter',
  usage: USAGE,
  options: {
    db: { type: 'string' },
    pairs: { type: 'string' },
    model: MODEL_FLAG,
    out: { type: 'string' },
    ...TRAINING_FLAG_OPTIONS,
  },
  async run(args, out) {
    const modelDir = requireString(args, 'model', 'train');
    const outDir = requireString(args, 'out', 'train');
    const db = args.values.db as string | undefined;
    const pairsFile = args.values.pairs as string | undefined;
    if ((db === undefined) === (pairsFile === undefined)) throw new UsageError('prefer train: give exactly one of --db DB or --pairs FILE.jsonl');
    const values = trainingFlags(args);
    const threads = clampThreads(values.threads);
    const training = commandLineTraining({ ...values, threads: threads.threads }, outDir);

    if (pairsFile === undefined && !existsSync(db!)) throw new UsageError(`prefer train: ${db}: no such database`);
    // on stderr, so --json output stays one object per line
    if (threads.note) process.stderr.write(`note: ${threads.note}\n`);
    const stepLine = (m: StepMetrics) =>
      `step ${m.step} epoch ${m.epoch.toFixed(2)}  loss ${m.loss.toFixed(4)}  margins ${m['rewards/margins'].toFixed(4)}  accuracy ${m['rewards/accuracies'].toFixed(2)}  grad_norm ${m.grad_norm.toFixed(4)}  lr ${m.learning_rate.toExponential(2)}`;
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    let result;
    try {
      result = await runRound(
        { modelDir, outDir, database: db, pairs: pairsFile === undefined ? undefined : pairsFromFile(pairsFile, 'train'), training },
        {
          signal: controller.signal,
          onStep: (m) => out.result(m, stepLine(m)),
          onPhase: out.json ? undefined : (phase) => process.stderr.write(`${describePhase(phase)}\n`),
        },
      );
    } catch (e) {
      if (isInputError(e)) throw new UsageError(`prefer train: ${(e as Error).message}`);
      throw e;
    } finally {
      process.off('SIGINT', stop);
    }
    const warning = unreliableMetricsWarning(result.trainPairs, result.evalPairs, exampleUnit(training.loss));
    const summary = { eval: result.eval, adapter: outDir, ...(result.version !== undefined ? { version: result.version } : {}), cancelled: result.cancelled, ...(warning ? { warning } : {}) };
    const heldOut = result.eval ? `; ${heldOutAccuracy(result.eval['rewards/accuracies'], result.evalPairs)}, loss ${result.eval.loss.toFixed(4)}` : '';
    out.result(summary, `${result.cancelled ? 'cancelled; ' : ''}adapter saved to ${outDir}${heldOut}${warning ? `\n${warning}` : ''}`);
    return result.cancelled ? 130 : 0;
  },
};
