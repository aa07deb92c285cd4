/**
 * The default model's architecture as a llama-family config: the shape chosen by measurement (see
 * scripts/train-base.ts), written as a standard config.json, and its initial weights (normal(0, 0.02) like
 * transformers' LlamaPreTrainedModel, residual-output projections scaled by 1/√(2·layers) as GPT-2 does,
 * norm gains 1), drawn deterministically from a seed.
 */
import type { ModelConfig, Weight, WeightSource } from '../engine/hf/types.ts';
import { expectedWeights } from '../engine/models/families.ts';
import { uniformStream } from '../engine/models/seededStream.ts';

export interface ModelShape {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
  maxPositions: number;
}

export interface SpecialIds {
  endOfText: number;
  pad: number;
}

export function modelConfigOf(shape: ModelShape, ids: SpecialIds): ModelConfig {
  if (shape.hiddenSize % shape.numHeads !== 0) throw new Error(`model shape: hidden ${shape.hiddenSize} is not a multiple of heads ${shape.numHeads}`);
  return {
    architecture: 'LlamaForCausalLM',
    family: 'llama',
    modelType: 'llama',
    vocabSize: shape.vocabSize,
    hiddenSize: shape.hiddenSize,
    numLayers: shape.numLayers,
    numHeads: shape.numHeads,
    numKvHeads: shape.numKvHeads,
    headDim: shape.hiddenSize / shape.numHeads,
    intermediateSize: shape.intermediateSize,
    maxPositions: shape.maxPositions,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    tieWordEmbeddings: true,
    attentionBias: false,
    qkNorm: false,
    slidingWindow: null,
    bosTokenId: null,
    eosTokenIds: [ids.endOfText],
    padTokenId: ids.pad,
    torchDtype: 'float32',
  };
}

/** config.json as transformers writes it for LlamaForCausalLM. */
export function configJson(c: ModelConfig): Record<string, unknown> {
  return {
    architectures: [c.architecture],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    hidden_act: 'silu',
    max_position_embeddings: c.maxPositions,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: c.tieWordEmbeddings,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenIds[0] ?? null,
    pad_token_id: c.padTokenId,
    initializer_range: 0.02,
    torch_dtype: 'float32',
    use_cache: true,
  };
}

/** A deterministic standard-normal stream (Box–Muller over the engine's xorshift stream). */
export function normalStream(seed: number): () => number {
  const uniform = uniformStream(seed);
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = (uniform() + 1) / 2 || Number.MIN_VALUE;
    const radius = Math.sqrt(-2 * Math.log(u));
    const angle = Math.PI * (uniform() + 1);
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

/** Fresh weights in HF naming and layout. */
export function initialWeights(config: ModelConfig, seed: number): WeightSource {
  const normal = normalStream(seed);
  const residualScale = 1 / Math.sqrt(2 * config.numLayers);
  const tensors = new Map<string, Weight>();
  for (const [name, shape] of expectedWeights(config)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('norm.weight')) data.fill(1);
    else {
      const std = 0.02 * (/(o_proj|down_proj)\.weight$/.test(name) ? residualScale : 1);
      for (let i = 0; i < data.length; i++) data[i] = std * normal();
    }
    tensors.set(name, { name, shape, storedDtype: 'F32', data });
  }
  return weightSource(tensors);
}

export function weightSource(tensors: ReadonlyMap<string, Weight>): WeightSource {
  return {
    names: () => [...tensors.keys()],
    has: (name) => tensors.has(name),
    get(name) {
      const t = tensors.get(name);
      if (!t) throw new Error(`pretraining: missing tensor ${name}`);
      return t;
    },
  };
}
