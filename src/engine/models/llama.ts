/**
 * The llama family: Llama, Mistral, SmolLM (plain), Qwen2 (q/k/v bias), Qwen3 (per-head q_norm/k_norm,
 * explicit head_dim). Pre-norm decoder: RMSNorm → attention with rotary positions and grouped KV heads →
 * residual → RMSNorm → SwiGLU MLP → residual; final RMSNorm; LM head (tied to the embedding or not).
 */
import { InputError } from '../../inputError.ts';
import { contextLength } from '../hf/config.ts';
import type { ModelConfig, WeightSource } from '../hf/types.ts';
import type { DType, Graph, Value } from '../graph/ir.ts';
import * as op from '../graph/ops.ts';
import type { CausalLM, ForwardInputs, ForwardResult, LayerKv, LinearHook, PastContext } from './family.ts';
import { GraphWeights } from './weights.ts';
import { attention, rotaryTables } from './attention.ts';

export function llama(g: Graph, config: ModelConfig, source: WeightSource, dtype: DType): CausalLM {
  const w = new GraphWeights(g, source, dtype);
  const { hiddenSize: C, numHeads: H, numKvHeads: Hkv, headDim: D, intermediateSize: F, normEps: eps } = config;
  if (H % Hkv !== 0) throw new InputError(`config.json: num_attention_heads ${H} is not a multiple of num_key_value_heads ${Hkv}`);
  const { cos: cosTable, sin: sinTable } = rotaryTables(g, contextLength(config), D, config.ropeTheta, dtype, config.ropeScaling);

  // set per forward pass: whether linears read their weights as stored ([out, in]) or transposed ([in, out])
  let asStored = false;

  function linear(x: Value, name: string, layer: number, inF: number, outF: number, bias: boolean, hook?: LinearHook): Value {
    let y = asStored ? timesTransposed(x, w.tensor(`${name}.weight`, [outF, inF])) : op.matmul(x, w.linear(`${name}.weight`, inF, outF));
    if (bias) y = op.add(y, w.tensor(`${name}.bias`, [outF]));
    return hook ? hook({ name, layer, inFeatures: inF, outFeatures: outF }, x, y) : y;
  }

  /** Linears reading the same input: each its own MatMul, or with `grouped` one MatMul over side-by-side weights, then split. */
  function linears(x: Value, names: string[], layer: number, inF: number, outs: number[], bias: boolean, hook: LinearHook | undefined, grouped: boolean): Value[] {
    if (hook || !grouped) return names.map((name, n) => linear(x, name, layer, inF, outs[n]!, bias, hook));
    const group = w.linearGroup(names, inF, outs, bias);
    let y = op.matmul(x, group.weight);
    if (group.bias) y = op.add(y, group.bias);
    let offset = 0;
    return outs.map((out) => op.slice(y, [offset], [(offset += out)], [-1]));
  }

  /** [B, T, heads·D] → [B, heads, T, D] */
  const splitHeads = (x: Value, heads: number) => op.transpose(op.reshape(x, [0, 0, heads, D]), [0, 2, 1, 3]);

  function selfAttention(x: Value, i: number, cos: Value, sin: Value, bias: Value, past: PastContext | undefined, hook: LinearHook | undefined, grouped: boolean) {
    const p = `model.layers.${i}.self_attn`;
    const [qFlat, kFlat, vFlat] = linears(x, [`${p}.q_proj`, `${p}.k_proj`, `${p}.v_proj`], i, C, [H * D, Hkv * D, Hkv * D], config.attentionBias, hook, grouped);
    let q = splitHeads(qFlat!, H);
    let k = splitHeads(kFlat!, Hkv);
    const vNew = splitHeads(vFlat!, Hkv);
    if (config.qkNorm) {
      q = op.rmsNorm(q, w.tensor(`${p}.q_norm.weight`, [D]), eps);
      k = op.rmsNorm(k, w.tensor(`${p}.k_norm.weight`, [D]), eps);
    }
    q = op.rotary(q, cos, sin);
    k = op.rotary(k, cos, sin);
    const cached = past ? { ...past.layers[i]!, bias: past.bias } : undefined;
    const context = attention(q, k, vNew, bias, cached, H, Hkv, D); // [B, T, H·D]
    return { out: linear(context, `${p}.o_proj`, i, H * D, C, false, hook), kv: { key: k, value: vNew } };
  }

  function mlp(x: Value, i: number, hook: LinearHook | undefined, grouped: boolean): Value {
    const p = `model.layers.${i}.mlp`;
    const [gate, up] = linears(x, [`${p}.gate_proj`, `${p}.up_proj`], i, C, [F, F], false, hook, grouped);
    const silu = op.mul(gate!, op.sigmoid(gate!));
    return linear(op.mul(silu, up!), `${p}.down_proj`, i, F, C, false, hook);
  }

  function forward({ inputIds, positions, attentionBias, past, linearHook, groupProjections = false, linearsAsStored = false }: ForwardInputs): ForwardResult {
    asStored = linearsAsStored;
    // rotary angles of each token's own position: [B, 1, T, D/2], shared by all heads and layers
    const cos = op.unsqueeze(op.gather(cosTable, positions), [1]);
    const sin = op.unsqueeze(op.gather(sinTable, positions), [1]);
    let x = op.gather(w.tensor('model.embed_tokens.weight', [config.vocabSize, C]), inputIds);
    const newKv: LayerKv[] = [];
    const layerBoundaries: Value[] = [];
    for (let i = 0; i < config.numLayers; i++) {
      layerBoundaries.push(x);
      const p = `model.layers.${i}`;
      const attn = selfAttention(op.rmsNorm(x, w.tensor(`${p}.input_layernorm.weight`, [C]), eps), i, cos, sin, attentionBias, past, linearHook, groupProjections);
      x = op.add(x, attn.out);
      x = op.add(x, mlp(op.rmsNorm(x, w.tensor(`${p}.post_attention_layernorm.weight`, [C]), eps), i, linearHook, groupProjections));
      newKv.push(attn.kv);
    }
    layerBoundaries.push(x);
    return { hidden: op.rmsNorm(x, w.tensor('model.norm.weight', [C]), eps), newKv, layerBoundaries };
  }

  function lmHead(hidden: Value): Value {
    const head =
      config.tieWordEmbeddings || !w.has('lm_head.weight')
        ? w.tensor('model.embed_tokens.weight', [config.vocabSize, C])
        : w.tensor('lm_head.weight', [config.vocabSize, C]);
    return timesTransposed(hidden, head);
  }

  return { config, dtype, forward, lmHead };
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
