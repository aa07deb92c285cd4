/**
 * A deliberately plain float64 forward pass of the HF llama-like model (Llama, Qwen2 bias, Qwen3 q/k norm,
 * GQA, rotate-half RoPE), one token at a time with a growing K/V list. It exists to check the llama.cpp
 * harness (GGUF writer, q/k permutation, metadata) against the transformers definition, independently.
 */
import type { Checkpoint } from '../../../src/engine/hf/types.ts';

export function naiveLlamaLogits(checkpoint: Checkpoint, ids: readonly number[]): Float64Array[] {
  const c = checkpoint.config;
  const w = (name: string): Float32Array => checkpoint.weights.get(name).data;
  const d = c.headDim;
  const groups = c.numHeads / c.numKvHeads;
  const keys: Float64Array[][] = Array.from({ length: c.numLayers }, () => []);
  const values: Float64Array[][] = Array.from({ length: c.numLayers }, () => []);
  const rows: Float64Array[] = [];
  for (const [position, id] of ids.entries()) {
    const x = Float64Array.from(w('model.embed_tokens.weight').subarray(id * c.hiddenSize, (id + 1) * c.hiddenSize));
    for (let l = 0; l < c.numLayers; l++) {
      const p = `model.layers.${l}`;
      const h = rmsNorm(x, w(`${p}.input_layernorm.weight`), c.normEps);
      const project = (name: string): Float64Array => {
        const out = matVec(w(`${p}.self_attn.${name}.weight`), h);
        if (c.attentionBias) addInPlace(out, w(`${p}.self_attn.${name}.bias`));
        return out;
      };
      const q = project('q_proj');
      const k = project('k_proj');
      const v = project('v_proj');
      for (const [vec, heads, norm] of [[q, c.numHeads, 'q_norm'], [k, c.numKvHeads, 'k_norm']] as const) {
        for (let head = 0; head < heads; head++) {
          const slice = vec.subarray(head * d, (head + 1) * d);
          if (c.qkNorm) slice.set(rmsNorm(slice, w(`${p}.self_attn.${norm}.weight`), c.normEps));
          rotateHalf(slice, position, c.ropeTheta);
        }
      }
      keys[l]!.push(k);
      values[l]!.push(v);
      const attended = new Float64Array(c.numHeads * d);
      for (let head = 0; head < c.numHeads; head++) {
        const kvHead = Math.floor(head / groups);
        const qh = q.subarray(head * d, (head + 1) * d);
        const scores = keys[l]!.map((key) => dot(qh, key.subarray(kvHead * d, (kvHead + 1) * d)) / Math.sqrt(d));
        const max = Math.max(...scores);
        const exps = scores.map((s) => Math.exp(s - max));
        const total = exps.reduce((a, b) => a + b, 0);
        for (const [s, value] of values[l]!.entries()) {
          const weight = (exps[s] as number) / total;
          for (let i = 0; i < d; i++) attended[head * d + i]! += weight * (value[kvHead * d + i] as number);
        }
      }
      addInPlace(x, matVec(w(`${p}.self_attn.o_proj.weight`), attended));
      const h2 = rmsNorm(x, w(`${p}.post_attention_layernorm.weight`), c.normEps);
      const gate = matVec(w(`${p}.mlp.gate_proj.weight`), h2);
      const up = matVec(w(`${p}.mlp.up_proj.weight`), h2);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * (up[i] as number));
      addInPlace(x, matVec(w(`${p}.mlp.down_proj.weight`), act));
    }
    const final = rmsNorm(x, w('model.norm.weight'), c.normEps);
    rows.push(matVec(w(c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'), final));
  }
  return rows;
}

function rmsNorm(x: Float64Array, weight: Float32Array, eps: number): Float64Array {
  const meanSquare = dot(x, x) / x.length;
  const scale = 1 / Math.sqrt(meanSquare + eps);
  return x.map((v, i) => v * scale * (weight[i] as number));
}

/** HF rotate_half RoPE: pairs (i, i + d/2) rotate by position · theta^(-2i/d). */
function rotateHalf(x: Float64Array, position: number, theta: number): void {
  const half = x.length / 2;
  for (let i = 0; i < half; i++) {
    const angle = position * theta ** ((-2 * i) / x.length);
    const a = x[i] as number;
    const b = x[i + half] as number;
    x[i] = a * Math.cos(angle) - b * Math.sin(angle);
    x[i + half] = b * Math.cos(angle) + a * Math.sin(angle);
  }
}

/** [rows, cols] row-major weight (HF Linear layout) times a vector of length cols. */
function matVec(weight: Float32Array, x: Float64Array): Float64Array {
  const cols = x.length;
  const rows = weight.length / cols;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += (weight[r * cols + j] as number) * (x[j] as number);
    out[r] = sum;
  }
  return out;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (b[i] as number);
  return sum;
}

function addInPlace(x: Float64Array, y: ArrayLike<number>): void {
  for (let i = 0; i < x.length; i++) x[i]! += y[i] as number;
}
