/**
 * The llama family: Llama, Mistral, SmolLM (plain), Qwen2 (q/k/v bias), Qwen3 (per-head q_norm/k_norm,
 * explicit head_dim). Pre-norm decoder: RMSNorm → attention with rotary positions and grouped KV heads →
 * residual → RMSNorm → SwiGLU MLP → residual; final RMSNorm; LM head (tied to the embedding or not).
 */
import { InputError } from '../../inputError.ts';
import { type ConfigFields, contextLength, ropeSettings, tokenAndDtypeFields } from '../hf/config.ts';
import type { FamilySizes } from '../hf/sizes.ts';
import type { GgufMetadata } from '../hf/gguf.ts';
import type { ModelConfig, RopeScaling, WeightSource } from '../hf/types.ts';
import type { DType, Graph, Value } from '../graph/ir.ts';
import * as op from '../graph/ops.ts';
import type { CausalLM, ForwardInputs, ForwardResult, GgufTensorName, LayerKv, LinearHook, ModelFamily, PastContext } from './family.ts';
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
  gguf: { architectures: ['llama', 'qwen2', 'qwen3'], config: readLlamaGgufConfig, tensors: llamaGgufTensors },
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

/** GGUF general.architecture → the HF architecture it holds (Mistral's GGUFs are arch `llama`). */
const GGUF_ARCHITECTURES: Record<string, string> = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' };

function readLlamaGgufConfig(m: GgufMetadata, arch: string, tensorNames: ReadonlySet<string>): ModelConfig {
  const architecture = GGUF_ARCHITECTURES[arch]!;
  const info = ARCHITECTURES[architecture]!;
  const key = (name: string) => `${arch}.${name}`;
  const hiddenSize = m.positiveInt(key('embedding_length'));
  const numHeads = m.positiveInt(key('attention.head_count'));
  const numKvHeads = m.optionalPositiveInt(key('attention.head_count_kv')) ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    throw new InputError(`${m.path}: ${key('attention.head_count')} ${numHeads} is not a multiple of ${key('attention.head_count_kv')} ${numKvHeads}`);
  }
  const headDim = m.optionalPositiveInt(key('attention.key_length')) ?? hiddenSize / numHeads;
  if (!Number.isInteger(headDim)) throw new InputError(`${m.path}: ${key('embedding_length')} ${hiddenSize} is not divisible by ${key('attention.head_count')} ${numHeads}`);
  const rotated = m.optionalPositiveInt(key('rope.dimension_count'));
  if (rotated !== null && rotated !== headDim) throw new InputError(`${m.path}: partial rotary (${key('rope.dimension_count')} ${rotated} of head size ${headDim}) is not supported`);
  // Llama 3.1's frequency factors are stored as a tensor, not as parameters the rotary tables take
  if (tensorNames.has('rope_freqs.weight')) throw new InputError(`${m.path}: per-frequency RoPE factors (tensor rope_freqs, Llama 3.1 scaling) are not supported`);
  const eos = m.optionalTokenId('tokenizer.ggml.eos_token_id');
  return {
    architecture,
    family: 'llama',
    modelType: arch,
    vocabSize: m.strings('tokenizer.ggml.tokens').length,
    hiddenSize,
    numLayers: m.positiveInt(key('block_count')),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: m.positiveInt(key('feed_forward_length')),
    maxPositions: m.optionalPositiveInt(key('context_length')) ?? 2048,
    normEps: m.optionalNumber(key('attention.layer_norm_rms_epsilon')) ?? 1e-6,
    ropeTheta: m.optionalNumber(key('rope.freq_base')) ?? 10000,
    ropeScaling: ggufRopeScaling(m, arch),
    tieWordEmbeddings: !tensorNames.has('output.weight'),
    attentionBias: info.qkvBias || tensorNames.has('blk.0.attn_q.bias'),
    qkNorm: info.qkNorm,
    slidingWindow: null,
    bosTokenId: m.optionalTokenId('tokenizer.ggml.bos_token_id'),
    eosTokenIds: eos === null ? [] : [eos],
    padTokenId: m.optionalTokenId('tokenizer.ggml.padding_token_id'),
    torchDtype: null,
  };
}

function ggufRopeScaling(m: GgufMetadata, arch: string): RopeScaling | null {
  const type = m.optionalString(`${arch}.rope.scaling.type`);
  if (type === null || type === 'none') return null;
  const factor = m.optionalNumber(`${arch}.rope.scaling.factor`);
  if (type !== 'linear' || factor === null) throw new InputError(`${m.path}: RoPE scaling ${type} is not supported (linear with a factor is)`);
  return { type, parameters: { factor } };
}

/** HF tensor name after `model.layers.N.` → llama.cpp's after `blk.N.` */
const GGUF_LAYER_TENSORS: readonly [string, string][] = [
  ['input_layernorm.weight', 'attn_norm.weight'],
  ['self_attn.q_proj.weight', 'attn_q.weight'],
  ['self_attn.k_proj.weight', 'attn_k.weight'],
  ['self_attn.v_proj.weight', 'attn_v.weight'],
  ['self_attn.q_proj.bias', 'attn_q.bias'],
  ['self_attn.k_proj.bias', 'attn_k.bias'],
  ['self_attn.v_proj.bias', 'attn_v.bias'],
  ['self_attn.q_norm.weight', 'attn_q_norm.weight'],
  ['self_attn.k_norm.weight', 'attn_k_norm.weight'],
  ['self_attn.o_proj.weight', 'attn_output.weight'],
  ['post_attention_layernorm.weight', 'ffn_norm.weight'],
  ['mlp.gate_proj.weight', 'ffn_gate.weight'],
  ['mlp.up_proj.weight', 'ffn_up.weight'],
  ['mlp.down_proj.weight', 'ffn_down.weight'],
];

function llamaGgufTensors(c: ModelConfig, arch: string): GgufTensorName[] {
  const names: GgufTensorName[] = [
    { hf: 'model.embed_tokens.weight', gguf: 'token_embd.weight' },
    { hf: 'model.norm.weight', gguf: 'output_norm.weight' },
    { hf: 'lm_head.weight', gguf: 'output.weight' },
  ];
  // llama.cpp's converter interleaves the rotary halves of q/k rows for arch llama only (its qwen2/qwen3 rotate halves)
  const interleaved = (hf: string): number | undefined => {
    if (arch !== 'llama') return undefined;
    if (hf.startsWith('self_attn.q_proj.')) return c.numHeads;
    return hf.startsWith('self_attn.k_proj.') ? c.numKvHeads : undefined;
  };
  for (let i = 0; i < c.numLayers; i++) {
    for (const [hf, gguf] of GGUF_LAYER_TENSORS) {
      const interleavedHeads = interleaved(hf);
      names.push({ hf: `model.layers.${i}.${hf}`, gguf: `blk.${i}.${gguf}`, ...(interleavedHeads ? { interleavedHeads } : {}) });
    }
  }
  return names;
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
    let y = asStored ? timesTransposed(x, w.frozenLinear(`${name}.weight`, inF, outF)) : w.product(x, [`${name}.weight`], inF, [outF]);
    if (bias) y = op.add(y, w.tensor(`${name}.bias`, [outF]));
    return hook ? hook({ name, layer, inFeatures: inF, outFeatures: outF }, x, y) : y;
  }

  /** Linears reading the same input: each its own MatMul, or with `grouped` one MatMul over side-by-side weights, then split. */
  function linears(x: Value, names: string[], layer: number, inF: number, outs: number[], bias: boolean, hook: LinearHook | undefined, grouped: boolean): Value[] {
    if (hook || !grouped) return names.map((name, n) => linear(x, name, layer, inF, outs[n]!, bias, hook));
    let y = w.product(x, names.map((name) => `${name}.weight`), inF, outs);
    if (bias) y = op.add(y, w.groupBias(names.map((name) => `${name}.bias`), outs));
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

  function forward({ inputIds, positions, attentionBias, past, linearHook, groupProjections = false, linearsAsStored = false, weightStorage = 'fp32' }: ForwardInputs): ForwardResult {
    asStored = linearsAsStored;
    w.frozenBase = linearsAsStored;
    w.storage = weightStorage;
    // rotary angles of each token's own position: [B, 1, T, D/2], shared by all heads and layers
    const cos = op.unsqueeze(op.gather(cosTable, positions), [1]);
    const sin = op.unsqueeze(op.gather(sinTable, positions), [1]);
    let x = w.embedding(inputIds, 'model.embed_tokens.weight', config.vocabSize, C);
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

  const headName = config.tieWordEmbeddings || !w.has('lm_head.weight') ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const lmHead = (hidden: Value) => w.head(hidden, headName, config.vocabSize, C);
  const frozenHead = () => w.frozenTable(headName, config.vocabSize, C);

  return { config, dtype, forward, lmHead, frozenHead };
}
