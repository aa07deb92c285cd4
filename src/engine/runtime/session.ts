/**
 * ONNX Runtime sessions over a compiled inference model, and the KV cache that the decode loop carries
 * between steps. session.run blocks the thread it runs on: callers outside tests use the worker (worker.ts).
 */
import * as ort from 'onnxruntime-node';
import type { ModelConfig } from '../hf/types.ts';
import { MASKED } from '../models/family.ts';
import { type Device, chooseProvider } from './providers.ts';

export interface SessionSettings {
  device: Device;
  /** intra-op threads; 0 lets ONNX Runtime decide */
  threads?: number;
  /** Pre-pack MatMul weights (faster decode, a second in-memory copy of the weights). */
  prepack?: boolean;
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
    graphOptimizationLevel: 'all',
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
    const why = `${choice.device} failed to start (${(e as Error).message.split('\n')[0]}); using cpu`;
    return { session, device: 'cpu', fallback: why, createMs: performance.now() - started };
  }
}

type FloatArray = Float32Array | Float64Array;

/** One layer's cached keys or values: [batch, kvHeads, length, headDim], row-major. */
interface CacheTensor {
  data: FloatArray;
  dims: [number, number, number, number];
}

export interface StepInput {
  /** [batch][seq] token ids (left-padded rows carry any id at padded places) */
  tokens: number[][];
  /** [batch][seq] positions of the tokens in their own sequences */
  positions: number[][];
  /** [batch][seq]: false for padding, which no query attends to */
  valid?: boolean[][];
}

/** Runs prefill/decode steps over a growing KV cache for a batch of sequences. */
export class KvDecoder {
  readonly session: ort.InferenceSession;
  readonly config: ModelConfig;
  readonly dtype: 'float32' | 'float64';
  private keys: CacheTensor[] = [];
  private values: CacheTensor[] = [];
  /** [batch][past]: which cached positions are real tokens */
  private cachedValid: boolean[][] = [];

  constructor(session: ort.InferenceSession, config: ModelConfig, dtype: 'float32' | 'float64' = 'float32') {
    this.session = session;
    this.config = config;
    this.dtype = dtype;
    this.reset(1);
  }

  get batch(): number {
    return this.cachedValid.length;
  }

  get pastLength(): number {
    return this.cachedValid[0]?.length ?? 0;
  }

  /** Empties the cache for a new batch. */
  reset(batch: number): void {
    const empty = (): CacheTensor => ({ data: this.alloc(0), dims: [batch, this.config.numKvHeads, 0, this.config.headDim] });
    this.keys = Array.from({ length: this.config.numLayers }, empty);
    this.values = Array.from({ length: this.config.numLayers }, empty);
    this.cachedValid = Array.from({ length: batch }, () => []);
  }

  /** Keeps the listed sequences of the batch, in that order (repeats allowed: one prompt → N candidates). */
  select(rows: readonly number[]): void {
    const pick = (t: CacheTensor): CacheTensor => {
      const [, h, l, d] = t.dims;
      const rowSize = h * l * d;
      const out = this.alloc(rows.length * rowSize);
      rows.forEach((r, i) => out.set(t.data.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize));
      return { data: out, dims: [rows.length, h, l, d] };
    };
    this.keys = this.keys.map(pick);
    this.values = this.values.map(pick);
    this.cachedValid = rows.map((r) => [...this.cachedValid[r]!]);
  }

  /** Runs the tokens through the model, appends them to the cache, returns next-token logits [batch × vocab]. */
  async step(input: StepInput): Promise<FloatArray> {
    const B = input.tokens.length;
    const T = input.tokens[0]?.length ?? 0;
    if (B !== this.batch) throw new Error(`KvDecoder: batch of ${B} rows, cache holds ${this.batch}`);
    if (T === 0 || input.tokens.some((r) => r.length !== T) || input.positions.some((r) => r.length !== T)) {
      throw new Error('KvDecoder: every row needs the same, non-zero number of tokens and positions');
    }
    const P = this.pastLength;
    const S = P + T;
    const bias = this.alloc(B * T * S);
    for (let b = 0; b < B; b++) {
      const valid = [...this.cachedValid[b]!, ...(input.valid?.[b] ?? new Array<boolean>(T).fill(true))];
      for (let t = 0; t < T; t++) {
        for (let s = 0; s < S; s++) {
          // causal and no padding; a padded query attends to itself only, so its row stays finite
          const allowed = s <= P + t && (valid[s]! || s === P + t);
          bias[(b * T + t) * S + s] = allowed ? 0 : MASKED;
        }
      }
    }
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(input.tokens.flat(), BigInt), [B, T]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from(input.positions.flat(), BigInt), [B, T]),
      attention_bias: new ort.Tensor(this.dtype, bias, [B, T, S]),
    };
    for (let i = 0; i < this.config.numLayers; i++) {
      feeds[`past_key_${i}`] = new ort.Tensor(this.dtype, this.keys[i]!.data, this.keys[i]!.dims);
      feeds[`past_value_${i}`] = new ort.Tensor(this.dtype, this.values[i]!.data, this.values[i]!.dims);
    }
    const out = await this.session.run(feeds);
    const cacheOf = (name: string): CacheTensor => {
      const t = out[name]!;
      return { data: t.data as FloatArray, dims: t.dims as [number, number, number, number] };
    };
    this.keys = this.keys.map((_, i) => cacheOf(`present_key_${i}`));
    this.values = this.values.map((_, i) => cacheOf(`present_value_${i}`));
    this.cachedValid = this.cachedValid.map((v, b) => [...v, ...(input.valid?.[b] ?? new Array<boolean>(T).fill(true))]);
    return out.logits!.data as FloatArray;
  }

  private alloc(n: number): FloatArray {
    return this.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  }
}
