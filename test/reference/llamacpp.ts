/**
 * llama.cpp (through node-llama-cpp, CPU build, installed in tools/llama-reference by
 * scripts/setup-reference.sh) as the independent reference for the engine: next-token logits for a prompt
 * of token ids and then for each decode step through its KV cache, in fp32 (F32 weights, F32 KV cache, no
 * flash attention) with a fixed thread count; plus decode/prompt timings for the benchmark.
 *
 *   const rows = await referenceLogits(dir, promptIds, decodeIds);
 *   // rows[0]: logits after the prompt; rows[i]: after decodeIds[i-1]; each Float32Array(vocabSize)
 */
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadCheckpoint } from '../../src/engine/hf/checkpoint.ts';
import type { Checkpoint } from '../../src/engine/hf/types.ts';
import { writeGguf, type GgufTensorType } from './gguf.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const REFERENCE_PREFIX = join(REPO_ROOT, 'tools/llama-reference');
const ENTRY = join(REFERENCE_PREFIX, 'node_modules/node-llama-cpp/dist/index.js');
const CPU_BINARY = join(REFERENCE_PREFIX, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node');
const GGUF_CACHE = join(REPO_ROOT, '.cache/reference');

/** Why the reference cannot run here, or null when it can (tests skip with this reason, visibly). */
export function referenceUnavailable(): string | null {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `llama.cpp reference is set up for linux-x64 only (this is ${process.platform}-${process.arch})`;
  if (!existsSync(ENTRY) || !existsSync(CPU_BINARY)) return 'llama.cpp reference not installed: run scripts/setup-reference.sh';
  return null;
}

export interface ReferenceOptions {
  /** llama.cpp threads; fixed so results and timings are comparable. Default 1. */
  threads?: number;
  /** Weight storage in the GGUF. Default F32 (the comparison tier); F16 only for speed anchors. */
  weightType?: GgufTensorType;
  /** Largest context the session will need per sequence; default 512. */
  contextSize?: number;
  /** Parallel sequences for batched-decode timings (`time`). Default 1. */
  sequences?: number;
  /** A GGUF of this checkpoint already written (e.g. with raw quantized blocks) to run instead of writing one. */
  modelPath?: string;
  /** A LoRA adapter GGUF applied on top of the model (llama-server --lora). */
  loraPath?: string;
}

/** Minimal shape of the node-llama-cpp API used here (its types live in the separate prefix). */
interface LlamaApi {
  getLlama(options: Record<string, unknown>): Promise<Llama>;
  readGgufFileInfo(path: string, options: { logWarnings: boolean }): Promise<GgufInfo>;
}
/** What node-llama-cpp's own GGUF parser reads back from a file (an independent check of the writer). */
export interface GgufInfo {
  version: number;
  metadata: Record<string, unknown> & { general: Record<string, unknown>; tokenizer: { ggml: Record<string, unknown> } };
  tensorInfo: { name: string; dimensions: (number | bigint)[]; ggmlType: number; offset: number | bigint }[];
}
interface Llama {
  loadModel(options: { modelPath: string; gpuLayers?: number; useMmap?: boolean }): Promise<LlamaModel>;
  dispose(): Promise<void>;
}
interface LlamaModel {
  createContext(options: Record<string, unknown>): Promise<LlamaContext>;
  dispose(): Promise<void>;
}
interface LlamaContext {
  readonly sequencesLeft: number;
  getSequence(): LlamaSequence;
  dispose(): Promise<void>;
}
type EvaluateItem = number | [number, { generateNext?: { logits?: boolean; token?: boolean; options?: Record<string, unknown> } }];
interface LlamaSequence {
  controlledEvaluate(input: EvaluateItem[]): Promise<Array<undefined | { next: { token?: number | null; logits?: Map<number, number> } }>>;
  clearHistory(): Promise<void>;
  dispose(): void;
}

let llamaPromise: Promise<Llama> | null = null;

async function llamaApi(): Promise<LlamaApi> {
  const unavailable = referenceUnavailable();
  if (unavailable) throw new Error(unavailable);
  return (await import(pathToFileURL(ENTRY).href)) as LlamaApi;
}

async function llama(): Promise<Llama> {
  // CPU only, never build or download: the prefix carries the prebuilt linux-x64 binary.
  llamaPromise ??= llamaApi().then((api) => api.getLlama({ gpu: false, build: 'never', skipDownload: true, logLevel: 'error', progressLogs: false }));
  return llamaPromise;
}

export async function readGgufInfo(path: string): Promise<GgufInfo> {
  return (await llamaApi()).readGgufFileInfo(path, { logWarnings: false });
}

/** Writes (once, cached by checkpoint hash) the GGUF of a checkpoint; returns its path. */
export async function referenceGguf(checkpoint: Checkpoint, weightType: GgufTensorType = 'F32'): Promise<string> {
  // Keyed by the writer's own source too, so editing gguf.ts never reuses a stale file.
  const writerSource = await readFile(fileURLToPath(new URL('./gguf.ts', import.meta.url)));
  const key = createHash('sha256').update(checkpoint.hash).update(writerSource).digest('hex').slice(0, 24);
  const path = join(GGUF_CACHE, `${key}-${weightType.toLowerCase()}.gguf`);
  if (existsSync(path)) return path;
  await mkdir(GGUF_CACHE, { recursive: true });
  const partial = `${path}.${process.pid}.partial`;
  try {
    await writeGguf(checkpoint, partial, { type: weightType });
    await rename(partial, path);
  } finally {
    await rm(partial, { force: true });
  }
  return path;
}

/** A llama.cpp model and context kept open across calls (the benchmark reuses one). */
export class ReferenceModel {
  readonly checkpoint: Checkpoint;
  readonly threads: number;
  private readonly model: LlamaModel;
  private readonly context: LlamaContext;
  private readonly sequences: LlamaSequence[];

  private constructor(checkpoint: Checkpoint, threads: number, model: LlamaModel, context: LlamaContext) {
    this.checkpoint = checkpoint;
    this.threads = threads;
    this.model = model;
    this.context = context;
    this.sequences = [];
    while (context.sequencesLeft > 0) this.sequences.push(context.getSequence());
  }

  private get sequence(): LlamaSequence {
    return this.sequences[0] as LlamaSequence;
  }

  static async open(checkpointOrDir: Checkpoint | string, options: ReferenceOptions = {}): Promise<ReferenceModel> {
    const checkpoint = typeof checkpointOrDir === 'string' ? await loadCheckpoint(checkpointOrDir) : checkpointOrDir;
    const threads = options.threads ?? 1;
    const sequences = options.sequences ?? 1;
    const perSequence = Math.min(checkpoint.config.maxPositions, options.contextSize ?? 512);
    const contextSize = perSequence * sequences;
    const modelPath = options.modelPath ?? (await referenceGguf(checkpoint, options.weightType ?? 'F32'));
    const model = await (await llama()).loadModel({ modelPath, gpuLayers: 0 });
    const context = await model.createContext({
      contextSize,
      batchSize: contextSize,
      sequences,
      threads: { ideal: threads, min: threads },
      flashAttention: false,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
      ...(options.loraPath ? { lora: { adapters: [{ filePath: options.loraPath }] } } : {}),
    });
    return new ReferenceModel(checkpoint, threads, model, context);
  }

  /**
   * Logits after the prompt, then after each of decodeIds fed one at a time through the KV cache.
   * With `allPrompt`, one row per prompt position instead of only the last.
   */
  async logits(promptIds: readonly number[], decodeIds: readonly number[], allPrompt = false): Promise<Float32Array[]> {
    if (promptIds.length === 0) throw new Error('reference logits: empty prompt');
    await this.sequence.clearHistory();
    const wantLogits = { generateNext: { logits: true } };
    const prompt: EvaluateItem[] = promptIds.map((id, i) => (allPrompt || i === promptIds.length - 1 ? [id, wantLogits] : id));
    const results = await this.sequence.controlledEvaluate(prompt);
    const rows: Float32Array[] = [];
    for (let i = 0; i < promptIds.length; i++) {
      if (allPrompt || i === promptIds.length - 1) rows.push(this.row(results[i]?.next.logits, `prompt position ${i}`));
    }
    for (const [step, id] of decodeIds.entries()) {
      const [result] = await this.sequence.controlledEvaluate([[id, wantLogits]]);
      rows.push(this.row(result?.next.logits, `decode step ${step}`));
    }
    return rows;
  }

  /**
   * Greedy decoding timings on every sequence at once (node-llama-cpp batches concurrent sequences into
   * one llama.cpp decode): the prompt on each sequence (ms until every first token is chosen), then
   * `steps` decode steps; tokensPerSecond counts all sequences' tokens.
   */
  async time(promptIds: readonly number[], steps: number): Promise<{ sequences: number; promptMs: number; decodeMs: number; tokensPerSecond: number }> {
    await Promise.all(this.sequences.map((sequence) => sequence.clearHistory()));
    const greedy = { generateNext: { token: true, options: { temperature: 0 } } };
    const prompt: EvaluateItem[] = promptIds.map((id, i) => (i === promptIds.length - 1 ? [id, greedy] : id));
    const started = performance.now();
    const next = await Promise.all(
      this.sequences.map(async (sequence) => (await sequence.controlledEvaluate(prompt))[promptIds.length - 1]?.next.token ?? 0),
    );
    const promptMs = performance.now() - started;
    const decodeStarted = performance.now();
    for (let step = 0; step < steps; step++) {
      await Promise.all(
        this.sequences.map(async (sequence, s) => {
          const [result] = await sequence.controlledEvaluate([[next[s] as number, greedy]]);
          next[s] = result?.next.token ?? 0;
        }),
      );
    }
    const decodeMs = performance.now() - decodeStarted;
    const n = this.sequences.length;
    return { sequences: n, promptMs, decodeMs, tokensPerSecond: (n * steps * 1000) / decodeMs };
  }

  async dispose(): Promise<void> {
    for (const sequence of this.sequences) sequence.dispose();
    await this.context.dispose();
    await this.model.dispose();
  }

  private row(logits: Map<number, number> | undefined, where: string): Float32Array {
    const vocabSize = this.checkpoint.config.vocabSize;
    if (!logits || logits.size !== vocabSize) {
      throw new Error(`llama.cpp returned ${logits?.size ?? 'no'} logits at ${where}, expected ${vocabSize}`);
    }
    const row = new Float32Array(vocabSize);
    for (const [id, value] of logits) row[id] = value;
    return row;
  }
}

/** One-shot: open, compute logits rows (after the prompt, then after each decode id), close. */
export async function referenceLogits(
  checkpointDir: string,
  promptIds: readonly number[],
  decodeIds: readonly number[],
  options: ReferenceOptions & { allPrompt?: boolean } = {},
): Promise<Float32Array[]> {
  const needed = promptIds.length + decodeIds.length;
  const model = await ReferenceModel.open(checkpointDir, { ...options, contextSize: Math.max(options.contextSize ?? 0, needed, 256) });
  try {
    return await model.logits(promptIds, decodeIds, options.allPrompt ?? false);
  } finally {
    await model.dispose();
  }
}
