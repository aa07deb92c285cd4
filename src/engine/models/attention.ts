/** Pieces shared by the families: rotary tables and causal self-attention over a KV cache with grouped KV heads. */
import { InputError } from '../../inputError.ts';
import type { RopeScaling } from '../hf/types.ts';
import type { DType, Graph, Value } from '../graph/ir.ts';
import * as op from '../graph/ops.ts';

/** Rotary inverse frequencies θ^(−2i/D), rescaled per `rope_scaling` (linear, llama3); other types are rejected. */
export function rotaryInverseFrequencies(headDim: number, theta: number, scaling: RopeScaling | null | undefined, exact: boolean): number[] {
  const round = exact ? (x: number) => x : Math.fround;
  const base = Array.from({ length: headDim / 2 }, (_, i) => round(1 / round(theta ** ((2 * i) / headDim))));
  if (!scaling) return base;
  const p = scaling.parameters;
  const need = (name: string): number => {
    const v = p[name];
    if (typeof v !== 'number') throw new InputError(`config.json: rope_scaling ${scaling.type} needs ${name}`);
    return v;
  };
  switch (scaling.type) {
    case 'linear':
      return base.map((f) => round(f / need('factor')));
    case 'llama3': {
      // Llama 3.1: long wavelengths slowed by `factor`, short ones kept, a smooth blend between
      const factor = need('factor');
      const low = need('low_freq_factor');
      const high = need('high_freq_factor');
      const context = need('original_max_position_embeddings');
      return base.map((f) => {
        const wavelength = (2 * Math.PI) / f;
        if (wavelength < context / high) return f;
        if (wavelength > context / low) return round(f / factor);
        const smooth = (context / wavelength - low) / (high - low);
        return round((1 - smooth) * (f / factor) + smooth * f);
      });
    }
    default:
      throw new InputError(`config.json: rope_scaling type ${scaling.type} is not supported by the llama family`);
  }
}

/** cos/sin of position · inverse frequency for every position < maxPositions: [maxPositions, D/2] each. */
export function rotaryTables(g: Graph, maxPositions: number, headDim: number, theta: number, dtype: DType, scaling?: RopeScaling | null) {
  const half = headDim / 2;
  const Arr = dtype === 'float64' ? Float64Array : Float32Array;
  const cos = new Arr(maxPositions * half);
  const sin = new Arr(maxPositions * half);
  // float32 graphs round like Hugging Face's float32 computation, so angles agree with the checkpoint's own stack
  const inverse = rotaryInverseFrequencies(headDim, theta, scaling, dtype === 'float64');
  inverse.forEach((invFreq, i) => {
    for (let p = 0; p < maxPositions; p++) {
      const angle = dtype === 'float64' ? p * invFreq : Math.fround(p * invFreq);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  });
  return {
    cos: g.initializer('rotary_cos', { dtype, shape: [maxPositions, half], data: cos }),
    sin: g.initializer('rotary_sin', { dtype, shape: [maxPositions, half], data: sin }),
  };
}

/**
 * The KV cache of one layer as attention reads it: keys stored transposed, [B, Hkv, D, S], so scores are a
 * plain MatMul (no per-step Transpose of the whole cache); values [B, Hkv, S, D]; and the bias of this
 * step's queries against the slots, [B, T, S].
 */
export interface CachedContext {
  keysT: Value;
  values: Value;
  bias: Value;
}

/**
 * softmax(q·kᵀ/√D + bias)·v over the cached keys/values and this step's own. q: [B, H, T, D]; key/value:
 * [B, Hkv, T, D] (this step); bias: [B, T, T] among this step's tokens. The G = H/Hkv query heads sharing a
 * KV head are stacked as G·T rows of one GEMM, so each key and value is read once per step, not G times,
 * and never repeated. The softmax over [cached | new] keys is written out (shared max, summed normalizer)
 * so the cache is read in place and never joined with the new keys: a decode step does not copy the cache.
 * Returns the context [B, T, H·D].
 */
export function attention(q: Value, key: Value, value: Value, bias: Value, past: CachedContext | undefined, H: number, Hkv: number, D: number): Value {
  const G = H / Hkv;
  const rows = op.reshape(op.mul(q, 1 / Math.sqrt(D)), [0, Hkv, -1, D]); // [B, Hkv, G·T, D]
  const stacked = (b: Value) => stackedBias(b, G);
  const own = op.add(op.matmul(rows, op.transpose(key, [0, 1, 3, 2])), stacked(bias)); // [B, Hkv, G·T, T]
  if (!past) return mergeHeads(op.matmul(op.softmax(own, -1), value), H, D);
  const cached = op.add(op.matmul(rows, past.keysT), stacked(past.bias)); // [B, Hkv, G·T, S]
  const max = op.reduceMax(op.concat([op.reduceMax(cached, [-1]), op.reduceMax(own, [-1])], -1), [-1]);
  const eCached = op.exp(op.sub(cached, max));
  const eOwn = op.exp(op.sub(own, max));
  const normalizer = op.add(op.reduceSum(eCached, [-1]), op.reduceSum(eOwn, [-1]));
  const context = op.add(op.matmul(eCached, past.values), op.matmul(eOwn, value));
  return mergeHeads(op.div(context, normalizer), H, D);
}

const stackedBiases = new WeakMap<Value, Value>();

/** [B, T, S] → [B, 1, G·T, S]: the same bias for every head of a group; built once and shared by all layers. */
function stackedBias(bias: Value, G: number): Value {
  let s = stackedBiases.get(bias);
  if (!s) stackedBiases.set(bias, (s = op.unsqueeze(G === 1 ? bias : op.concat(new Array<Value>(G).fill(bias), 1), [1])));
  return s;
}

/** [B, Hkv, G·T, D] → [B, T, H·D] */
function mergeHeads(context: Value, H: number, D: number): Value {
  const perHead = op.reshape(context, [0, H, -1, D]); // [B, H, T, D]
  return op.reshape(op.transpose(perHead, [0, 2, 1, 3]), [0, 0, H * D]);
}
