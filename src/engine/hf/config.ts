/**
 * Generic readers of config.json fields, and the context length the engine gives a model. Each family's
 * descriptor (src/engine/models) reads its own field names with them; src/engine/models/families.ts picks the
 * family by "architectures". Defaults follow the transformers config classes.
 */
import { InputError } from '../../inputError.ts';
import { isRecord } from './json-file.ts';
import type { ModelConfig, RopeScaling } from './types.ts';

/**
 * The most positions the engine gives a model. Rotary tables hold a row per position and no tensor bounds
 * max_position_embeddings, so a config claiming 10⁷ would allocate gigabytes; 131072 is Llama 3's context.
 */
export const MAX_CONTEXT = 131_072;

/** Positions a sequence may use: max_position_embeddings, at most MAX_CONTEXT. */
export function contextLength(config: Pick<ModelConfig, 'maxPositions'>): number {
  return Math.min(config.maxPositions, MAX_CONTEXT);
}

/** The fields every family reads the same way: special token ids and the stored dtype. */
export function tokenAndDtypeFields(f: ConfigFields): Pick<ModelConfig, 'bosTokenId' | 'eosTokenIds' | 'padTokenId' | 'torchDtype'> {
  return {
    bosTokenId: f.optionalTokenId('bos_token_id'),
    eosTokenIds: f.tokenIds('eos_token_id'),
    padTokenId: f.optionalTokenId('pad_token_id'),
    torchDtype: f.optionalString('torch_dtype') ?? f.optionalString('dtype'),
  };
}

/** transformers ≤ 4 writes rope_theta (+ rope_scaling); transformers 5 writes rope_parameters. */
export function ropeSettings(f: ConfigFields): { theta: number; scaling: RopeScaling | null } {
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

/** Typed access to config.json fields; every problem is one line naming the file and the field. */
export class ConfigFields {
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

  /** a / b for sizes that must divide exactly (hidden size by heads). */
  quotient(a: number, b: number, aName: string, bName: string): number {
    if (a % b !== 0) throw new InputError(`${this.path}: ${aName} ${a} is not divisible by ${bName} ${b}`);
    return a / b;
  }

  private checkedTokenId(name: string, value: unknown): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new InputError(`${this.path}: config field "${name}" must be a token id, got ${JSON.stringify(value)}`);
    }
    return value;
  }
}
