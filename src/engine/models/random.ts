/**
 * In-memory checkpoints with random weights in Hugging Face naming, for tests and benchmarks: the expected
 * tensor names and shapes of each family, filled deterministically from a seed.
 */
import type { ModelConfig, Weight, WeightSource } from '../hf/types.ts';

/** HF tensor names and shapes a checkpoint of this config holds. */
export function expectedWeights(c: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const C = c.hiddenSize;
  if (c.family === 'gpt2') {
    m.set('transformer.wte.weight', [c.vocabSize, C]);
    m.set('transformer.wpe.weight', [c.maxPositions, C]);
    for (let i = 0; i < c.numLayers; i++) {
      const p = `transformer.h.${i}`;
      m.set(`${p}.ln_1.weight`, [C]).set(`${p}.ln_1.bias`, [C]);
      m.set(`${p}.attn.c_attn.weight`, [C, 3 * C]).set(`${p}.attn.c_attn.bias`, [3 * C]);
      m.set(`${p}.attn.c_proj.weight`, [C, C]).set(`${p}.attn.c_proj.bias`, [C]);
      m.set(`${p}.ln_2.weight`, [C]).set(`${p}.ln_2.bias`, [C]);
      m.set(`${p}.mlp.c_fc.weight`, [C, c.intermediateSize]).set(`${p}.mlp.c_fc.bias`, [c.intermediateSize]);
      m.set(`${p}.mlp.c_proj.weight`, [c.intermediateSize, C]).set(`${p}.mlp.c_proj.bias`, [C]);
    }
    m.set('transformer.ln_f.weight', [C]).set('transformer.ln_f.bias', [C]);
    return m;
  }
  const D = c.headDim;
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
    m.set(`${p}.mlp.gate_proj.weight`, [c.intermediateSize, C]);
    m.set(`${p}.mlp.up_proj.weight`, [c.intermediateSize, C]);
    m.set(`${p}.mlp.down_proj.weight`, [C, c.intermediateSize]);
  }
  m.set('model.norm.weight', [C]);
  if (!c.tieWordEmbeddings) m.set('lm_head.weight', [c.vocabSize, C]);
  return m;
}

/** A deterministic pseudo-random stream (xorshift32 → uniform in [-1, 1)). */
export function uniformStream(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 31 - 1;
  };
}

export function randomWeights(config: ModelConfig, seed = 1, scale = 0.05): WeightSource {
  const shapes = expectedWeights(config);
  const rand = uniformStream(seed);
  const tensors = new Map<string, Weight>();
  for (const [name, shape] of shapes) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    // norm gains around 1, biases and matrices small: activations stay O(1) through many layers
    const isNorm = /norm|ln_/.test(name) && name.endsWith('.weight');
    for (let i = 0; i < data.length; i++) data[i] = isNorm ? 1 + 0.1 * rand() : scale * rand();
    tensors.set(name, { name, shape, storedDtype: 'F32', data });
  }
  return {
    names: () => [...tensors.keys()],
    has: (name) => tensors.has(name),
    get(name) {
      const t = tensors.get(name);
      if (!t) throw new Error(`random checkpoint: missing tensor ${name}`);
      return t;
    },
  };
}

export function llamaConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return {
    architecture: 'LlamaForCausalLM',
    family: 'llama',
    modelType: 'llama',
    vocabSize: 96,
    hiddenSize: 32,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 8,
    intermediateSize: 48,
    maxPositions: 128,
    normEps: 1e-5,
    ropeTheta: 10000,
    tieWordEmbeddings: true,
    attentionBias: false,
    qkNorm: false,
    slidingWindow: null,
    bosTokenId: 1,
    eosTokenIds: [2],
    padTokenId: null,
    torchDtype: 'float32',
    ...overrides,
  };
}

/** SmolLM2-135M's shapes (random weights): the benchmark model. */
export function smolLM2Config(): ModelConfig {
  return llamaConfig({
    vocabSize: 49152,
    hiddenSize: 576,
    numLayers: 30,
    numHeads: 9,
    numKvHeads: 3,
    headDim: 64,
    intermediateSize: 1536,
    maxPositions: 8192,
    ropeTheta: 100000,
  });
}
