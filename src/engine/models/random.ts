/**
 * Test and benchmark fixtures: in-memory checkpoints with random weights under the names and shapes a family's
 * descriptor expects, filled deterministically from a seed, and small llama-family configs.
 */
import type { ModelConfig, Weight, WeightSource } from '../hf/types.ts';
import { expectedWeights } from './families.ts';
import { uniformStream } from './seededStream.ts';

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
