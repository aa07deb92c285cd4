/**
 * A straightforward forward pass in plain loops over Float64Arrays, written independently of the graph
 * builders: the families' graphs are checked against it. Full sequence, no cache; returns the logits of
 * every position.
 */
import type { ModelConfig, WeightSource } from '../../../src/engine/hf/types.ts';

type Vec = Float64Array;

function get(w: WeightSource, name: string): Vec {
  return Float64Array.from(w.get(name).data);
}

/** y[o] = Σ_i x[i]·W[o, i] for an HF nn.Linear weight [out, in]. */
function linearOutIn(x: Vec, W: Vec, out: number, bias?: Vec): Vec {
  const inF = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = bias ? bias[o]! : 0;
    for (let i = 0; i < inF; i++) s += x[i]! * W[o * inF + i]!;
    y[o] = s;
  }
  return y;
}

/** y[o] = Σ_i x[i]·W[i, o] for a GPT-2 Conv1D weight [in, out]. */
function linearInOut(x: Vec, W: Vec, out: number, bias: Vec): Vec {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = bias[o]!;
    for (let i = 0; i < x.length; i++) s += x[i]! * W[i * out + o]!;
    y[o] = s;
  }
  return y;
}

function rmsNorm(x: Vec, g: Vec, eps: number): Vec {
  let ms = 0;
  for (const v of x) ms += v * v;
  const r = 1 / Math.sqrt(ms / x.length + eps);
  return x.map((v, i) => v * r * g[i]!);
}

function layerNorm(x: Vec, g: Vec, b: Vec, eps: number): Vec {
  const mean = x.reduce((s, v) => s + v, 0) / x.length;
  const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length;
  return x.map((v, i) => ((v - mean) / Math.sqrt(variance + eps)) * g[i]! + b[i]!);
}

/** HF rotate_half RoPE on one head vector at position p. */
function rope(x: Vec, p: number, theta: number): Vec {
  const D = x.length;
  const out = new Float64Array(D);
  for (let i = 0; i < D / 2; i++) {
    const angle = p / theta ** ((2 * i) / D);
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    out[i] = x[i]! * c - x[i + D / 2]! * s;
    out[i + D / 2] = x[i + D / 2]! * c + x[i]! * s;
  }
  return out;
}

/** Causal attention over heads: q[t][h], k[t][kvh], v[t][kvh] → context[t] (concatenated heads); keys older than `window` are not seen. */
function attend(q: Vec[][], k: Vec[][], v: Vec[][], H: number, Hkv: number, D: number, window = Infinity): Vec[] {
  const T = q.length;
  return Array.from({ length: T }, (_, t) => {
    const ctx = new Float64Array(H * D);
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / (H / Hkv));
      const scores = Array.from({ length: t + 1 }, (_, s) => {
        if (t - s >= window) return -Infinity;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[t]![h]![d]! * k[s]![kvh]![d]!;
        return dot / Math.sqrt(D);
      });
      const max = Math.max(...scores);
      const e = scores.map((x) => Math.exp(x - max));
      const z = e.reduce((a, b) => a + b, 0);
      for (let s = 0; s <= t; s++) for (let d = 0; d < D; d++) ctx[h * D + d]! += (e[s]! / z) * v[s]![kvh]![d]!;
    }
    return ctx;
  });
}

const heads = (x: Vec, n: number, D: number): Vec[] => Array.from({ length: n }, (_, h) => x.slice(h * D, (h + 1) * D));

export function referenceLogits(c: ModelConfig, w: WeightSource, tokens: number[]): Vec[] {
  return c.family === 'gpt2' ? gpt2Reference(c, w, tokens) : llamaReference(c, w, tokens);
}

function llamaReference(c: ModelConfig, w: WeightSource, tokens: number[]): Vec[] {
  const { hiddenSize: C, numHeads: H, numKvHeads: Hkv, headDim: D, intermediateSize: F } = c;
  const emb = get(w, 'model.embed_tokens.weight');
  let xs = tokens.map((id) => emb.slice(id * C, (id + 1) * C));
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}`;
    const bias = (n: string) => (c.attentionBias ? get(w, `${p}.self_attn.${n}.bias`) : undefined);
    const h = xs.map((x) => rmsNorm(x, get(w, `${p}.input_layernorm.weight`), c.normEps));
    const qs = h.map((x, t) => {
      let qh = heads(linearOutIn(x, get(w, `${p}.self_attn.q_proj.weight`), H * D, bias('q_proj')), H, D);
      if (c.qkNorm) qh = qh.map((v) => rmsNorm(v, get(w, `${p}.self_attn.q_norm.weight`), c.normEps));
      return qh.map((v) => rope(v, t, c.ropeTheta));
    });
    const ks = h.map((x, t) => {
      let kh = heads(linearOutIn(x, get(w, `${p}.self_attn.k_proj.weight`), Hkv * D, bias('k_proj')), Hkv, D);
      if (c.qkNorm) kh = kh.map((v) => rmsNorm(v, get(w, `${p}.self_attn.k_norm.weight`), c.normEps));
      return kh.map((v) => rope(v, t, c.ropeTheta));
    });
    const vs = h.map((x) => heads(linearOutIn(x, get(w, `${p}.self_attn.v_proj.weight`), Hkv * D, bias('v_proj')), Hkv, D));
    const ctx = attend(qs, ks, vs, H, Hkv, D, c.slidingWindow ?? Infinity);
    xs = xs.map((x, t) => {
      const a = linearOutIn(ctx[t]!, get(w, `${p}.self_attn.o_proj.weight`), C);
      const r = x.map((v, i) => v + a[i]!);
      const n = rmsNorm(r, get(w, `${p}.post_attention_layernorm.weight`), c.normEps);
      const gate = linearOutIn(n, get(w, `${p}.mlp.gate_proj.weight`), F);
      const up = linearOutIn(n, get(w, `${p}.mlp.up_proj.weight`), F);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
      const m = linearOutIn(act, get(w, `${p}.mlp.down_proj.weight`), C);
      return r.map((v, i) => v + m[i]!);
    });
  }
  const head = c.tieWordEmbeddings ? emb : get(w, 'lm_head.weight');
  return xs.map((x) => linearOutIn(rmsNorm(x, get(w, 'model.norm.weight'), c.normEps), head, c.vocabSize));
}

function gpt2Reference(c: ModelConfig, w: WeightSource, tokens: number[]): Vec[] {
  const { hiddenSize: C, numHeads: H, headDim: D, intermediateSize: F } = c;
  const t = (n: string) => get(w, `transformer.${n}`);
  const wte = t('wte.weight');
  const wpe = t('wpe.weight');
  let xs = tokens.map((id, p) => wte.slice(id * C, (id + 1) * C).map((v, i) => v + wpe[p * C + i]!));
  for (let l = 0; l < c.numLayers; l++) {
    const p = `h.${l}`;
    const h = xs.map((x) => layerNorm(x, t(`${p}.ln_1.weight`), t(`${p}.ln_1.bias`), c.normEps));
    const qkv = h.map((x) => linearInOut(x, t(`${p}.attn.c_attn.weight`), 3 * C, t(`${p}.attn.c_attn.bias`)));
    const ctx = attend(
      qkv.map((v) => heads(v.slice(0, C), H, D)),
      qkv.map((v) => heads(v.slice(C, 2 * C), H, D)),
      qkv.map((v) => heads(v.slice(2 * C), H, D)),
      H,
      H,
      D,
    );
    xs = xs.map((x, i) => {
      const a = linearInOut(ctx[i]!, t(`${p}.attn.c_proj.weight`), C, t(`${p}.attn.c_proj.bias`));
      const r = x.map((v, j) => v + a[j]!);
      const n = layerNorm(r, t(`${p}.ln_2.weight`), t(`${p}.ln_2.bias`), c.normEps);
      const f = linearInOut(n, t(`${p}.mlp.c_fc.weight`), F, t(`${p}.mlp.c_fc.bias`));
      const g = f.map((u) => 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u ** 3))));
      const m = linearInOut(g, t(`${p}.mlp.c_proj.weight`), C, t(`${p}.mlp.c_proj.bias`));
      return r.map((v, j) => v + m[j]!);
    });
  }
  return xs.map((x) => linearInOut(layerNorm(x, t('ln_f.weight'), t('ln_f.bias'), c.normEps), transposeVocab(wte, c.vocabSize, C), c.vocabSize, new Float64Array(c.vocabSize)));
}

/** wte [V, C] → [C, V] so the tied head reads like the Conv1D linears. */
function transposeVocab(wte: Vec, V: number, C: number): Vec {
  const out = new Float64Array(V * C);
  for (let v = 0; v < V; v++) for (let i = 0; i < C; i++) out[i * V + v] = wte[v * C + i]!;
  return out;
}
