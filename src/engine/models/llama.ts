/**
 * The llama family: Llama, Mistral, SmolLM (plain), Qwen2 (q/k/v bias), Qwen3 (per-head q_norm/k_norm,
 * explicit head_dim). Pre-norm decoder: RMSNorm → attention with rotary positions and grouped KV heads →
 * residual → RMSNorm → SwiGLU MLP → residual; final RMSNorm; LM head (tied to the embedding or not).
 */
import { InputError } from '../../inputError.ts';
import { type ConfigFields, contextLength, ropeSettings, tokenAndDtypeFields } from '../hf/config.ts';
import type { FamilySizes } from '../hf/sizes.ts';
import type { ModelConfig, WeightSource } from '../hf/types.ts';
import type { DType, Graph, Value } from '../graph/ir.ts';
import * as op from '../graph/ops.ts';
import type { CausalLM, ForwardInputs, ForwardResult, LayerKv, LinearHook, ModelFamily, PastContext } from './family.ts';
import { GraphWeights, timesTransposed } from './weights.ts';
import { attention, rotaryTables } from './attention.ts';

interface Architecture {
  /** q/k/v projections carry a bias regardless of attention_bias (Qwen2). */
  qkvBias: boolean;
  qkNorm: boolean;
  /** llama.cpp's name: its `qwen2`/`qwen3` rotate halves like HF, its `llama` rotates interleaved pairs */
  ggufArch: string;
}

const ARCHITECTURES: Record<string, Architecture> = {
  LlamaForCausalLM: { qkvBias: false, qkNorm: false, ggufArch: 'llama' },
  MistralForCausalLM: { qkvBias: false, qkNorm: false, ggufArch: 'llama' },
  Qwen2ForCausalLM: { qkvBias: true, qkNorm: false, ggufArch: 'qwen2' },
  Qwen3ForCausalLM: { qkvBias: false, qkNorm: true, ggufArch: 'qwen3' },
};

export const llamaFamily: ModelFamily = {
  name: 'llama',
  architectures: Object.keys(ARCHITECTURES),
  parseConfig: readLlamaConfig,
  normalizeWeights: (stored) => stored,
  expectedWeights: llamaWeights,
  storedSizes: llamaSizes,
  build: llama,
  peftFanInFanOut: false,
  ggufArch: (config) => ARCHITECTURES[config.architecture]?.ggufArch ?? 'llama',
  pretraining: true,
  tinyConfig: {
    architectures: ['LlamaForCausalLM'],
    vocab_size: 40,
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 32,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: false,
  },
};

function readLlamaConfig(f: ConfigFields, architecture: string): ModelConfig {
  const info = ARCHITECTURES[architecture]!;
  const hiddenSize = f.positiveInt('hidden_size');
  const numHeads = f.positiveInt('num_attention_heads');
  const numKvHeads = f.optionalPositiveInt('num_key_value_heads') ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    throw new InputError(`${f.path}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  }
  const headDim = f.optionalPositiveInt('head_dim') ?? f.quotient(hiddenSize, numHeads, 'hidden_size', 'num_attention_heads');
  const rope = ropeSettings(f);
  const modelType = f.optionalString('model_type') ?? architecture.replace(/ForCausalLM$/, '').toLowerCase();
  return {
    architecture,
    family: 'llama',
    modelType,
    vocabSize: f.positiveInt('vocab_size'),
    hiddenSize,
    numLayers: f.positiveInt('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: f.positiveInt('intermediate_size'),
    maxPositions: f.optionalPositiveInt('max_position_embeddings') ?? 2048,
    normEps: f.optionalPositiveNumber('rms_norm_eps') ?? 1e-6,
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    tieWordEmbeddings: f.optionalBoolean('tie_word_embeddings') ?? false,
    attentionBias: info.qkvBias || (f.optionalBoolean('attention_bias') ?? false),
    qkNorm: info.qkNorm,
    slidingWindow: slidingWindow(f, modelType),
    ...tokenAndDtypeFields(f),
  };
}

function slidingWindow(f: ConfigFields, modelType: string): number | null {
  // Qwen2/Qwen3 configs carry a sliding_window value that only applies when use_sliding_window is set.
  if ((modelType === 'qwen2' || modelType === 'qwen3') && f.optionalBoolean('use_sliding_window') !== true) return null;
  return f.optionalPositiveInt('sliding_window');
}

function llamaWeights(c: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const { hiddenSize: C, headDim: D, intermediateSize: F } = c;
  m.set('model.embed_tokens.weight', [c.vocabSize, C]);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    m.set(`${p}.input_layernorm.weight`, [C]);
    m.set(`${p}.self_attn.q_proj.weight`, [c.numHeads * D, C]);
    m.set(`${p}.self_attn.k_proj.weight`, [c.numKvHeads * D, C]);
    m.set(`${p}.self_attn.v_proj.weight`, [c.numKvHeads * D, C]);
    if (c.attentionBias) {
      m.set(`${p}.self_attn.q_proj.bias`, [c.numHeads * D]);
      m.set(`${p}.self_attn.k_proj.bias`, [c.numKvHeads * D]);
      m.set(`${p}.self_attn.v_proj.bias`, [c.numKvHeads * D]);
    }
    if (c.qkNorm) m.set(`${p}.self_attn.q_norm.weight`, [D]).set(`${p}.self_attn.k_norm.weight`, [D]);
    m.set(`${p}.self_attn.o_proj.weight`, [C, c.numHeads * D]);
    m.set(`${p}.post_attention_layernorm.weight`, [C]);
    m.set(`${p}.mlp.gate_proj.weight`, [F, C]);
    m.set(`${p}.mlp.up_proj.weight`, [F, C]);
    m.set(`${p}.mlp.down_proj.weight`, [C, F]);
  }
  m.set('model.norm.weight', [C]);
  if (!c.tieWordEmbeddings) m.set('lm_head.weight', [c.vocabSize, C]);
  return m;
}

function llamaSizes(c: ModelConfig): FamilySizes {
  const hidden = { value: c.hiddenSize, field: 'hidden_size' };
  const heads = (field: string, n: number) => ({ value: n * c.headDim, field: `${field} × head_dim (${n} × ${c.headDim})` });
  return {
    layer: /^model\.layers\.(\d+)\./,
    layersField: 'num_hidden_layers',
    tensors: [
      { name: 'model.embed_tokens.weight', dims: [{ value: c.vocabSize, field: 'vocab_size' }, hidden] },
      { name: 'model.layers.0.self_attn.q_proj.weight', dims: [heads('num_attention_heads', c.numHeads), hidden] },
      { name: 'model.layers.0.self_attn.k_proj.weight', dims: [heads('num_key_value_heads', c.numKvHeads), hidden] },
      { name: 'model.layers.0.mlp.gate_proj.weight', dims: [{ value: c.intermediateSize, field: 'intermediate_size' }, hidden] },
    ],
  };
}

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
