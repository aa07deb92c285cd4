/** Pieces shared by the families: rotary tables and causal self-attention over a KV cache with grouped KV heads. */
import type { DType, Graph, Value } from '../graph/ir.ts';
import * as op from '../graph/ops.ts';

/** cos/sin of position · θ^(−2i/D) for every position < maxPositions: [maxPositions, D/2] each. */
export function rotaryTables(g: Graph, maxPositions: number, headDim: number, theta: number, dtype: DType) {
  const half = headDim / 2;
  const Arr = dtype === 'float64' ? Float64Array : Float32Array;
  const cos = new Arr(maxPositions * half);
  const sin = new Arr(maxPositions * half);
  for (let i = 0; i < half; i++) {
    // inverse frequency rounded to float32 as Hugging Face computes it, so angles agree with the checkpoint's own stack
    const invFreq = dtype === 'float64' ? 1 / theta ** ((2 * i) / headDim) : Math.fround(1 / Math.fround(theta ** ((2 * i) / headDim)));
    for (let p = 0; p < maxPositions; p++) {
      const angle = dtype === 'float64' ? p * invFreq : Math.fround(p * invFreq);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return {
    cos: g.initializer('rotary_cos', { dtype, shape: [maxPositions, half], data: cos }),
    sin: g.initializer('rotary_sin', { dtype, shape: [maxPositions, half], data: sin }),
  };
}

/**
 * softmax(q·kᵀ/√D + bias)·v. q: [B, H, T, D]; key/value: [B, Hkv, S, D]; bias: broadcastable to
 * [B, Hkv, H/Hkv, T, S]. Query heads are grouped under their KV head instead of repeating keys and values.
 * Returns the context [B, T, H·D].
 */
export function attention(q: Value, key: Value, value: Value, bias: Value, H: number, Hkv: number, D: number): Value {
  const groups = H / Hkv;
  const qGrouped = op.reshape(q, [0, Hkv, groups, -1, D]); // [B, Hkv, G, T, D]
  const kT = op.unsqueeze(op.transpose(key, [0, 1, 3, 2]), [2]); // [B, Hkv, 1, D, S]
  const scores = op.add(op.mul(op.matmul(qGrouped, kT), 1 / Math.sqrt(D)), bias);
  const context = op.matmul(op.softmax(scores, -1), op.unsqueeze(value, [2])); // [B, Hkv, G, T, D]
  const perHead = op.reshape(context, [0, H, -1, D]); // [B, H, T, D]
  return op.reshape(op.transpose(perHead, [0, 2, 1, 3]), [0, 0, H * D]);
}
