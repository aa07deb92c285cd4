/**
 * ONNX Runtime sessions over a compiled inference model, and the KV cache that the decode loop carries
 * between steps. session.run blocks the thread it runs on: callers outside tests use the worker (worker.ts).
 */
import * as ort from 'onnxruntime-node';
import type { ModelConfig } from '../hf/types.ts';
import { MASKED } from '../models/family.ts';
import { type Device, chooseProvider } from './providers.ts';
import { disableOrtTelemetry } from './telemetry.ts';
import { firstLine } from '../../inputError.ts';

disableOrtTelemetry();

export interface SessionSettings {
  device: Device;
  /** intra-op threads; 0 lets ONNX Runtime decide */
  threads?: number;
  /** Pre-pack MatMul weights (faster decode, a second in-memory copy of the weights). */
  prepack?: boolean;
  /** The model's float type: float64 graphs skip the fusions whose kernels are float-only (x·sigmoid(x) → QuickGelu). */
  dtype?: 'float32' | 'float64';
}

export interface OpenedSession {
  session: ort.InferenceSession;
  device: Device;
  /** Why the requested device is not the one used; null when it is. */
  fallback: string | null;
  createMs: number;
}

export async function openSession(modelPath: string, settings: SessionSettings): Promise<OpenedSession> {
  const choice = chooseProvider(settings.device);
  const started = performance.now();
  const options = (device: Device): ort.InferenceSession.SessionOptions => ({
    executionProviders: [device],
    graphOptimizationLevel: settings.dtype === 'float64' ? 'basic' : 'all',
    intraOpNumThreads: settings.threads ?? 0,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    extra: { session: { disable_prepacking: settings.prepack === false ? '1' : '0' } },
  });
  try {
    const session = await ort.InferenceSession.create(modelPath, options(choice.device));
    return { session, device: choice.device, fallback: choice.fallback, createMs: performance.now() - started };
  } catch (e) {
    if (choice.device === 'cpu') throw e;
    const session = await ort.InferenceSession.create(modelPath, options('cpu'));
    const why = `${choice.device} failed to start (${firstLine(e)}); using cpu`;
    return { session, device: 'cpu', fallback: why, createMs: performance.now() - started };
  }
}

type FloatArray = Float32Array | Float64Array;

export interface StepInput {
  /** [batch][seq] token ids (left-padded rows carry any id at padded places) */
  tokens: number[][];
  /** [batch][seq] positions of the tokens in their own sequences */
  positions: number[][];
  /** [batch][seq]: false for padding, which no query attends to */
  valid?: boolean[][];
}

/**
 * Runs prefill/decode steps for a batch of sequences over a KV cache held here in preallocated slots
 * (per layer: keys [batch, kvHeads, headDim, capacity], values [batch, kvHeads, capacity, headDim]). The graph reads the cache in place and returns only the
 * new tokens' keys/values, which are written into the next free slots: a step costs no cache copy.
 */
export class KvDecoder {
  readonly session: ort.InferenceSession;
  readonly config: ModelConfig;
  readonly dtype: 'float32' | 'float64';
  private keys: FloatArray[] = [];
  private values: FloatArray[] = [];
  private capacity = 0;
  private used = 0;
  /** [batch][slot < used]: which filled slots hold real tokens (not padding) */
  private slotValid: boolean[][] = [];
  /** [batch][slot < used]: the position of the token in each slot (for sliding-window attention) */
  private slotPositions: number[][] = [];

  /** Fed on every step besides the cache: model weights when the graph takes them as inputs. */
  private readonly constantFeeds: Record<string, ort.Tensor>;

  constructor(session: ort.InferenceSession, config: ModelConfig, dtype: 'float32' | 'float64' = 'float32', constantFeeds: Record<string, ort.Tensor> = {}) {
    this.session = session;
    this.config = config;
    this.dtype = dtype;
    this.constantFeeds = constantFeeds;
    this.reset(1);
  }

  get batch(): number {
    return this.slotValid.length;
  }

  /** Slots allocated per row (attention reads all of them, filled or not). */
  get slots(): number {
    return this.capacity;
  }

  /** Tokens already in the cache (the same count for every row; padding included). */
  get pastLength(): number {
    return this.used;
  }

  /** Empties the cache for a new batch, with room for `capacity` tokens per row (it grows when needed). */
  reset(batch: number, capacity = 0): void {
    this.used = 0;
    this.slotValid = Array.from({ length: batch }, () => []);
    this.slotPositions = Array.from({ length: batch }, () => []);
    this.allocate(batch, Math.max(1, capacity));
  }

  /** Makes room for `capacity` tokens per row, keeping what is cached. */
  reserve(capacity: number): void {
    if (capacity <= this.capacity) return;
    const old = { keys: this.keys, values: this.values, capacity: this.capacity };
    this.allocate(this.batch, capacity);
    const { numKvHeads: Hkv, headDim: D } = this.config;
    // keys: one run of `used` slots per (row, head, dim); values: one run of used·D per (row, head)
    const copy = (from: FloatArray, to: FloatArray, runs: number, run: number, oldStride: number, newStride: number) => {
      for (let r = 0; r < runs; r++) to.set(from.subarray(r * oldStride, r * oldStride + run), r * newStride);
    };
    const BH = this.batch * Hkv;
    old.keys.forEach((k, i) => copy(k, this.keys[i]!, BH * D, this.used, old.capacity, this.capacity));
    old.values.forEach((v, i) => copy(v, this.values[i]!, BH, this.used * D, old.capacity * D, this.capacity * D));
  }

  /** Keeps the listed rows of the batch, in that order (repeats allowed: one prefilled prompt → N candidates). */
  select(rows: readonly number[]): void {
    const rowSize = this.config.numKvHeads * this.capacity * this.config.headDim;
    const pick = (t: FloatArray): FloatArray => {
      const out = this.alloc(rows.length * rowSize);
      rows.forEach((r, i) => out.set(t.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize));
      return out;
    };
    this.keys = this.keys.map(pick);
    this.values = this.values.map(pick);
    this.slotValid = rows.map((r) => [...this.slotValid[r]!]);
    this.slotPositions = rows.map((r) => [...this.slotPositions[r]!]);
  }

  /** Runs the tokens through the model, appends them to the cache, returns next-token logits [batch × vocab]. */
  async step(input: StepInput): Promise<FloatArray> {
    const B = input.tokens.length;
    const T = input.tokens[0]?.length ?? 0;
    if (B !== this.batch) throw new Error(`KvDecoder: batch of ${B} rows, cache holds ${this.batch}`);
    if (T === 0 || input.tokens.some((r) => r.length !== T) || input.positions.some((r) => r.length !== T)) {
      throw new Error('KvDecoder: every row needs the same, non-zero number of tokens and positions');
    }
    const S = this.capacity;
    const { numKvHeads: Hkv, headDim: D, numLayers } = this.config;
    const valid = input.valid ?? input.tokens.map((r) => r.map(() => true));
    // Mistral-style sliding window: a query sees keys less than `window` positions behind it
    const window = this.config.slidingWindow ?? Infinity;
    const ownBias = this.alloc(B * T * T);
    const pastBias = this.alloc(B * T * S);
    for (let b = 0; b < B; b++) {
      const positions = input.positions[b]!;
      for (let t = 0; t < T; t++) {
        const row = (b * T + t) * S;
        const q = positions[t]!;
        pastBias.fill(MASKED, row, row + S);
        for (let s = 0; s < this.used; s++) if (this.slotValid[b]![s] && q - this.slotPositions[b]![s]! < window) pastBias[row + s] = 0;
        // causal among the new tokens, no padding; a padded query attends to itself only, so its row stays finite
        for (let u = 0; u < T; u++) {
          const allowed = u === t || (u < t && valid[b]![u] && q - positions[u]! < window);
          ownBias[(b * T + t) * T + u] = allowed ? 0 : MASKED;
        }
      }
    }
    const feeds: Record<string, ort.Tensor> = {
      ...this.constantFeeds,
      input_ids: new ort.Tensor('int64', BigInt64Array.from(input.tokens.flat(), BigInt), [B, T]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(input.positions.flat(), BigInt), [B, T]),
      attention_bias: new ort.Tensor(this.dtype, ownBias, [B, T, T]),
      past_bias: new ort.Tensor(this.dtype, pastBias, [B, T, S]),
    };
    for (let i = 0; i < numLayers; i++) {
      feeds[`past_key_${i}`] = new ort.Tensor(this.dtype, this.keys[i]!, [B, Hkv, D, S]);
      feeds[`past_value_${i}`] = new ort.Tensor(this.dtype, this.values[i]!, [B, Hkv, S, D]);
    }
    const out = await this.session.run(feeds);
    // grow only when full: doubling, at most 1024 slots at a time (every slot is attended to, filled or not)
    if (this.used + T > this.capacity) this.reserve(Math.max(this.used + T, Math.min(2 * this.capacity, this.capacity + 1024)));
    const C = this.capacity;
    for (let i = 0; i < numLayers; i++) {
      const keys = out[`new_key_${i}`]!.data as FloatArray; // [B, Hkv, D, T]
      const values = out[`new_value_${i}`]!.data as FloatArray; // [B, Hkv, T, D]
      const keyCache = this.keys[i]!;
      const valueCache = this.values[i]!;
      for (let r = 0; r < B * Hkv * D; r++) {
        if (T === 1) keyCache[r * C + this.used] = keys[r]!;
        else keyCache.set(keys.subarray(r * T, (r + 1) * T), r * C + this.used);
      }
      for (let bh = 0; bh < B * Hkv; bh++) valueCache.set(values.subarray(bh * T * D, (bh + 1) * T * D), (bh * C + this.used) * D);
    }
    this.used += T;
    this.slotValid.forEach((v, b) => v.push(...valid[b]!));
    this.slotPositions.forEach((p, b) => p.push(...input.positions[b]!));
    return out.logits!.data as FloatArray;
  }

  private allocate(batch: number, capacity: number): void {
    const size = batch * this.config.numKvHeads * capacity * this.config.headDim;
    this.capacity = capacity;
    this.keys = Array.from({ length: this.config.numLayers }, () => this.alloc(size));
    this.values = Array.from({ length: this.config.numLayers }, () => this.alloc(size));
  }

  private alloc(n: number): FloatArray {
    return this.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  }
}
