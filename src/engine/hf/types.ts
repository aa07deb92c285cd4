/**
 * What the engine knows about a Hugging Face checkpoint once loaded: the normalized config, the weights by
 * their HF tensor names, the tokenizer and the generation defaults. src/engine/hf produces it; the model
 * families (src/engine/models) and the sampler consume it.
 */

import type { CheckpointTokenizer } from './tokenizer.ts';

/** A registered model family's name (src/engine/models/families.ts): llama, gpt2. */
export type Family = string;

/** config.json, normalized across the families' architectures (each family's descriptor reads its own fields into it). */
export interface ModelConfig {
  architecture: string; // as in config.json "architectures"[0]
  family: Family;
  modelType: string; // config.json "model_type": llama, mistral, qwen2, qwen3, gpt2, …
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number; // = numHeads without GQA
  headDim: number; // explicit head_dim (Qwen3) or hiddenSize / numHeads
  intermediateSize: number;
  maxPositions: number;
  normEps: number; // rms_norm_eps or layer_norm_epsilon
  ropeTheta: number; // rope_theta or rope_parameters.rope_theta (llama family)
  /** Non-default RoPE (rope_type llama3, linear, yarn, …) with its numeric parameters; null for plain RoPE. A family that does not implement the type must reject the checkpoint. */
  ropeScaling?: RopeScaling | null;
  tieWordEmbeddings: boolean;
  attentionBias: boolean; // q/k/v bias (Qwen2 true, Llama attention_bias)
  qkNorm: boolean; // per-head q_norm / k_norm (Qwen3)
  slidingWindow: number | null;
  bosTokenId: number | null;
  eosTokenIds: number[];
  padTokenId: number | null;
  torchDtype: string | null;
}

export interface RopeScaling {
  type: string;
  parameters: Record<string, number>;
}

export type WeightDType = 'F32' | 'F16' | 'BF16';

/** One weight tensor, converted to float32 on load (the stored dtype is kept for reporting). */
export interface Weight {
  name: string;
  shape: number[];
  storedDtype: WeightDType;
  data: Float32Array;
}

/**
 * A 2-D weight as its file stores it when that is block-quantized (a GGUF Q8_0, Q4_0, … tensor), so that the
 * compiler can reuse the blocks for ONNX Runtime's MatMulNBits instead of dequantizing and quantizing again.
 * Rows are the HF layout's rows ([out, in]: one row per output feature, blocks running along `in`), already in
 * the HF row order (e.g. llama's q/k rows un-permuted).
 */
export interface StoredBlocks {
  /** The GGML type: 'Q8_0', 'Q4_0', 'Q4_1', 'Q4_K', 'Q5_K', 'Q6_K'. */
  type: string;
  /** [out, in] */
  shape: [number, number];
  /** out rows of GGML blocks, row after row, as in the file. */
  bytes: Uint8Array;
}

export interface WeightSource {
  names(): string[];
  has(name: string): boolean;
  /** Throws `<file>: missing tensor <name>` when absent. */
  get(name: string): Weight;
  /** The tensor's blocks when the file stores it block-quantized; undefined otherwise (get() always works). */
  blocks?(name: string): StoredBlocks | undefined;
  /** The GGML type of the blocks `blocks(name)` would return, without reading them. */
  blockType?(name: string): string | undefined;
  /** Drops the float32 copy converted for `name` (a compile that has stored it otherwise); get() converts again. */
  release?(name: string): void;
}

export interface GenerationDefaults {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  maxNewTokens?: number;
  repetitionPenalty?: number;
  eosTokenIds?: number[];
}

export interface Checkpoint {
  dir: string;
  config: ModelConfig;
  weights: WeightSource;
  generation: GenerationDefaults;
  /** From tokenizer.json + tokenizer_config.json (both required). */
  tokenizer: CheckpointTokenizer;
  /** sha256 over config.json, the safetensors headers and file sizes, and tokenizer.json: keys compiled-graph caches. */
  hash: string;
}
