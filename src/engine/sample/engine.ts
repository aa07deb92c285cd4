/**
 * A local model ready to sample: checkpoint loaded, inference graph compiled (or found in the on-disk cache),
 * ONNX Runtime session open on the chosen device. The weights live once, in the memory-mapped external-data
 * file of the compiled model; the checkpoint's own tensors are dropped after compiling.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { withAdapter } from '../hf/adapter.ts';
import { loadCheckpoint } from '../hf/checkpoint.ts';
import { contextLength } from '../hf/config.ts';
import type { GenerationDefaults, ModelConfig } from '../hf/types.ts';
import type { CheckpointTokenizer, FimTokens } from '../hf/tokenizer.ts';
import { compileInference } from '../runtime/compile.ts';
import { WEIGHT_STORAGES, type WeightStorage } from '../models/weights.ts';
import type { Target } from '../graph/lower.ts';
import { type Device, chooseProvider } from '../runtime/providers.ts';
import { KvDecoder, openSession } from '../runtime/session.ts';
import { TokenTexts } from './healing.ts';
import { DEFAULT_BUDGET, type PromptBudget, buildPrompt } from './prompt.ts';
import { type SampleCallbacks, type SampleOptions, type SampleResult, sampleCandidates, validateSampleOptions } from './sampler.ts';

export interface EngineOptions {
  modelDir: string;
  /** A LoRA adapter in PEFT format, merged into the base weights at load. */
  adapterDir?: string;
  device?: Device;
  threads?: number;
  /** compiled-model cache; default $XDG_CACHE_HOME/prefer/compiled or ~/.cache/prefer/compiled */
  cacheDir?: string;
  /** How the linears' weights are stored; 'auto' picks per device (AUTO_WEIGHTS). Default fp32. */
  weights?: WeightChoice;
}

/** A weight storage, or 'auto': the CLI's --weights and the setting prefer.weights. */
export type WeightChoice = WeightStorage | 'auto';
export const WEIGHT_CHOICES: readonly WeightChoice[] = ['auto', ...WEIGHT_STORAGES];
export const isWeightChoice = (s: string): s is WeightChoice => (WEIGHT_CHOICES as readonly string[]).includes(s);

/**
 * What 'auto' stores per device (README "Weight storage" has the numbers): on CPU int8 decodes 2.6× faster than
 * fp32 at +0.02 % loss (int4: 1.5× more, but +2.4 %); GPUs run fp16 (no GPU was measured here).
 */
export const AUTO_WEIGHTS: Record<Device, WeightStorage> = { cpu: 'int8', webgpu: 'fp16', cuda: 'fp16' };

export const weightStorageFor = (choice: WeightChoice, device: Device): WeightStorage => (choice === 'auto' ? AUTO_WEIGHTS[device] : choice);

export interface EngineStartup {
  compiled: boolean;
  compile_ms: number;
  session_ms: number;
  total_ms: number;
  device: Device;
  /** What the graph was lowered for: always the device's own (cuda runs the cpu lowering). */
  target: Target;
  fallback: string | null;
  /** How the compiled graph stores the linears' weights. */
  weights: WeightStorage;
}

const loweringTarget = (device: Device): Target => (device === 'webgpu' ? 'webgpu' : 'cpu');

export interface CompletionRequest extends Partial<SampleOptions> {
  prefix: string;
  suffix?: string;
  budget?: PromptBudget;
  /**
   * token healing at the cursor: the prefix's last token is regenerated, its text not returned. Default: on for a
   * prefix-only prompt, off for a fill-in-the-middle one — FIM training cuts text at characters and tokenizes the
   * parts on their own, so a FIM model knows a prefix that ends mid-token (the default model's statement
   * completions parse about half as often healed: MODEL_CARD.md).
   */
  heal?: boolean;
}

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'prefer', 'compiled');
}

export class Engine {
  readonly config: ModelConfig;
  readonly tokenizer: CheckpointTokenizer;
  readonly generation: GenerationDefaults;
  readonly startup: EngineStartup;
  private readonly decoder: KvDecoder;
  private healingTexts: TokenTexts | null = null;

  private constructor(config: ModelConfig, tokenizer: CheckpointTokenizer, generation: GenerationDefaults, decoder: KvDecoder, startup: EngineStartup) {
    this.config = config;
    this.tokenizer = tokenizer;
    this.generation = generation;
    this.decoder = decoder;
    this.startup = startup;
  }

  static async open(options: EngineOptions): Promise<Engine> {
    const started = performance.now();
    const base = await loadCheckpoint(options.modelDir);
    const checkpoint = options.adapterDir ? await withAdapter(base, options.adapterDir) : base;
    const cacheDir = options.cacheDir ?? defaultCacheDir();
    const settings = { device: options.device ?? 'cpu', threads: options.threads ?? 0 };
    const choice = options.weights ?? 'fp32';
    const device = chooseProvider(settings.device).device;
    const target = loweringTarget(device);
    let weights = weightStorageFor(choice, device);
    let compiled = compileInference(checkpoint, cacheDir, { dtype: 'float32', target, weights });
    let opened = await openSession(compiled.path, settings);
    let compileMs = compiled.compileMs;
    if (loweringTarget(opened.device) !== target) {
      // the device failed to start its session: the fallback runs a graph lowered for itself, not for the device
      await opened.session.release();
      const fallback = opened.fallback;
      weights = weightStorageFor(choice, opened.device);
      compiled = compileInference(checkpoint, cacheDir, { dtype: 'float32', target: loweringTarget(opened.device), weights });
      compileMs += compiled.compileMs;
      opened = { ...(await openSession(compiled.path, { ...settings, device: opened.device })), fallback };
    }
    const startup: EngineStartup = {
      compiled: compiled.compiled,
      compile_ms: compileMs,
      session_ms: opened.createMs,
      total_ms: performance.now() - started,
      device: opened.device,
      target: loweringTarget(opened.device),
      fallback: opened.fallback,
      weights,
    };
    return new Engine(checkpoint.config, checkpoint.tokenizer, checkpoint.generation, new KvDecoder(opened.session, checkpoint.config), startup);
  }

  /** Sampling options with the checkpoint's generation defaults filled in. */
  resolveOptions(request: Partial<SampleOptions>): SampleOptions {
    const g = this.generation;
    return {
      n: request.n ?? 4,
      maxTokens: request.maxTokens ?? g.maxNewTokens ?? 64,
      temperature: request.temperature ?? g.temperature ?? 0.9,
      topK: request.topK ?? g.topK ?? 0,
      topP: request.topP ?? g.topP ?? 1,
      minP: request.minP ?? g.minP ?? 0,
      seed: request.seed ?? Math.floor(Math.random() * 2 ** 31),
      stopStrings: request.stopStrings ?? [],
      stopTokens: request.stopTokens ?? g.eosTokenIds ?? this.tokenizer.eosTokenIds,
      repetitionPenalty: request.repetitionPenalty ?? g.repetitionPenalty ?? 1,
    };
  }

  async complete(request: CompletionRequest, callbacks: SampleCallbacks = {}): Promise<SampleResult> {
    const options = this.resolveOptions(request);
    validateSampleOptions(options);
    const budget = request.budget ?? DEFAULT_BUDGET;
    const context = contextLength(this.config);
    // The prompt and the completion share the context: the completion reserves at most half of it, so a large
    // max tokens never crowds the prompt out; a short prompt leaves the completion the rest.
    const room = context - Math.min(options.maxTokens, Math.floor(context / 2));
    const stopTokens = completionStopTokens(options.stopTokens, this.tokenizer.fim);
    const fimPrompt = (request.suffix ?? '').length > 0 && this.tokenizer.fim !== null;
    const healing = (request.heal ?? !fimPrompt) ? { texts: this.tokenTexts(), banned: stopTokens } : undefined;
    const prompt = buildPrompt(this.tokenizer, request.prefix, request.suffix ?? '', { ...budget, maxTokens: Math.min(budget.maxTokens, room) }, healing);
    const maxTokens = Math.max(1, Math.min(options.maxTokens, context - prompt.ids.length));
    return sampleCandidates(this.decoder, this.tokenizer, prompt.ids, { ...options, maxTokens, stopTokens }, callbacks, prompt.healing);
  }

  /** What each token adds to a text, for token healing: built on first use (~0.5 s for a 150k vocabulary). */
  tokenTexts(): TokenTexts {
    this.healingTexts ??= TokenTexts.of(this.tokenizer);
    return this.healingTexts;
  }

  async close(): Promise<void> {
    await this.decoder.session.release();
  }
}

/**
 * The tokens that end a completion: the requested ones, and with a FIM model its end-of-middle token and its
 * prefix / suffix / middle markers (a model that writes a marker has left the middle; its text is never code).
 */
export function completionStopTokens(requested: readonly number[], fim: FimTokens | null): number[] {
  const stop = new Set(requested);
  if (fim) for (const t of [fim.end, fim.prefix, fim.suffix, fim.middle]) if (t) stop.add(t.id);
  return [...stop];
}
