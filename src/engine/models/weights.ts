/**
 * Turning checkpoint tensors into graph initializers (dtype conversion, linears stored [in, out] for MatMul, or
 * fp16, or block-quantized for MatMulNBits), and products with weights as stored.
 */
import { InputError } from '../../inputError.ts';
import type { WeightSource } from '../hf/types.ts';
import type { DType, Graph, Value } from '../graph/ir.ts';
import * as op from '../graph/ops.ts';
import { type BlockQuantized, GGML_BLOCK_SIZE, type QuantBits, type WeightLayout, blocksPerRow, concatRows, ggmlBlockBits, meanRow, quantizeBlocks, repackGgmlBlocks } from '../graph/quantize.ts';
import { float32ToHalfBits } from '../hf/halfPrecision.ts';

/** How a graph stores the decoder's linear weights (`prefer sample --weights`). */
export const WEIGHT_STORAGES = ['fp32', 'fp16', 'int8', 'int4'] as const;
export type WeightStorage = (typeof WEIGHT_STORAGES)[number];

/** The storages a training graph holds its frozen base in (`prefer train --weights`). */
export const TRAINING_WEIGHT_STORAGES = ['fp32', 'fp16', 'int8', 'int4'] as const satisfies readonly WeightStorage[];

const QUANT_BITS: Record<WeightStorage, QuantBits | undefined> = { fp32: undefined, fp16: undefined, int8: 8, int4: 4 };

/** Values per quantization block when quantizing float weights (README "Weight storage": measured against 64 and 128). */
export const QUANT_BLOCK_SIZE = 32;

/** Whether int8/int4 graphs quantize the LM head too (README "Weight storage": at large vocabularies it dominates decode). */
const QUANTIZED_HEAD = true;

/**
 * The bits of the LM head and the token embedding per storage, when quantized here: int4 keeps them at 8, as
 * llama.cpp's 4-bit files keep output.weight (or a tied token_embd) at 6 bits; a GGUF's own 4-bit blocks stay 4-bit. On the default model's held-out corpus a 4-bit head and
 * embedding cost +6.6 % loss and 14 points of parse rate against fp32; 8-bit ones +2.9 % and 7 points (README).
 */
const TABLE_BITS: Record<QuantBits, QuantBits> = { 8: 8, 4: 8 };

/** A frozen [vocab, hidden] table: float, or blocks with the mean of its rows (TRL's logits metrics read h · mean row). */
/**
 * A frozen [vocab, hidden] table: as the LM head in `chunks` vocabulary blocks, its rows for token ids (the
 * embedding), and the mean of its rows (TRL's logits metrics read hidden · mean row).
 */
export interface FrozenTable {
  head(chunks: number): op.FrozenHead;
  rows(ids: Value): Value;
  meanRow(): Value;
}

/**
 * A frozen base's quantized linears per weight source: a round builds several graphs (reference, step and eval per
 * bucket) that feed the same tensors, so each weight is quantized once and its float copy released once.
 */
const frozenBlocks = new WeakMap<WeightSource, Map<string, BlockQuantized>>();
/** The mean rows of frozen tables, made once per table. */
const meanRows = new WeakMap<BlockQuantized, Float32Array>();

function memoized<K extends object, V>(cache: WeakMap<K, V>, key: K, make: (key: K) => V): V {
  let v = cache.get(key);
  if (v === undefined) cache.set(key, (v = make(key)));
  return v;
}

function convert(data: Float32Array, dtype: DType): Float32Array | Float64Array {
  if (dtype === 'float32') return data;
  if (dtype === 'float64') return Float64Array.from(data);
  throw new Error(`model weights: unsupported compute dtype ${dtype}`);
}

export class GraphWeights {
  private readonly g: Graph;
  private readonly source: WeightSource;
  private readonly dtype: DType;
  private readonly cache = new Map<string, Value>();
  private readonly scaleCache = new Map<string, Value>();
  private readonly quantizedCache = new Map<string, BlockQuantized>();
  /** How this graph stores linear weights: set per forward pass. */
  storage: WeightStorage = 'fp32';
  /** Frozen-base graphs (LoRA training): the embedding is read through frozenTable, as the family's frozenHead reads the LM head. */
  frozenBase = false;

  constructor(g: Graph, source: WeightSource, dtype: DType) {
    this.g = g;
    this.source = source;
    this.dtype = dtype;
  }

  has(name: string): boolean {
    return this.source.has(name);
  }

  /** A tensor as stored, checked against the expected shape. */
  tensor(name: string, shape: number[]): Value {
    return this.memo(`${name}`, () => {
      const w = this.source.get(name);
      this.checkShape(name, w.shape, shape);
      return this.g.initializer(name, { dtype: this.dtype, shape, data: convert(w.data, this.dtype) }, { weight: true });
    });
  }

  /** An HF nn.Linear weight [out, in], stored transposed as [in, out] so that y = x @ W needs no Transpose at run time. */
  linear(name: string, inFeatures: number, outFeatures: number): Value {
    return this.memo(`${name}^T`, () => {
      const w = this.source.get(name);
      this.checkShape(name, w.shape, [outFeatures, inFeatures]);
      const t = this.dtype === 'float64' ? new Float64Array(w.data.length) : new Float32Array(w.data.length);
      for (let o = 0; o < outFeatures; o++) {
        for (let i = 0; i < inFeatures; i++) t[i * outFeatures + o] = w.data[o * inFeatures + i]!;
      }
      return this.g.initializer(name, { dtype: this.dtype, shape: [inFeatures, outFeatures], data: t }, { weight: true });
    });
  }

  /**
   * An nn.Linear weight [out, in] as the float matrix a frozen-base graph (LoRA training) reads, in this graph's
   * storage: fp32 as stored; int8/int4 as blocks dequantized in the graph, so that with recompute only the layer
   * being computed holds float weights (recompute.ts); fp16 as half-precision weights cast up in the graph, a layer
   * at a time in the same way.
   */
  frozenLinear(name: string, inFeatures: number, outFeatures: number): Value {
    const bits = QUANT_BITS[this.storage];
    if (this.storage === 'fp16') return op.cast(this.halfWeight(name, outFeatures, inFeatures), this.dtype);
    if (!bits) return this.tensor(name, [outFeatures, inFeatures]);
    const q = this.blocks([name], inFeatures, [outFeatures], 'rows', bits, true, frozenBlocks);
    return op.dequantizeBlocks(q.packed, q.scales, bits, q.blockSize, inFeatures);
  }

  /**
   * x × Wᵀ for nn.Linear weights reading x, side by side when several (q/k/v, gate/up: one product, the caller
   * splits the columns), in this graph's storage. `names` are the weights' full names; HF stores them [out, in]
   * ('rows'), GPT-2's Conv1D [in, out] ('columns').
   */
  product(x: Value, names: string[], inFeatures: number, outs: number[], layout: WeightLayout = 'rows'): Value {
    const bits = QUANT_BITS[this.storage];
    if (bits) {
      const q = this.blocks(names, inFeatures, outs, layout, bits);
      return op.matmulBlocks(x, q.packed, q.scales, bits, q.blockSize);
    }
    if (this.storage === 'fp16') return op.cast(op.matmul(op.cast(x, 'float16'), this.halfLinear(names, inFeatures, outs, layout)), x.dtype);
    if (layout === 'columns') return op.matmul(x, this.tensor(names[0]!, [inFeatures, outs[0]!]));
    return op.matmul(x, names.length === 1 ? this.linear(names[0]!, inFeatures, outs[0]!) : this.groupWeight(names, inFeatures, outs));
  }

  /** The LM head's logits: hidden × headᵀ for a [vocab, hidden] table (block-quantized with the linears where QUANTIZED_HEAD says so). */
  head(hidden: Value, name: string, vocab: number, hiddenSize: number): Value {
    const bits = QUANT_BITS[this.storage];
    if (!bits || !QUANTIZED_HEAD) return timesTransposed(hidden, this.tensor(name, [vocab, hiddenSize]));
    const tableBits = this.tableBits(name, bits);
    const q = this.blocks([name], hiddenSize, [vocab], 'rows', tableBits);
    return op.matmulBlocks(hidden, q.packed, q.scales, tableBits, q.blockSize);
  }

  /**
   * The rows of a [vocab, hidden] token embedding for `ids`. int8/int4 inference graphs look them up from the
   * table's blocks, a tied LM head's own, so no float table exists in the graph or in memory (at 1.5B it was
   * 933 MB while compiling); fp32/fp16 storage and frozen-base graphs gather from the float table. The lookup
   * reads initializers of its own over the same arrays: ONNX Runtime memory-maps the weights file and drops a
   * head's blocks once MatMulNBits has pre-packed them, so only the rows looked up become resident (reading the
   * head's initializers kept its codes and a copy of its scales resident: +140 MiB at 1.5B int4).
   */
  embedding(ids: Value, name: string, vocab: number, hiddenSize: number): Value {
    const storageBits = QUANT_BITS[this.storage];
    if (this.frozenBase) {
      return this.frozenTable(name, vocab, hiddenSize).rows(ids);
    }
    if (!storageBits || !QUANTIZED_HEAD) return op.gather(this.tensor(name, [vocab, hiddenSize]), ids);
    const bits = this.tableBits(name, storageBits);
    const q = this.quantized([name], hiddenSize, [vocab], 'rows', bits);
    const blocks = blocksPerRow(hiddenSize, q.blockSize);
    const packed = this.memo(`${name}:rows.q${bits}`, () =>
      this.g.initializer(`${name}.rows.q${bits}`, { dtype: 'uint8', shape: [vocab, blocks, (q.blockSize * bits) / 8], data: q.packed }, { weight: true }),
    );
    const scales = this.memo(`${name}:rows.scales`, () => this.g.initializer(`${name}.rows.scales`, { dtype: 'float32', shape: [vocab, blocks, 1], data: q.scales }, { weight: true }));
    return op.gatherBlocks(packed, scales, ids, bits, q.blockSize, hiddenSize);
  }

  /**
   * A [vocab, hidden] table (token embedding, LM head) as a frozen-base graph (LoRA training) reads it: fp32/fp16
   * storage keep it fp32; int8/int4 keep it in blocks (at the bits inference gives it), quantized once per weight
   * source: no float table in memory (at 1.5B, 933 MB). Its rows are looked up for the embedding; the head's
   * log-probs are computed a vocabulary block at a time (op.frozenHeadTokenLogProbs), each block an initializer of
   * its own over the table's memory (fed as it is, no copy).
   */
  frozenTable(name: string, vocab: number, hiddenSize: number): FrozenTable {
    const storageBits = QUANT_BITS[this.storage];
    const view = <T extends Float32Array | Float64Array | Uint8Array>(key: string, data: T, shape: number[]) =>
      this.memo(key, () => this.g.initializer(key, { dtype: data instanceof Uint8Array ? 'uint8' : this.dtype, shape, data }, { weight: true }));
    if (!storageBits) {
      const table = this.tensor(name, [vocab, hiddenSize]);
      const data = this.g.initializers.get(table)!.tensor.data as Float32Array | Float64Array;
      const head = (chunks: number): op.FrozenHead => ({
        table,
        blocks: op.rowBlocks(vocab, chunks).map(([start, end]) => view(`${name}.rows${start}-${end}`, data.subarray(start * hiddenSize, end * hiddenSize), [end - start, hiddenSize])),
      });
      return { head, rows: (ids) => op.gather(table, ids), meanRow: () => op.reduceMean(table, [0], false) };
    }
    const bits = this.tableBits(name, storageBits);
    const { packed, scales, blockSize } = this.blocks([name], hiddenSize, [vocab], 'rows', bits, true, frozenBlocks);
    const q = this.quantized([name], hiddenSize, [vocab], 'rows', bits, true, frozenBlocks);
    const perRow = blocksPerRow(hiddenSize, blockSize);
    const blockBytes = (blockSize * bits) / 8;
    const head = (chunks: number): op.FrozenHead => ({
      packed,
      scales,
      bits,
      blockSize,
      blocks: op.rowBlocks(vocab, chunks).map(([start, end]) => ({
        packed: view(`${name}.q${bits}.rows${start}-${end}`, q.packed.subarray(start * perRow * blockBytes, end * perRow * blockBytes), [end - start, perRow, blockBytes]),
        scales: view(`${name}.scales.rows${start}-${end}`, q.scales.subarray(start * perRow, end * perRow), [(end - start) * perRow]),
      })),
    });
    const meanRowData = () => memoized(meanRows, q, meanRow);
    return {
      head,
      rows: (ids) => op.frozenHeadRows({ packed, scales, bits, blockSize, blocks: [] }, ids, hiddenSize),
      meanRow: () => this.memo(`${name}:mean row`, () => this.g.constant({ dtype: 'float32', shape: [hiddenSize], data: meanRowData() }, `${name}.mean_row`)),
    };
  }

  /** A [vocab, hidden] table's bits: as the file stores it where its blocks repack as they are, else TABLE_BITS. */
  private tableBits(name: string, bits: QuantBits): QuantBits {
    const type = this.source.blockType?.(name);
    return type !== undefined && ggmlBlockBits(type) === bits ? bits : TABLE_BITS[bits];
  }

  /** The biases of linears computed side by side, as one vector. */
  groupBias(names: string[], outs: number[]): Value {
    return this.memo(`${names.join('+')}:bias`, () => {
      const total = outs.reduce((a, b) => a + b, 0);
      const b = this.dtype === 'float64' ? new Float64Array(total) : new Float32Array(total);
      let offset = 0;
      names.forEach((name, n) => {
        const v = this.source.get(name);
        this.checkShape(name, v.shape, [outs[n]!]);
        b.set(v.data, offset);
        offset += outs[n]!;
      });
      return this.g.initializer(names.length === 1 ? names[0]! : names.join('+'), { dtype: this.dtype, shape: [total], data: b }, { weight: true });
    });
  }

  /** Several [out, in] weights as one [in, Σ out] matrix: one MatMul per group instead of one per linear. */
  private groupWeight(names: string[], inFeatures: number, outs: number[]): Value {
    const total = outs.reduce((a, b) => a + b, 0);
    const key = names.join('+');
    return this.memo(`${key}^T`, () => {
      const t = this.dtype === 'float64' ? new Float64Array(inFeatures * total) : new Float32Array(inFeatures * total);
      let offset = 0;
      names.forEach((name, n) => {
        const w = this.source.get(name);
        const out = outs[n]!;
        this.checkShape(name, w.shape, [out, inFeatures]);
        for (let o = 0; o < out; o++) for (let i = 0; i < inFeatures; i++) t[i * total + offset + o] = w.data[o * inFeatures + i]!;
        offset += out;
      });
      return this.g.initializer(key, { dtype: this.dtype, shape: [inFeatures, total], data: t }, { weight: true });
    });
  }

  /** One [out, in] weight as stored, in float16 (its float copy released). */
  private halfWeight(name: string, outFeatures: number, inFeatures: number): Value {
    return this.memo(`${name}:f16`, () => {
      const w = this.source.get(name);
      this.checkShape(name, w.shape, [outFeatures, inFeatures]);
      const t = new Uint16Array(w.data.length);
      for (let i = 0; i < t.length; i++) t[i] = float32ToHalfBits(w.data[i]!);
      this.source.release?.(name);
      return this.g.initializer(name, { dtype: 'float16', shape: [outFeatures, inFeatures], data: t }, { weight: true });
    });
  }

  /** The weights as one [in, Σ out] float16 matrix (converted weight by weight, no float32 copy of the group). */
  private halfLinear(names: string[], inFeatures: number, outs: number[], layout: WeightLayout): Value {
    const total = outs.reduce((a, b) => a + b, 0);
    const key = names.join('+');
    return this.memo(`${key}^T:f16`, () => {
      const t = new Uint16Array(inFeatures * total);
      let offset = 0;
      names.forEach((name, n) => {
        const w = this.source.get(name);
        const out = outs[n]!;
        this.checkShape(name, w.shape, layout === 'rows' ? [out, inFeatures] : [inFeatures, out]);
        for (let o = 0; o < out; o++) {
          for (let i = 0; i < inFeatures; i++) t[i * total + offset + o] = float32ToHalfBits(w.data[layout === 'rows' ? o * inFeatures + i : i * out + o]!);
        }
        offset += out;
        this.source.release?.(name);
      });
      return this.g.initializer(key, { dtype: 'float16', shape: [inFeatures, total], data: t }, { weight: true });
    });
  }

  /** The weights' rows one after another as MatMulNBits blocks, as initializers (the linears' and the head's). */
  private blocks(
    names: string[],
    inFeatures: number,
    outs: number[],
    layout: WeightLayout,
    bits: QuantBits,
    release = true,
    shared?: WeakMap<WeightSource, Map<string, BlockQuantized>>,
  ): { packed: Value; scales: Value; blockSize: number } {
    const key = names.join('+');
    const q = this.quantized(names, inFeatures, outs, layout, bits, release, shared);
    const packed = this.memo(`${key}:q${bits}`, () => {
      const blocks = blocksPerRow(inFeatures, q.blockSize);
      this.scaleCache.set(key, this.g.initializer(`${key}.scales`, { dtype: 'float32', shape: [q.rows * blocks], data: q.scales }, { weight: true }));
      return this.g.initializer(`${key}.q${bits}`, { dtype: 'uint8', shape: [q.rows, blocks, (q.blockSize * bits) / 8], data: q.packed }, { weight: true });
    });
    return { packed, scales: this.scaleCache.get(key)!, blockSize: q.blockSize };
  }

  /**
   * The weights' rows one after another as blocks, made once per graph (`shared`: once per weight source): a
   * weight the file stores in matching GGML blocks is repacked as it is, any other is quantized from get() and
   * its float copy released (`release` false: the tensor is read as floats elsewhere too).
   */
  private quantized(
    names: string[],
    inFeatures: number,
    outs: number[],
    layout: WeightLayout,
    bits: QuantBits,
    release = true,
    shared?: WeakMap<WeightSource, Map<string, BlockQuantized>>,
  ): BlockQuantized {
    if (this.dtype !== 'float32') throw new Error(`model weights: ${this.storage} storage needs float32 compute, not ${this.dtype}`);
    const key = `${names.join('+')}:q${bits}`;
    const make = (): BlockQuantized => {
      const stored = names.map((name) => (layout === 'rows' ? this.source.blocks?.(name) : undefined));
      // a group shares one block size: GGML's 32 as soon as one of its weights comes as GGML blocks
      const blockSize = stored.some((s) => s && ggmlBlockBits(s.type) === bits) ? GGML_BLOCK_SIZE : QUANT_BLOCK_SIZE;
      return concatRows(
        names.map((name, n) => {
          const s = stored[n];
          if (s && ggmlBlockBits(s.type) === bits && blockSize === GGML_BLOCK_SIZE) {
            this.checkShape(name, s.shape, [outs[n]!, inFeatures]);
            return repackGgmlBlocks(s.type, outs[n]!, inFeatures, s.bytes);
          }
          const w = this.source.get(name);
          this.checkShape(name, w.shape, layout === 'rows' ? [outs[n]!, inFeatures] : [inFeatures, outs[n]!]);
          const q = quantizeBlocks(w.data, outs[n]!, inFeatures, bits, blockSize, layout);
          if (release) this.source.release?.(name);
          return q;
        }),
      );
    };
    let q = this.quantizedCache.get(key);
    if (!q) this.quantizedCache.set(key, (q = shared ? sharedEntry(shared, this.source, key, make) : make()));
    return q;
  }

  private memo(key: string, make: () => Value): Value {
    let v = this.cache.get(key);
    if (!v) this.cache.set(key, (v = make()));
    return v;
  }

  private checkShape(name: string, actual: number[], expected: number[]): void {
    if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
      throw new InputError(`weight ${name}: shape [${actual.join(', ')}], expected [${expected.join(', ')}] from config.json`);
    }
  }
}

function sharedEntry<T>(cache: WeakMap<WeightSource, Map<string, T>>, source: WeightSource, key: string, make: () => T): T {
  let entries = cache.get(source);
  if (!entries) cache.set(source, (entries = new Map()));
  let entry = entries.get(key);
  if (entry === undefined) entries.set(key, (entry = make()));
  return entry;
}

/**
 * x [..., K] × weight[N, K]ᵀ → [..., N] through a 2-D Gemm (reshapes are free): an [out, in] weight (the LM head,
 * an nn.Linear as stored) without a transposed copy. Leading dims must be static above rank 2.
 */
export function timesTransposed(x: Value, weight: Value): Value {
  if (x.rank === 2) return op.gemmTransB(x, weight);
  const lead = x.shape.slice(0, -1);
  if (lead.some((d) => typeof d !== 'number')) throw new Error(`${weight.name}: leading dims of ${x} must be static`);
  const flat = op.reshape(x, [-1, x.shape[x.rank - 1] as number]);
  return op.reshape(op.gemmTransB(flat, weight), [...(lead as number[]), weight.shape[0] as number]);
}
