import { existsSync, readFileSync } from 'node:fs';
import { contextLength } from '../../engine/hf/config.ts';
import { isDevice } from '../../engine/runtime/providers.ts';
import { clampThreads } from '../../engine/runtime/threads.ts';
import { Engine, WEIGHT_CHOICES, isWeightChoice } from '../../engine/sample/engine.ts';
import type { SampleOptions } from '../../engine/sample/sampler.ts';
import { type Command, type NumberFlag, type ParsedArgs, UsageError, numberFlag, requireString } from '../command.ts';
import { MODEL_FLAG } from '../modelFlag.ts';

const USAGE =
  'prefer sample [--model DIR|FILE.gguf] [--adapter DIR] (--prefix S [--suffix S] | --file F --line L --col C) --n N --max-tokens K\n' +
  '              [--temperature T --top-p P --top-k K --min-p P --repetition-penalty R --seed S --stop S… --device cpu|webgpu|cuda --threads T\n' +
  '               --weights auto|fp32|fp16|int8|int4 --prompt-tokens K --suffix-share F --heal on|off --cache DIR] [--json]';

/** Candidates are decoded as one batch whose KV cache grows with N; the extension asks for at most 9. */
const MAX_CANDIDATES = 64;

/** The numeric flags of sample with the values each accepts (what the sampler and the prompt builder can use). */
const RANGES: Record<string, NumberFlag> = {
  n: { integer: true, accepts: (v) => v >= 1 && v <= MAX_CANDIDATES, what: `an integer from 1 to ${MAX_CANDIDATES}` },
  'max-tokens': { integer: true, accepts: (v) => v >= 1, what: 'a positive integer' },
  temperature: { integer: false, accepts: (v) => v >= 0, what: 'a number ≥ 0' },
  'top-p': { integer: false, accepts: (v) => v > 0 && v <= 1, what: 'a number in (0, 1]' },
  'top-k': { integer: true, accepts: (v) => v >= 0, what: 'an integer ≥ 0 (0: off)' },
  'min-p': { integer: false, accepts: (v) => v >= 0 && v <= 1, what: 'a number in [0, 1]' },
  'repetition-penalty': { integer: false, accepts: (v) => v > 0, what: 'a positive number' },
  // the sampler seeds with seed >>> 0: beyond 32 bits two seeds would give the same candidates
  seed: { integer: true, accepts: (v) => v >= 0 && v <= 0xffffffff, what: 'an integer from 0 to 4294967295' },
  threads: { integer: true, accepts: (v) => v >= 0, what: 'an integer ≥ 0 (0: ONNX Runtime decides)' },
  'prompt-tokens': { integer: true, accepts: (v) => v >= 1, what: 'a positive integer' },
  'suffix-share': { integer: false, accepts: (v) => v >= 0 && v <= 1, what: 'a number in [0, 1]' },
};

/** A numeric flag checked against its range; undefined when absent. */
const ranged = (args: ParsedArgs, flag: keyof typeof RANGES): number | undefined => numberFlag(args, 'sample', flag, RANGES[flag]!);

/** Prefix and suffix around a 1-based line and column of a file (the column counts characters of that line). */
function splitFileAt(file: string, line: number, col: number): { prefix: string; suffix: string } {
  if (!existsSync(file)) throw new UsageError(`prefer sample: ${file}: no such file`);
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  if (line < 1 || line > lines.length) throw new UsageError(`prefer sample: ${file}: --line ${line} is outside 1..${lines.length}`);
  const chars = [...lines[line - 1]!];
  if (col < 1 || col > chars.length + 1) throw new UsageError(`prefer sample: ${file}:${line}: --col ${col} is outside 1..${chars.length + 1}`);
  const before = lines.slice(0, line - 1).join('\n') + (line > 1 ? '\n' : '') + chars.slice(0, col - 1).join('');
  return { prefix: before, suffix: text.slice(before.length) };
}

/** The sampling flags given, as CompletionRequest fields (absent ones take the model's generation defaults). */
function samplingFlags(args: ParsedArgs): Partial<SampleOptions> {
  const fields: [keyof typeof RANGES, keyof SampleOptions][] = [
    ['temperature', 'temperature'],
    ['top-p', 'topP'],
    ['top-k', 'topK'],
    ['min-p', 'minP'],
    ['repetition-penalty', 'repetitionPenalty'],
    ['seed', 'seed'],
  ];
  const options: Partial<Record<keyof SampleOptions, number>> = {};
  for (const [flag, field] of fields) {
    const v = ranged(args, flag);
    if (v !== undefined) options[field] = v;
  }
  return options as Partial<SampleOptions>;
}

export const sample: Command = {
  name: 'sample',
  summary: 'sample N completions from a local model at a cursor position',
  usage: USAGE,
  options: {
    model: MODEL_FLAG,
    adapter: { type: 'string' },
    prefix: { type: 'string' },
    suffix: { type: 'string' },
    file: { type: 'string' },
    line: { type: 'string' },
    col: { type: 'string' },
    n: { type: 'string' },
    'max-tokens': { type: 'string' },
    temperature: { type: 'string' },
    'top-p': { type: 'string' },
    'top-k': { type: 'string' },
    'min-p': { type: 'string' },
    'repetition-penalty': { type: 'string' },
    seed: { type: 'string' },
    stop: { type: 'string', multiple: true },
    device: { type: 'string' },
    threads: { type: 'string' },
    'prompt-tokens': { type: 'string' },
    'suffix-share': { type: 'string' },
    heal: { type: 'string' },
    cache: { type: 'string' },
    weights: { type: 'string' },
  },
  async run(args, out) {
    const modelDir = requireString(args, 'model', 'sample');
    const adapterDir = args.values.adapter;
    if (adapterDir !== undefined && (typeof adapterDir !== 'string' || !existsSync(adapterDir))) {
      throw new UsageError(`prefer sample: --adapter ${String(adapterDir)}: no such adapter directory`);
    }
    let prefix: string;
    let suffix = '';
    if (args.values.file !== undefined) {
      if (args.values.prefix !== undefined) throw new UsageError('prefer sample: give either --prefix or --file, not both');
      const line = numberFlag(args, 'sample', 'line', { integer: true, what: 'an integer' });
      const col = numberFlag(args, 'sample', 'col', { integer: true, what: 'an integer' });
      if (line === undefined || col === undefined) throw new UsageError('prefer sample: --file needs --line and --col');
      ({ prefix, suffix } = splitFileAt(requireString(args, 'file', 'sample'), line, col));
    } else {
      if (typeof args.values.prefix !== 'string') throw new UsageError('prefer sample: --prefix or --file is required');
      prefix = args.values.prefix;
      suffix = typeof args.values.suffix === 'string' ? args.values.suffix : '';
    }
    const device = typeof args.values.device === 'string' ? args.values.device : 'cpu';
    if (!isDevice(device)) throw new UsageError(`prefer sample: --device must be cpu, webgpu or cuda, got ${JSON.stringify(device)}`);
    const weights = typeof args.values.weights === 'string' ? args.values.weights : 'auto';
    if (!isWeightChoice(weights)) throw new UsageError(`prefer sample: --weights must be ${WEIGHT_CHOICES.join(', ')}, got ${JSON.stringify(weights)}`);
    if (!existsSync(modelDir)) throw new UsageError(`prefer sample: ${modelDir}: no such model directory`);
    const n = ranged(args, 'n');
    const maxTokens = ranged(args, 'max-tokens');
    if (n === undefined) throw new UsageError('prefer sample: --n is required');
    if (maxTokens === undefined) throw new UsageError('prefer sample: --max-tokens is required');
    const heal = args.values.heal;
    if (heal !== undefined && heal !== 'on' && heal !== 'off') throw new UsageError(`prefer sample: --heal must be on or off, got ${JSON.stringify(heal)}`);
    const sampling = samplingFlags(args);
    const budget = { maxTokens: ranged(args, 'prompt-tokens') ?? 2048, suffixShare: ranged(args, 'suffix-share') ?? 0.25 };
    const threads = clampThreads(ranged(args, 'threads') ?? 0);
    if (threads.note) process.stderr.write(`prefer sample: ${threads.note}\n`);

    const engine = await Engine.open({
      modelDir,
      ...(adapterDir !== undefined ? { adapterDir } : {}),
      device,
      threads: threads.threads,
      weights,
      ...(typeof args.values.cache === 'string' ? { cacheDir: args.values.cache } : {}),
    });
    try {
      if (engine.startup.fallback) process.stderr.write(`prefer sample: ${engine.startup.fallback}\n`);
      const stops = args.values.stop;
      const result = await engine.complete({
        prefix,
        suffix,
        n,
        maxTokens,
        ...sampling,
        ...(Array.isArray(stops) ? { stopStrings: stops.map(String) } : {}),
        budget,
        // without --heal the engine decides: healed prefix-only prompts, FIM prompts as typed
        ...(heal !== undefined ? { heal: heal === 'on' } : {}),
      });
      if (result.maxTokens < maxTokens) {
        const context = contextLength(engine.config);
        process.stderr.write(`prefer sample: --max-tokens ${maxTokens}: the model's context is ${context} tokens and the prompt takes ${result.promptTokens}, so candidates stop after ${result.maxTokens}\n`);
      }
      const round = (x: number) => Math.round(x * 100) / 100;
      const value = {
        prompt_tokens: result.promptTokens,
        max_tokens: result.maxTokens,
        device: engine.startup.device,
        weights: engine.startup.weights,
        candidates: result.candidates.map((c) => ({ text: c.text, tokens: c.tokens, logprob: c.logprob })),
        timing: { prefill_ms: round(result.timing.prefill_ms), first_token_ms: round(result.timing.first_token_ms), decode_tok_s: round(result.timing.decode_tok_s) },
      };
      const text = [
        ...result.candidates.map((c, i) => `── candidate ${i + 1} (${c.tokens} tokens, logprob ${c.logprob.toFixed(3)})\n${c.text}`),
        `── ${engine.startup.device}, weights ${engine.startup.weights}${weights === 'auto' ? ' (auto)' : ''}; prompt ${result.promptTokens} tokens, prefill ${value.timing.prefill_ms} ms, first token ${value.timing.first_token_ms} ms, decode ${value.timing.decode_tok_s} tok/s`,
      ].join('\n');
      out.result(value, text);
    } finally {
      await engine.close();
    }
    return 0;
  },
};
