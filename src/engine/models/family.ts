/**
 * What a model family is to the rest of the product: its descriptor (which config.json architectures it
 * reads, how, which tensors it holds, its forward pass, how PEFT and llama.cpp name it) and what its forward
 * provides to the graphs built on it: the inference graph (prefill + decode with a KV cache) and the
 * training graph (full sequence, logits or token log-probs, LoRA deltas on linears).
 */
import type { ConfigFields } from '../hf/config.ts';
import type { GgufMetadata } from '../hf/gguf.ts';
import type { FamilySizes } from '../hf/sizes.ts';
import type { ModelConfig, WeightSource } from '../hf/types.ts';
import type { DType, Graph, Value } from '../graph/ir.ts';
import type { FrozenTable, WeightStorage } from './weights.ts';

/** One model family, registered in src/engine/models/families.ts. */
export interface ModelFamily {
  /** ModelConfig.family */
  name: string;
  /** config.json "architectures"[0] values this family reads */
  architectures: readonly string[];
  /** config.json → the shared ModelConfig (`architecture` is one of `architectures`) */
  parseConfig(fields: ConfigFields, architecture: string): ModelConfig;
  /** The checkpoint's tensors under the names `build` and `expectedWeights` use. */
  normalizeWeights(stored: WeightSource): WeightSource;
  /** Tensor names (as normalized) and shapes a checkpoint of this config holds. */
  expectedWeights(config: ModelConfig): Map<string, number[]>;
  /** The sizes config.json fixes, checked against the stored tensors (names as stored) before anything is sized by them. */
  storedSizes(config: ModelConfig, storedNames: readonly string[]): FamilySizes;
  build: FamilyBuilder;
  /** PEFT's fan_in_fan_out: the linears are stored [in, out] (GPT-2's Conv1D), not nn.Linear's [out, in]. */
  peftFanInFanOut: boolean;
  /** llama.cpp's general.architecture for this config. */
  ggufArch(config: ModelConfig): string;
  /** How llama.cpp's GGUF files of this family read (absent: the family opens no GGUF). */
  gguf?: GgufMapping;
  /** The next-token pretraining graph (src/engine/pretrain) supports this family. */
  pretraining: boolean;
  /** A minimal config.json of this family: the family conformance test builds every architecture from it. */
  tinyConfig: Readonly<Record<string, unknown>>;
}

/** A family's reading of GGUF files: its general.architecture values, the config and the tensor names. */
export interface GgufMapping {
  /** general.architecture values this family reads */
  architectures: readonly string[];
  /** `<arch>.*` metadata (and which tensors the file holds) → the shared ModelConfig */
  config(metadata: GgufMetadata, arch: string, tensorNames: ReadonlySet<string>): ModelConfig;
  /** Every tensor a GGUF of this config may hold, under its HF name (as `expectedWeights` names it). */
  tensors(config: ModelConfig, arch: string): GgufTensorName[];
}

export interface GgufTensorName {
  hf: string;
  gguf: string;
  /** Rows stored in llama.cpp's interleaved-rotary order for this many heads (arch llama's q/k): put back in HF order. */
  interleavedHeads?: number;
}

/** One linear layer of the model, named like its HF weight without `.weight` (e.g. `model.layers.3.self_attn.q_proj`). */
export interface LinearSite {
  name: string;
  layer: number;
  inFeatures: number;
  outFeatures: number;
}

/**
 * Called after every linear with its input and output: returns the output to use (y + scale·B(A(x)) for LoRA).
 * Returning `y` unchanged leaves the linear as it is.
 */
export type LinearHook = (site: LinearSite, x: Value, y: Value) => Value;

/** The key and value cache of one layer: [batch, kvHeads, length, headDim]. */
export interface LayerKv {
  key: Value;
  value: Value;
}

export interface ForwardInputs {
  /** int64 [batch, seq] */
  inputIds: Value;
  /** int64 [batch, seq]: each token's position in its own sequence (left padding makes them differ). */
  positions: Value;
  /** float [batch, seq, seq] among these tokens: 0 where a query may attend, MASKED where not (causal, padding). */
  attentionBias: Value;
  /** Cached keys/values of earlier tokens; absent for a full-sequence pass. */
  past?: PastContext;
  linearHook?: LinearHook;
  /**
   * Inference only: run linears that read the same input (q/k/v, gate/up) as one MatMul over side-by-side
   * weights (measured ~10% faster decode at one sequence). Off by default, so training graphs keep one
   * initializer and one hook site per HF weight.
   */
  groupProjections?: boolean;
  /**
   * Graphs that keep the base weights frozen (LoRA training): each nn.Linear weight is read as the checkpoint
   * stores it, [out, in], through a transposed product, so the graph shares the checkpoint's tensors instead
   * of transposed copies and the backward's dX = dY·W needs no transpose either. Graphs that train the base
   * weights (pretraining) keep the default [in, out] layout their optimizer state is in.
   */
  linearsAsStored?: boolean;
  /** How the linears' weights (and, for inference, the LM head's) are stored; default fp32. */
  weightStorage?: WeightStorage;
}

/** One layer's cache as the graph reads it: keys transposed [batch, kvHeads, headDim, slots], values [batch, kvHeads, slots, headDim]. */
export interface CachedLayer {
  keysT: Value;
  values: Value;
}

/** The KV cache as the graph sees it, and the queries' bias against its slots. */
export interface PastContext {
  layers: CachedLayer[];
  /** float [batch, seq, slots]: MASKED for empty slots and padding */
  bias: Value;
}

export interface ForwardResult {
  /** Final hidden states after the last norm: [batch, seq, hidden]. */
  hidden: Value;
  /** Keys/values of these tokens only, per layer (the caller appends them to its cache). */
  newKv: LayerKv[];
  /**
   * The residual stream entering each decoder layer, then leaving the last (numLayers + 1 values): where
   * training graphs cut the forward pass to recompute it layer by layer in the backward pass.
   */
  layerBoundaries: Value[];
}

export interface CausalLM {
  config: ModelConfig;
  dtype: DType;
  forward(inputs: ForwardInputs): ForwardResult;
  /** hidden [..., hidden] → logits [..., vocab] */
  lmHead(hidden: Value): Value;
  /** The LM head's [vocab, hidden] table as a frozen-base graph (LoRA training) reads it, after forward(). */
  frozenHead(): FrozenTable;
}

export type FamilyBuilder = (g: Graph, config: ModelConfig, weights: WeightSource, dtype: DType) => CausalLM;

/** A value bias for masked attention entries: exp() underflows to exactly 0, and sums stay finite. */
export const MASKED = -1e9;
