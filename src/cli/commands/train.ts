import { existsSync } from 'node:fs';
import { detectFormat, decodePair } from '../../io/formats.ts';
import { readJsonlLines } from '../../io/lines.ts';
import type { PairText } from '../../dpo/examples.ts';
import { DPO_LOSS_TYPES, type DpoLossType } from '../../dpo/losses.ts';
import { ADAMW_DEFAULTS } from '../../dpo/optimizer.ts';
import { type RoundOptions, runRound } from '../../dpo/round.ts';
import type { StepMetrics } from '../../dpo/trainer.ts';
import { clampThreads } from '../../engine/runtime/threads.ts';
import { isInputError } from '../../inputError.ts';
import { type Command, type ParsedArgs, UsageError, requireString } from '../command.ts';

const USAGE = [
  'prefer train (--db DB | --pairs FILE.jsonl) --model DIR --out DIR',
  `             [--loss ${DPO_LOSS_TYPES.join('|')} --beta B --label-smoothing E --lr L --epochs E --batch P`,
  '              --lora-r R --lora-alpha A --rslora --target-modules q_proj,v_proj,… --max-length T',
  '              --warmup-ratio F --eval-split F --seed S --device cpu|webgpu --threads N --head-chunks K',
  '              --checkpoint-every N --resume] [--json]',
  '',
  'Prints one line per step (TRL metric names), then {eval, adapter}. The adapter is saved in PEFT format into',
  'OUT, which must not exist yet (nor lie inside the model folder); a round that diverges saves nothing.',
  'State is checkpointed to OUT.checkpoint every N steps (default 10); --resume continues a killed or cancelled round.',
].join('\n');

function number(args: ParsedArgs, flag: string, fallback: number, check: (n: number) => boolean, what: string): number {
  const v = args.values[flag];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || !check(n)) throw new UsageError(`prefer train: --${flag} must be ${what}, got ${JSON.stringify(v)}`);
  return n;
}

const MAX_EPOCHS = 1000;
const positiveInt = (n: number) => Number.isInteger(n) && n > 0;
/** The graphs compute in float32: a larger value becomes infinity there. */
const FLOAT32_MAX = 3.4028234663852886e38;
const positiveFloat32 = (n: number) => n > 0 && n <= FLOAT32_MAX;

/** Pairs from a TRL/OpenAI JSONL file: a bad line stops the command with its line number. */
function pairsFromFile(file: string): PairText[] {
  if (!existsSync(file)) throw new UsageError(`prefer train: ${file}: no such file`);
  const pairs: PairText[] = [];
  for (const line of readJsonlLines(file)) {
    if ('error' in line) throw new UsageError(`prefer train: ${file}:${line.line}: ${line.error}`);
    try {
      const value: unknown = JSON.parse(line.text);
      const format = detectFormat(value);
      if (!format) throw new Error('not a preference pair (expected prompt/chosen/rejected or input/preferred_output/non_preferred_output)');
      pairs.push(decodePair(format, value));
    } catch (e) {
      throw new UsageError(`prefer train: ${file}:${line.line}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return pairs;
}

export const train: Command = {
  name: 'train',
  summary: 'run a LoRA-DPO round on the stored (or given) pairs and save a PEFT adapter',
  usage: USAGE,
  options: {
    db: { type: 'string' },
    pairs: { type: 'string' },
    model: { type: 'string' },
    out: { type: 'string' },
    loss: { type: 'string' },
    beta: { type: 'string' },
    'label-smoothing': { type: 'string' },
    lr: { type: 'string' },
    epochs: { type: 'string' },
    batch: { type: 'string' },
    'lora-r': { type: 'string' },
    'lora-alpha': { type: 'string' },
    rslora: { type: 'boolean' },
    'target-modules': { type: 'string' },
    'max-length': { type: 'string' },
    'warmup-ratio': { type: 'string' },
    'eval-split': { type: 'string' },
    seed: { type: 'string' },
    device: { type: 'string' },
    threads: { type: 'string' },
    'head-chunks': { type: 'string' },
    resume: { type: 'boolean' },
    'checkpoint-every': { type: 'string' },
  },
  async run(args, out) {
    const modelDir = requireString(args, 'model', 'train');
    const outDir = requireString(args, 'out', 'train');
    const db = args.values.db as string | undefined;
    const pairsFile = args.values.pairs as string | undefined;
    if ((db === undefined) === (pairsFile === undefined)) throw new UsageError('prefer train: give exactly one of --db DB or --pairs FILE.jsonl');
    const lossType = (args.values.loss as string | undefined) ?? 'sigmoid';
    if (!DPO_LOSS_TYPES.includes(lossType as DpoLossType)) throw new UsageError(`prefer train: --loss must be one of ${DPO_LOSS_TYPES.join(', ')}`);
    const device = (args.values.device as string | undefined) ?? 'cpu';
    if (device !== 'cpu' && device !== 'webgpu') throw new UsageError('prefer train: --device must be cpu or webgpu');
    const rank = number(args, 'lora-r', 16, positiveInt, 'a positive integer');
    const targets = (args.values['target-modules'] as string | undefined)?.split(',').map((s) => s.trim()).filter(Boolean);
    const maxLength = number(args, 'max-length', 512, positiveInt, 'a positive integer');
    const threads = clampThreads(number(args, 'threads', 0, (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer'));
    const options: RoundOptions['training'] = {
      loss: { type: lossType as DpoLossType, beta: number(args, 'beta', 0.1, positiveFloat32, 'a positive number up to 3.4e38'), labelSmoothing: number(args, 'label-smoothing', 0, (n) => n >= 0 && n < 0.5, 'in [0, 0.5)') },
      lora: { rank, alpha: number(args, 'lora-alpha', 2 * rank, positiveFloat32, 'a positive number up to 3.4e38'), rsLora: args.values.rslora === true, ...(targets ? { targetModules: targets } : {}) },
      optimizer: ADAMW_DEFAULTS,
      learningRate: number(args, 'lr', 5e-5, (n) => n >= 0 && n <= FLOAT32_MAX, 'a non-negative number up to 3.4e38'),
      warmupRatio: number(args, 'warmup-ratio', 0.1, (n) => n >= 0 && n <= 1, 'in [0, 1]'),
      // the round plans every step up front: a count past this is a typo, not a run
      epochs: number(args, 'epochs', 1, (n) => positiveInt(n) && n <= MAX_EPOCHS, `an integer from 1 to ${MAX_EPOCHS}`),
      pairsPerStep: number(args, 'batch', 4, positiveInt, 'a positive integer'),
      lengthStep: Math.min(32, maxLength),
      maxLength,
      evalFraction: number(args, 'eval-split', 0.1, (n) => n >= 0 && n < 1, 'in [0, 1)'),
      seed: number(args, 'seed', 0, (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer'),
      headChunks: number(args, 'head-chunks', 8, positiveInt, 'a positive integer'),
      device,
      threads: threads.threads,
      // beside the adapter folder (not inside it, whatever slash ends --out); removed once the adapter is saved, kept after a kill or a cancel for --resume
      checkpoint: { dir: `${outDir.replace(/(.)[\\/]+$/, '$1')}.checkpoint`, every: number(args, 'checkpoint-every', 10, positiveInt, 'a positive integer'), resume: args.values.resume === true },
    };

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
        { modelDir, outDir, database: db, pairs: pairsFile === undefined ? undefined : pairsFromFile(pairsFile), training: options },
        {
          signal: controller.signal,
          onStep: (m) => out.result(m, stepLine(m)),
          onPhase: out.json ? undefined : (phase, detail) => process.stderr.write(`${phase}: ${detail}\n`),
        },
      );
    } catch (e) {
      if (isInputError(e)) throw new UsageError(`prefer train: ${(e as Error).message}`);
      throw e;
    } finally {
      process.off('SIGINT', stop);
    }
    const summary = { eval: result.eval, adapter: outDir, ...(result.version !== undefined ? { version: result.version } : {}), cancelled: result.cancelled };
    out.result(summary, `${result.cancelled ? 'cancelled; ' : ''}adapter saved to ${outDir}${result.eval ? `; held-out accuracy ${result.eval['rewards/accuracies'].toFixed(2)}, loss ${result.eval.loss.toFixed(4)}` : ''}`);
    return result.cancelled ? 130 : 0;
  },
};
