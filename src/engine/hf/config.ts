/**
 * config.json → ModelConfig. Llama-like architectures (Llama, Mistral, Qwen2, Qwen3) share one reader;
 * GPT-2 has its own field names. Defaults follow the transformers config classes.
 */
import { join } from 'node:path';
import { InputError } from '../../inputError.ts';
import { isRecord, readJsonFile } from './json-file.ts';
import type { Family, ModelConfig, RopeScaling } from './types.ts';

interface ArchitectureInfo {
  family: Family;
  /** q/k/v projections carry a bias regardless of attention_bias (Qwen2). */
  qkvBias: boolean;
  qkNorm: boolean;
}

const ARCHITECTURES: Record<string, ArchitectureInfo> = {
  LlamaForCausalLM: { family: 'llama', qkvBias: false, qkNorm: false },
  MistralForCausalLM: { family: 'llama', qkvBias: false, qkNorm: false },
  Qwen2ForCausalLM: { family: 'llama', qkvBias: true, qkNorm: false },
  Qwen3ForCausalLM: { family: 'llama', qkvBias: false, qkNorm: true },
  GPT2LMHeadModel: { family: 'gpt2', qkvBias: true, qkNorm: false },
};

export const SUPPORTED_ARCHITECTURES: readonly string[] = Object.keys(ARCHITECTURES);

/**
 * The most positions the engine gives a model. Rotary tables hold a row per position and no tensor bounds
 * max_position_embeddings, so a config claiming 10⁷ would allocate gigabytes; 131072 is Llama 3's context.
 */
export const MAX_CONTEXT = 131_072;

/** Positions a sequence may use: max_position_embeddings, at most MAX_CONTEXT. */
export function contextLength(config: Pick<ModelConfig, 'maxPositions'>): number {
  return Math.min(config.maxPositions, MAX_CONTEXT);
}

export async function readModelConfig(dir: string): Promise<ModelConfig> {
  const path = join(dir, 'config.json');
  return parseModelConfig(await readJsonFile(path), path);
}

/** `path` only names the file in error messages. */
export function parseModelConfig(json: unknown, path: string): ModelConfig {
  if (!isRecord(json)) throw new InputError(`${path}: config is not a JSON object`);
  const fields = new ConfigFields(json, path);
  const architectures = json['architectures'];
  const architecture = Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : null;
  if (architecture === null) throw new InputError(`${path}: missing config field "architectures"`);
  const info = ARCHITECTURES[architecture];
  if (!info) {
    throw new InputError(`${path}: unknown architecture ${architecture} (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`);
  }
  return info.family === 'gpt2' ? gpt2Config(fields, architecture) : llamaLikeConfig(fields, architecture, info);
}

function llamaLikeConfig(f: ConfigFields, architecture: string, info: ArchitectureInfo): ModelConfig {
  const hiddenSize = f.positiveInt('hidden_size');
  const numHeads = f.positiveInt('num_attention_heads');
  const numKvHeads = f.optionalPositiveInt('num_key_value_heads') ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    throw new InputError(`${f.path}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  }
  const headDim = f.optionalPositiveInt('head_dim') ?? exactDivision(f, hiddenSize, numHeads, 'hidden_size', 'num_attention_heads');
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
    bosTokenId: f.optionalTokenId('bos_token_id'),
    eosTokenIds: f.tokenIds('eos_token_id'),
    padTokenId: f.optionalTokenId('pad_token_id'),
    torchDtype: f.optionalString('torch_dtype') ?? f.optionalString('dtype'),
  };
}

function gpt2Config(f: ConfigFields, architecture: string): ModelConfig {
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
    headDim: exactDivision(f, hiddenSize, numHeads, 'n_embd', 'n_head'),
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
    bosTokenId: f.optionalTokenId('bos_token_id'),
    eosTokenIds: f.tokenIds('eos_token_id'),
    padTokenId: f.optionalTokenId('pad_token_id'),
    torchDtype: f.optionalString('torch_dtype') ?? f.optionalString('dtype'),
  };
}

/** transformers ≤ 4 writes rope_theta (+ rope_scaling); transformers 5 writes rope_parameters. */
function ropeSettings(f: ConfigFields): { theta: number; scaling: RopeScaling | null } {
  const parameters = f.raw['rope_parameters'];
  if (parameters !== undefined && parameters !== null) {
    if (!isRecord(parameters)) throw new InputError(`${f.path}: rope_parameters is not an object`);
    const theta = parameters['rope_theta'];
    if (typeof theta !== 'number' || !(theta > 0)) {
      throw new InputError(`${f.path}: missing config field "rope_parameters.rope_theta"`);
    }
    return { theta, scaling: ropeScaling(parameters) };
  }
  const legacy = f.raw['rope_scaling'];
  return {
    theta: f.optionalPositiveNumber('rope_theta') ?? 10000,
    scaling: isRecord(legacy) ? ropeScaling(legacy) : null,
  };
}

function ropeScaling(parameters: Record<string, unknown>): RopeScaling | null {
  const type = parameters['rope_type'] ?? parameters['type'] ?? 'default';
  if (type === 'default') return null;
  const numbers: Record<string, number> = {};
  for (const [key, value] of Object.entries(parameters)) {
    if (typeof value === 'number' && key !== 'rope_theta') numbers[key] = value;
  }
  return { type: String(type), parameters: numbers };
}

function slidingWindow(f: ConfigFields, modelType: string): number | null {
  // Qwen2/Qwen3 configs carry a sliding_window value that only applies when use_sliding_window is set.
  if ((modelType === 'qwen2' || modelType === 'qwen3') && f.optionalBoolean('use_sliding_window') !== true) return null;
  return f.optionalPositiveInt('sliding_window');
}

function exactDivision(f: ConfigFields, a: number, b: number, aName: string, bName: string): number {
  if (a % b !== 0) throw new InputError(`${f.path}: ${aName} ${a} is not divisible by ${bName} ${b}`);
  return a / b;
}

/** Typed access to config.json fields; every problem is one line naming the file and the field. */
class ConfigFields {
  readonly raw: Record<string, unknown>;
  readonly path: string;

  constructor(raw: Record<string, unknown>, path: string) {
    this.raw = raw;
    this.path = path;
  }

  positiveInt(name: string): number {
    const value = this.optionalPositiveInt(name);
    if (value === null) throw new InputError(`${this.path}: missing config field "${name}"`);
    return value;
  }

  optionalPositiveInt(name: string): number | null {
    const value = this.raw[name];
    if (value === undefined || value === null) return null;
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new InputError(`${this.path}: config field "${name}" must be a positive integer, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  optionalPositiveNumber(name: string): number | null {
    const value = this.raw[name];
    if (value === undefined || value === null) return null;
    if (typeof value !== 'number' || !(value > 0)) {
      throw new InputError(`${this.path}: config field "${name}" must be a positive number, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  optionalBoolean(name: string): boolean | null {
    const value = this.raw[name];
    if (value === undefined || value === null) return null;
    if (typeof value !== 'boolean') {
      throw new InputError(`${this.path}: config field "${name}" must be true or false, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  optionalString(name: string): string | null {
    const value = this.raw[name];
    return typeof value === 'string' ? value : null;
  }

  optionalTokenId(name: string): number | null {
    const value = this.raw[name];
    if (value === undefined || value === null) return null;
    if (Array.isArray(value)) return this.tokenIds(name)[0] ?? null;
    return this.checkedTokenId(name, value);
  }

  /** eos_token_id may be one id or a list. */
  tokenIds(name: string): number[] {
    const value = this.raw[name];
    if (value === undefined || value === null) return [];
    const values = Array.isArray(value) ? (value as unknown[]) : [value];
    return values.map((v) => this.checkedTokenId(name, v));
  }

  private checkedTokenId(name: string, value: unknown): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new InputError(`${this.path}: config field "${name}" must be a token id, got ${JSON.stringify(value)}`);
    }
    return value;
  }
}
