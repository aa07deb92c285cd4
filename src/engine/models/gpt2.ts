/**
 * GPT-2: learned position embeddings; pre-LayerNorm blocks of fused-qkv attention and a GELU(tanh) MLP;
 * final LayerNorm; LM head tied to the token embedding. HF stores its linears as Conv1D weights [in, out],
 * which is already the layout MatMul wants.
 */
import { type ConfigFields, tokenAndDtypeFields } from '../hf/config.ts';
import type { FamilySizes } from '../hf/sizes.ts';
import type { ModelConfig, WeightSource } from '../hf/types.ts';
import type { DType, Graph, Value } from '../graph/ir.ts';
import * as op from '../graph/ops.ts';
import { attention } from './attention.ts';
import type { CausalLM, ForwardInputs, ForwardResult, LayerKv, LinearHook, ModelFamily, PastContext } from './family.ts';
import { GraphWeights } from './weights.ts';

const PREFIX = 'transformer.';

export const gpt2Family: ModelFamily = {
  name: 'gpt2',
  architectures: ['GPT2LMHeadModel'],
  parseConfig: readGpt2Config,
  normalizeWeights: withPrefix,
  expectedWeights: gpt2Weights,
  storedSizes: (config, names) => gpt2Sizes(config, names.some((n) => n.startsWith(PREFIX)) ? PREFIX : ''),
  build: gpt2,
  peftFanInFanOut: true,
  ggufArch: () => 'gpt2',
  pretraining: false,
  tinyConfig: {
    architectures: ['GPT2LMHeadModel'],
    vocab_size: 40,
    n_embd: 16,
    n_layer: 2,
    n_head: 4,
    n_positions: 32,
  },
};

function readGpt2Config(f: ConfigFields, architecture: string): ModelConfig {
  const hiddenSize = f.positiveInt('n_embd');
  const numHeads = f.positiveInt('n_head');
  return {
    architecture,
    family: 'gpt2',
    modelType: f.optionalString('model_type') ?? 'gpt2',
    vocabSize: f.positiveInt('vocab_size'),
    hiddenSize,
    numLayers: f.positiveInt('n_layer'),
    numHeads,
    numKvHeads: numHeads,
    headDim: f.quotient(hiddenSize, numHeads, 'n_embd', 'n_head'),
    intermediateSize: f.optionalPositiveInt('n_inner') ?? 4 * hiddenSize,
    maxPositions: f.positiveInt('n_positions'),
    normEps: f.optionalPositiveNumber('layer_norm_epsilon') ?? 1e-5,
    // GPT-2 has learned absolute positions, no rotary embedding.
    ropeTheta: 0,
    ropeScaling: null,
    tieWordEmbeddings: f.optionalBoolean('tie_word_embeddings') ?? true,
    attentionBias: true,
    qkNorm: false,
    slidingWindow: null,
    ...tokenAndDtypeFields(f),
  };
}

/**
 * GPT-2 checkpoints come both with and without the `transformer.` prefix (the original OpenAI upload
 * vs save_pretrained); the forward sees one naming: `transformer.h.0.attn.c_attn.weight`.
 */
function withPrefix(weights: WeightSource): WeightSource {
  if (weights.names().some((name) => name.startsWith(PREFIX))) return weights;
  const inner = (name: string): string => (name.startsWith(PREFIX) ? name.slice(PREFIX.length) : name);
  return {
    names: () => weights.names().map((name) => (name.startsWith('lm_head.') ? name : `${PREFIX}${name}`)),
    has: (name) => weights.has(inner(name)),
    get: (name) => ({ ...weights.get(inner(name)), name }),
  };
}

function gpt2Weights(c: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const { hiddenSize: C, intermediateSize: F } = c;
  m.set(`${PREFIX}wte.weight`, [c.vocabSize, C]);
  m.set(`${PREFIX}wpe.weight`, [c.maxPositions, C]);
  for (let i = 0; i < c.numLayers; i++) {
    const p = `${PREFIX}h.${i}`;
    m.set(`${p}.ln_1.weight`, [C]).set(`${p}.ln_1.bias`, [C]);
    m.set(`${p}.attn.c_attn.weight`, [C, 3 * C]).set(`${p}.attn.c_attn.bias`, [3 * C]);
    m.set(`${p}.attn.c_proj.weight`, [C, C]).set(`${p}.attn.c_proj.bias`, [C]);
    m.set(`${p}.ln_2.weight`, [C]).set(`${p}.ln_2.bias`, [C]);
    m.set(`${p}.mlp.c_fc.weight`, [C, F]).set(`${p}.mlp.c_fc.bias`, [F]);
    m.set(`${p}.mlp.c_proj.weight`, [F, C]).set(`${p}.mlp.c_proj.bias`, [C]);
  }
  m.set(`${PREFIX}ln_f.weight`, [C]).set(`${PREFIX}ln_f.bias`, [C]);
  return m;
}

/** `prefix`: how the stored weights spell it, with or without `transformer.`. */
function gpt2Sizes(c: ModelConfig, prefix: string): FamilySizes {
  const hidden = { value: c.hiddenSize, field: 'n_embd' };
  return {
    layer: /^(?:transformer\.)?h\.(\d+)\./,
    layersField: 'n_layer',
    tensors: [
      { name: `${prefix}wte.weight`, dims: [{ value: c.vocabSize, field: 'vocab_size' }, hidden] },
      { name: `${prefix}wpe.weight`, dims: [{ value: c.maxPositions, field: 'n_positions' }, hidden] },
      { name: `${prefix}h.0.mlp.c_fc.weight`, dims: [hidden, { value: c.intermediateSize, field: 'n_inner' }] },
    ],
  };
}

export function gpt2(g: Graph, config: ModelConfig, source: WeightSource, dtype: DType): CausalLM {
  const w = new GraphWeights(g, source, dtype);
  const { hiddenSize: C, numHeads: H, headDim: D, intermediateSize: F, normEps: eps } = config;
  // the original OpenAI export has no `transformer.` prefix; transformers' own saves do
  const prefix = source.has(`${PREFIX}wte.weight`) ? PREFIX : '';

  function conv1d(x: Value, name: string, layer: number, inF: number, outF: number, hook?: LinearHook): Value {
    const y = op.add(w.product(x, [`${prefix}${name}.weight`], inF, [outF], 'columns'), w.tensor(`${prefix}${name}.bias`, [outF]));
    return hook ? hook({ name: `${prefix}${name}`, layer, inFeatures: inF, outFeatures: outF }, x, y) : y;
  }

  const layerNorm = (x: Value, name: string) => op.layerNorm(x, w.tensor(`${prefix}${name}.weight`, [C]), w.tensor(`${prefix}${name}.bias`, [C]), eps);
  const splitHeads = (x: Value) => op.transpose(op.reshape(x, [0, 0, H, D]), [0, 2, 1, 3]);

  function selfAttention(x: Value, i: number, bias: Value, past: PastContext | undefined, hook?: LinearHook) {
    const qkv = conv1d(x, `h.${i}.attn.c_attn`, i, C, 3 * C, hook);
    const q = splitHeads(op.slice(qkv, [0], [C], [-1]));
    const k = splitHeads(op.slice(qkv, [C], [2 * C], [-1]));
    const v = splitHeads(op.slice(qkv, [2 * C], [3 * C], [-1]));
    const cached = past ? { ...past.layers[i]!, bias: past.bias } : undefined;
    const context = attention(q, k, v, bias, cached, H, H, D);
    return { out: conv1d(context, `h.${i}.attn.c_proj`, i, C, C, hook), kv: { key: k, value: v } };
  }

  function mlp(x: Value, i: number, hook?: LinearHook): Value {
    const h = op.geluTanh(conv1d(x, `h.${i}.mlp.c_fc`, i, C, F, hook));
    return conv1d(h, `h.${i}.mlp.c_proj`, i, F, C, hook);
  }

  function forward({ inputIds, positions, attentionBias, past, linearHook, weightStorage = 'fp32' }: ForwardInputs): ForwardResult {
    w.storage = weightStorage;
    const tokens = w.embedding(inputIds, `${prefix}wte.weight`, config.vocabSize, C);
    let x = op.add(tokens, op.gather(w.tensor(`${prefix}wpe.weight`, [config.maxPositions, C]), positions));
    const newKv: LayerKv[] = [];
    const layerBoundaries: Value[] = [];
    for (let i = 0; i < config.numLayers; i++) {
      layerBoundaries.push(x);
      const attn = selfAttention(layerNorm(x, `h.${i}.ln_1`), i, attentionBias, past, linearHook);
      x = op.add(x, attn.out);
      x = op.add(x, mlp(layerNorm(x, `h.${i}.ln_2`), i, linearHook));
      newKv.push(attn.kv);
    }
    layerBoundaries.push(x);
    return { hidden: layerNorm(x, 'ln_f'), newKv, layerBoundaries };
  }

  const lmHead = (hidden: Value) => w.head(hidden, `${prefix}wte.weight`, config.vocabSize, C);

  const frozenHead = () => w.frozenTable(`${prefix}wte.weight`, config.vocabSize, C);
  return { config, dtype, forward, lmHead, frozenHead };
}
