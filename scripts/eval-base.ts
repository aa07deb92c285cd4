/**
 * Evaluates a pretrained default model against the same architecture at random init:
 *   - held-out loss (nats/token) over fixed windows of the held-out split's tokens;
 *   - parse rate: at random statement boundaries of held-out files (found with the TypeScript AST), the
 *     model completes up to 48 tokens through the sampler (FIM prompt: prefix before the boundary, suffix from
 *     it); a completion counts when it is not blank and the file with it inserted still parses. Reported
 *     twice: the raw 48 tokens, and cut after their last complete line when the model did not stop by itself
 *     (what an editor inserting whole lines would do).
 *
 *   npm run eval:base -- --model .cache/pretrain/tiny/best [--samples 100] [--temperature 0] [--repetition-penalty R]
 *                           [--weights fp32|fp16|int8|int4] [--out FILE]   (the penalty defaults to the model's generation_config.json)
 * --weights samples through a graph of that weight storage and adds `heldout_inference` to the trained model's
 * report: the held-out loss through the compiled inference graph (the sampler's path) in that storage.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadCheckpoint } from '../src/engine/hf/checkpoint.ts';
import { Engine } from '../src/engine/sample/engine.ts';
import { type Batch, type TokenCorpus, evaluationBatches, mulberry32, readTokenCorpus } from '../src/pretrain/batches.ts';
import { saveModel } from '../src/pretrain/checkpointFiles.ts';
import { initialWeights } from '../src/pretrain/modelShape.ts';
import { StepSession } from '../src/pretrain/stepSession.ts';
import type { Checkpoint, ModelConfig, WeightSource } from '../src/engine/hf/types.ts';
import { WEIGHT_STORAGES, type WeightStorage } from '../src/engine/models/weights.ts';
import { compileInference } from '../src/engine/runtime/compile.ts';
import { KvDecoder, openSession } from '../src/engine/runtime/session.ts';
import { parseLabeler } from '../src/label/parse.ts';
import { statementSpans } from './corpus/statement-fim.ts';
import { type CorpusDocument, readDocuments } from './corpus/train-tokenizer.ts';
import { fimIdsOf } from './train-base.ts';

export const COMPLETION_TOKENS = 48;
const PROMPT_TOKENS = 200;

const LANGUAGE_BY_EXTENSION: Record<string, string> = { ts: 'typescript', mts: 'typescript', cts: 'typescript', tsx: 'typescriptreact', js: 'javascript', mjs: 'javascript', cjs: 'javascript', jsx: 'javascriptreact' };

export interface Boundary {
  file: string;
  language: string;
  prefix: string;
  suffix: string;
}

const labeler = parseLabeler();
export async function parses(language: string, prefix: string, suffix: string, completion: string): Promise<boolean> {
  return (await labeler.score({ language, filePath: null, prefix, suffix }, completion))?.score === 0;
}

/** Start offsets of the statements in statement lists (file, block, module, case clause) of a parsed file. */
export function statementStarts(fileName: string, text: string): number[] {
  return [...new Set((statementSpans(fileName, text) ?? []).map((s) => s.start))];
}

/** `count` boundaries drawn with `seed`: a random parseable held-out file, then a random statement in it. */
export async function sampleBoundaries(documents: readonly CorpusDocument[], count: number, seed: number): Promise<Boundary[]> {
  const random = mulberry32(seed);
  const usable = documents.filter((d) => d.text.length < 100_000 && LANGUAGE_BY_EXTENSION[d.file.split('.').pop()!] !== undefined && !d.file.endsWith('.d.ts'));
  const out: Boundary[] = [];
  for (let tries = 0; out.length < count && tries < count * 20; tries++) {
    const doc = usable[Math.floor(random() * usable.length)]!;
    const language = LANGUAGE_BY_EXTENSION[doc.file.split('.').pop()!]!;
    if (!(await parses(language, doc.text, '', ''))) continue;
    const starts = statementStarts(doc.file, doc.text);
    if (starts.length === 0) continue;
    const at = starts[Math.floor(random() * starts.length)]!;
    out.push({ file: doc.file, language, prefix: doc.text.slice(0, at), suffix: doc.text.slice(at) });
  }
  return out;
}

/** Held-out loss through the compiled inference graph in a weight storage: the windows' rows decoded token by token, teacher-forced. */
export async function inferenceLoss(checkpoint: Checkpoint, weights: WeightStorage, windows: readonly Batch[], seq: number, cacheDir: string): Promise<number> {
  const compiled = compileInference(checkpoint, cacheDir, { dtype: 'float32', target: 'cpu', weights });
  const { session } = await openSession(compiled.path, { device: 'cpu' });
  const decoder = new KvDecoder(session, checkpoint.config);
  const V = checkpoint.config.vocabSize;
  let sum = 0;
  let count = 0;
  for (const b of windows) {
    const rows = b.inputIds.length / seq;
    decoder.reset(rows, seq);
    for (let t = 0; t < seq; t++) {
      const logits = await decoder.step({ tokens: Array.from({ length: rows }, (_, r) => [Number(b.inputIds[r * seq + t])]), positions: Array.from({ length: rows }, () => [t]) });
      for (let r = 0; r < rows; r++) {
        const row = logits.subarray(r * V, (r + 1) * V);
        let max = -Infinity;
        for (const v of row) max = Math.max(max, v);
        let total = 0;
        for (const v of row) total += Math.exp(v - max);
        sum += Math.log(total) + max - row[Number(b.targets[r * seq + t])]!;
        count++;
      }
    }
  }
  await session.release();
  return sum / count;
}

export async function heldoutLoss(config: ModelConfig, weights: WeightSource, heldout: TokenCorpus, workDir: string, batches: number): Promise<{ loss: number; tokens: number }> {
  const [batch, seq] = [8, 256];
  const session = await StepSession.open(config, weights, { batch, seq, withGradients: false }, workDir);
  const values = new Map(session.weights.map((w) => [w.name, w.initial]));
  const windows = evaluationBatches(heldout, batch, seq, batches);
  let sum = 0;
  for (const b of windows) sum += (await session.run(b, values)).loss;
  await session.release();
  return { loss: sum / windows.length, tokens: windows.length * batch * seq };
}

export interface ParseResult {
  samples: number;
  parsed: number;
  blank: number;
  rate: number;
  /** completions that ended with <|endoftext|> within the budget */
  stopped: number;
  /** cut after the last complete line (unless stopped): how many parse, and the rate */
  parsedWholeLines: number;
  rateWholeLines: number;
  examples: { file: string; completion: string; parses: boolean }[];
}

export async function parseRate(modelDir: string, boundaries: readonly Boundary[], temperature: number, cacheRoot: string, repetitionPenalty?: number, weights: WeightStorage = 'fp32'): Promise<ParseResult> {
  // the compiled-model cache is keyed by config and safetensors headers, not weight values: two checkpoints of one
  // architecture would share an entry, so each set of weights gets its own cache folder
  const weightsHash = createHash('sha256').update(readFileSync(join(modelDir, 'model.safetensors'))).digest('hex').slice(0, 16);
  const engine = await Engine.open({ modelDir, cacheDir: join(cacheRoot, weightsHash), weights });
  let parsed = 0;
  let blank = 0;
  let stopped = 0;
  let parsedWholeLines = 0;
  const examples: ParseResult['examples'] = [];
  try {
    for (const [i, b] of boundaries.entries()) {
      const result = await engine.complete({ prefix: b.prefix, suffix: b.suffix, n: 1, maxTokens: COMPLETION_TOKENS, temperature, seed: 1000 + i, budget: { maxTokens: PROMPT_TOKENS, suffixShare: 0.25 }, ...(repetitionPenalty !== undefined ? { repetitionPenalty } : {}) });
      const candidate = result.candidates[0]!;
      const completion = candidate.text;
      const ok = completion.trim().length > 0 && (await parses(b.language, b.prefix, b.suffix, completion));
      if (completion.trim().length === 0) blank++;
      if (ok) parsed++;
      if (candidate.finish === 'stop') stopped++;
      const lines = candidate.finish === 'stop' ? completion : completion.slice(0, completion.lastIndexOf('\n') + 1);
      if (lines.trim().length > 0 && (await parses(b.language, b.prefix, b.suffix, lines))) parsedWholeLines++;
      if (examples.length < 12) examples.push({ file: b.file, completion, parses: ok });
    }
  } finally {
    await engine.close();
  }
  const n = boundaries.length;
  return { samples: n, parsed, blank, rate: parsed / n, stopped, parsedWholeLines, rateWholeLines: parsedWholeLines / n, examples };
}

async function main(): Promise<void> {
  const repoRoot = resolve(import.meta.dirname, '..');
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      corpus: { type: 'string', default: join(repoRoot, '.cache/corpus') },
      samples: { type: 'string', default: '100' },
      temperature: { type: 'string', default: '0' },
      'repetition-penalty': { type: 'string' },
      'loss-batches': { type: 'string', default: '32' },
      seed: { type: 'string', default: '2024' },
      out: { type: 'string' },
      weights: { type: 'string' },
    },
  });
  const storage = (values.weights ?? 'fp32') as WeightStorage;
  if (!WEIGHT_STORAGES.includes(storage)) throw new Error(`--weights must be ${WEIGHT_STORAGES.join(', ')}`);
  if (!values.model) throw new Error('--model DIR is required (a checkpoint folder written by train-base)');
  const modelDir = resolve(values.model);
  const corpusDir = resolve(values.corpus!);
  const work = join(repoRoot, '.cache/eval');
  const checkpoint = await loadCheckpoint(modelDir);
  const fim = await fimIdsOf(modelDir);
  const heldout = readTokenCorpus(join(corpusDir, 'heldout.u16'), fim.endOfText);
  // the same architecture at random init, saved like the trained one so both go through the same sampler path
  const randomDir = join(work, 'random-init');
  const random = initialWeights(checkpoint.config, 1234);
  saveModel(randomDir, {
    config: checkpoint.config,
    tokenizerDir: modelDir,
    weights: random.names().map((name) => ({ name, shape: random.get(name).shape, transposed: false, value: random.get(name).data })),
  });
  const boundaries = await sampleBoundaries([...readDocuments(join(corpusDir, 'heldout.jsonl'))], Number(values.samples), Number(values.seed));
  const temperature = Number(values.temperature);
  const penalty = values['repetition-penalty'] === undefined ? undefined : Number(values['repetition-penalty']);
  const batches = Number(values['loss-batches']);
  const report = {
    model: modelDir,
    completion_tokens: COMPLETION_TOKENS,
    prompt_tokens: PROMPT_TOKENS,
    temperature,
    repetition_penalty: penalty ?? 'generation_config',
    weights: storage,
    trained: {
      heldout: await heldoutLoss(checkpoint.config, checkpoint.weights, heldout, join(work, 'graphs'), batches),
      ...(values.weights !== undefined ? { heldout_inference: { loss: await inferenceLoss(checkpoint, storage, evaluationBatches(heldout, 8, 256, batches), 256, join(work, 'compiled-loss')) } } : {}),
      parse: await parseRate(modelDir, boundaries, temperature, join(work, 'compiled'), penalty, storage),
    },
    random_init: { heldout: await heldoutLoss(checkpoint.config, random, heldout, join(work, 'graphs'), batches), parse: await parseRate(randomDir, boundaries, temperature, join(work, 'compiled'), penalty) },
  };
  const text = JSON.stringify(report, null, 2);
  if (values.out) writeFileSync(resolve(values.out), `${text}\n`);
  console.log(text);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(`eval-base: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
