/**
 * Pretrains the default code model with Prefer's own training graphs (src/pretrain, src/train): full-parameter
 * next-token loss, AdamW, warmup + cosine, 50 % FIM examples, checkpoints every few minutes, resumable.
 *
 *   npm run train:base -- [--size tiny|small] [--out .cache/pretrain/tiny] [--resume] [--max-steps N]
 *                         [--minutes M] [--threads N] [--seed S] [--device cpu|webgpu] [--measure [--sizes a,b]]
 *                         [--init-from CHECKPOINT --peak-lr L --warmup-steps W --steps N --seq T --batch B]
 *                         (continued pretraining, e.g. at a longer context)
 *                         [--fim-rate R --line-fim-rate R --fim-max-lines N] [--examples FILE --example-rate R]
 *                         (prepared examples, e.g. statement middles from scripts/corpus/statement-fim.ts)
 *
 * Needs the corpus and tokenizer (node scripts/corpus/build-corpus.ts; node scripts/corpus/train-tokenizer.ts).
 * --measure times a few training steps of each candidate size instead of training (the size choice is by
 * tokens/s on the machine at hand). Logs JSON lines to <out>/log.jsonl and stdout.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CheckpointTokenizer } from '../src/engine/hf/tokenizer.ts';
import { PRETRAIN_ADAMW_DEFAULTS } from '../src/train/adamw.ts';
import { type FimIds, readTokenCorpus } from '../src/pretrain/batches.ts';
import { type ModelShape } from '../src/pretrain/modelShape.ts';
import { type PretrainRecipe, Pretrainer } from '../src/pretrain/trainer.ts';

const VOCAB = 4096;

/** Candidate sizes; the shipped default is "tiny" (see MODEL_CARD.md for the measurements behind it). */
export const SIZES: Record<string, { shape: ModelShape; batch: number; seq: number; steps: number; peakLr: number }> = {
  // ~1.3 M parameters: ~2 k tokens/s on two shared cores, so ~7 M tokens an hour
  tiny: { shape: { vocabSize: VOCAB, hiddenSize: 128, numLayers: 4, numHeads: 4, numKvHeads: 2, intermediateSize: 384, maxPositions: 1024 }, batch: 8, seq: 256, steps: 2400, peakLr: 3e-3 },
  // ~5.8 M parameters: for a machine with more cores
  small: { shape: { vocabSize: VOCAB, hiddenSize: 256, numLayers: 6, numHeads: 8, numKvHeads: 4, intermediateSize: 768, maxPositions: 1024 }, batch: 16, seq: 256, steps: 6000, peakLr: 2e-3 },
  // ~11 M parameters
  base: { shape: { vocabSize: VOCAB, hiddenSize: 384, numLayers: 6, numHeads: 12, numKvHeads: 6, intermediateSize: 1024, maxPositions: 1024 }, batch: 16, seq: 256, steps: 8000, peakLr: 1.5e-3 },
};

export function recipeFor(size: string, seed: number, steps?: number): PretrainRecipe {
  const s = SIZES[size];
  if (!s) throw new Error(`--size must be one of ${Object.keys(SIZES).join(', ')}, got ${size}`);
  const totalSteps = steps ?? s.steps;
  return {
    shape: s.shape,
    batch: s.batch,
    seq: s.seq,
    fimRate: 0.5,
    lineFimRate: 0.75,
    seed,
    schedule: { peakLr: s.peakLr, minLr: s.peakLr / 10, warmupSteps: Math.min(200, Math.ceil(totalSteps / 20)), totalSteps },
    adamw: PRETRAIN_ADAMW_DEFAULTS,
    headChunks: 1,
    evalEvery: 100,
    evalBatches: 8,
    checkpointEvery: 100,
  };
}

export async function fimIdsOf(tokenizerDir: string): Promise<FimIds> {
  const tokenizer = await CheckpointTokenizer.fromDir(tokenizerDir);
  const id = (text: string) => {
    const found = tokenizer.tokenId(text);
    if (found === null) throw new Error(`${join(tokenizerDir, 'tokenizer.json')}: no ${text} token`);
    return found;
  };
  const lineEnds = new Uint8Array(tokenizer.vocabSize);
  // byte-level BPE spells '\n' as 'Ċ' (U+010A)
  for (let t = 0; t < tokenizer.vocabSize; t++) if (!tokenizer.isSpecial(t) && tokenizer.tokenText(t)?.includes('\u010a')) lineEnds[t] = 1;
  return { prefix: id('<|fim_prefix|>'), suffix: id('<|fim_suffix|>'), middle: id('<|fim_middle|>'), endOfText: id('<|endoftext|>'), pad: id('<|fim_pad|>'), lineEnds };
}

async function main(): Promise<void> {
  const repoRoot = resolve(import.meta.dirname, '..');
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: 'tiny' },
      out: { type: 'string' },
      corpus: { type: 'string', default: join(repoRoot, '.cache/corpus') },
      tokenizer: { type: 'string', default: join(repoRoot, '.cache/tokenizer') },
      resume: { type: 'boolean', default: false },
      'max-steps': { type: 'string' },
      steps: { type: 'string' },
      minutes: { type: 'string' },
      threads: { type: 'string', default: '0' },
      seed: { type: 'string', default: '1234' },
      measure: { type: 'boolean', default: false },
      device: { type: 'string', default: 'cpu' },
      'init-from': { type: 'string' },
      'peak-lr': { type: 'string' },
      'warmup-steps': { type: 'string' },
      seq: { type: 'string' },
      batch: { type: 'string' },
      sizes: { type: 'string' },
      'fim-rate': { type: 'string' },
      'line-fim-rate': { type: 'string' },
      'fim-max-lines': { type: 'string' },
      examples: { type: 'string' },
      'example-rate': { type: 'string' },
    },
  });
  const size = values.size!;
  const seed = Number(values.seed);
  const threads = Number(values.threads);
  const device = values.device as 'cpu' | 'webgpu';
  if (device !== 'cpu' && device !== 'webgpu') throw new Error(`--device must be cpu or webgpu, got ${values.device}`);
  const tokenizerDir = resolve(values.tokenizer!);
  const fim = await fimIdsOf(tokenizerDir);
  const data = {
    train: readTokenCorpus(join(resolve(values.corpus!), 'train.u16'), fim.endOfText),
    heldout: readTokenCorpus(join(resolve(values.corpus!), 'heldout.u16'), fim.endOfText),
    fim,
    examples: values.examples === undefined ? undefined : readTokenCorpus(resolve(values.examples), fim.endOfText),
  };
  if (values.measure) {
    for (const candidate of values.sizes?.split(',') ?? Object.keys(SIZES)) {
      const recipe = recipeFor(candidate, seed);
      const outDir = join(repoRoot, '.cache/pretrain/measure', candidate);
      const trainer = await Pretrainer.open(recipe, { outDir, tokenizerDir }, data, { threads, device });
      const params = trainer.weights.reduce((n, w) => n + w.value.length, 0);
      const rates: number[] = [];
      for (let k = 0; k < 4; k++) rates.push((await trainer.step()).tokens_per_s);
      await trainer.close();
      const median = rates.slice(1).sort((a, b) => a - b)[1]!;
      console.log(JSON.stringify({ size: candidate, device, threads, params, batch: recipe.batch, seq: recipe.seq, tokens_per_s: Math.round(median), tokens_per_hour: Math.round(median * 3600) }));
    }
    return;
  }
  const recipe = recipeFor(size, seed, values.steps === undefined ? undefined : Number(values.steps));
  if (values['peak-lr'] !== undefined) recipe.schedule = { ...recipe.schedule, peakLr: Number(values['peak-lr']), minLr: Number(values['peak-lr']) / 10 };
  if (values['warmup-steps'] !== undefined) recipe.schedule = { ...recipe.schedule, warmupSteps: Number(values['warmup-steps']) };
  if (values.seq !== undefined) recipe.seq = Number(values.seq);
  if (values.batch !== undefined) recipe.batch = Number(values.batch);
  if (values['fim-rate'] !== undefined) recipe.fimRate = Number(values['fim-rate']);
  if (values['line-fim-rate'] !== undefined) recipe.lineFimRate = Number(values['line-fim-rate']);
  if (values['fim-max-lines'] !== undefined) recipe.fimMaxLines = Number(values['fim-max-lines']);
  if (values['example-rate'] !== undefined) {
    if (!data.examples) throw new Error('--example-rate needs --examples FILE (node scripts/corpus/statement-fim.ts writes one)');
    recipe.exampleRate = Number(values['example-rate']);
  }
  const initFrom = values['init-from'] === undefined ? undefined : resolve(values['init-from']);
  const outDir = resolve(values.out ?? join(repoRoot, '.cache/pretrain', size));
  mkdirSync(outDir, { recursive: true });
  const logPath = join(outDir, 'log.jsonl');
  const trainer = await Pretrainer.open(recipe, { outDir, tokenizerDir }, data, { resume: values.resume!, threads, device, initFrom });
  const params = trainer.weights.reduce((n, w) => n + w.value.length, 0);
  const header = { event: 'start', size, initFrom, params, resumedAtStep: trainer.state.step, trainTokens: data.train.tokens.length, heldoutTokens: data.heldout.tokens.length, recipe };
  appendFileSync(logPath, `${JSON.stringify(header)}\n`);
  console.log(JSON.stringify(header));
  if (trainer.state.step === 0) {
    const initial = { event: 'initial', heldout_loss: await trainer.heldoutLoss() };
    appendFileSync(logPath, `${JSON.stringify(initial)}\n`);
    console.log(JSON.stringify(initial));
  }
  await trainer.run({
    maxSteps: values['max-steps'] === undefined ? undefined : Number(values['max-steps']),
    deadline: values.minutes === undefined ? undefined : Date.now() + Number(values.minutes) * 60_000,
    onLog(log) {
      const line = JSON.stringify(log);
      appendFileSync(logPath, `${line}\n`);
      console.log(line);
    },
  });
  await trainer.close();
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(`train-base: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
