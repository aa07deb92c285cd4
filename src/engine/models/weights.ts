/** Turning checkpoint tensors into graph initializers (dtype conversion, linears stored [in, out] for MatMul), and products with weights as stored. */
import { InputError } from '../../inputError.ts';
import type { WeightSource } from '../hf/types.ts';
import type { DType, Graph, Value } from '../graph/ir.ts';
import * as op from '../graph/ops.ts';

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
   * Several nn.Linear weights reading the same input, side by side as one [in, Σ out] matrix, and their
   * biases as one vector: one MatMul per group instead of one per linear.
   */
  linearGroup(names: string[], inFeatures: number, outs: number[], withBias: boolean): { weight: Value; bias: Value | null } {
    const total = outs.reduce((a, b) => a + b, 0);
    const key = names.join('+');
    const weight = this.memo(`${key}^T`, () => {
      const t = this.dtype === 'float64' ? new Float64Array(inFeatures * total) : new Float32Array(inFeatures * total);
      let offset = 0;
      names.forEach((name, n) => {
        const w = this.source.get(`${name}.weight`);
        const out = outs[n]!;
        this.checkShape(`${name}.weight`, w.shape, [out, inFeatures]);
        for (let o = 0; o < out; o++) for (let i = 0; i < inFeatures; i++) t[i * total + offset + o] = w.data[o * inFeatures + i]!;
        offset += out;
      });
      return this.g.initializer(`${key}.weight`, { dtype: this.dtype, shape: [inFeatures, total], data: t }, { weight: true });
    });
    const bias = !withBias
      ? null
      : this.memo(`${key}.bias`, () => {
          const b = this.dtype === 'float64' ? new Float64Array(total) : new Float32Array(total);
          let offset = 0;
          names.forEach((name, n) => {
            const v = this.source.get(`${name}.bias`);
            this.checkShape(`${name}.bias`, v.shape, [outs[n]!]);
            b.set(v.data, offset);
            offset += outs[n]!;
          });
          return this.g.initializer(`${key}.bias`, { dtype: this.dtype, shape: [total], data: b }, { weight: true });
        });
    return { weight, bias };
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
