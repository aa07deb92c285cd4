/**
 * The registered model families: a new family is one descriptor file and one line in FAMILIES. config.json's
 * "architectures" picks the family; its descriptor reads the rest.
 */
import { join } from 'node:path';
import { InputError } from '../../inputError.ts';
import { ConfigFields } from '../hf/config.ts';
import { isRecord, readJsonFile } from '../hf/json-file.ts';
import type { ModelConfig, WeightSource } from '../hf/types.ts';
import type { DType, Graph } from '../graph/ir.ts';
import type { CausalLM, ModelFamily } from './family.ts';
import { gpt2Family } from './gpt2.ts';
import { llamaFamily } from './llama.ts';

export const FAMILIES: readonly ModelFamily[] = [llamaFamily, gpt2Family];

export const SUPPORTED_ARCHITECTURES: readonly string[] = FAMILIES.flatMap((family) => family.architectures);

export function familyByArchitecture(architecture: string): ModelFamily | undefined {
  return FAMILIES.find((family) => family.architectures.includes(architecture));
}

/** GGUF general.architecture values the families read. */
export const SUPPORTED_GGUF_ARCHITECTURES: readonly string[] = FAMILIES.flatMap((family) => family.gguf?.architectures ?? []);

export function familyByGgufArchitecture(arch: string): ModelFamily | undefined {
  return FAMILIES.find((family) => family.gguf?.architectures.includes(arch));
}

/** The descriptor of a parsed config's family. */
export function familyOf(config: Pick<ModelConfig, 'family' | 'architecture'>): ModelFamily {
  const family = FAMILIES.find((f) => f.name === config.family);
  if (!family) throw new InputError(`config.json: no model family for architecture ${config.architecture}`);
  return family;
}

export async function readModelConfig(dir: string): Promise<ModelConfig> {
  const path = join(dir, 'config.json');
  return parseModelConfig(await readJsonFile(path), path);
}

/** `path` only names the file in error messages. */
export function parseModelConfig(json: unknown, path: string): ModelConfig {
  if (!isRecord(json)) throw new InputError(`${path}: config is not a JSON object`);
  const architectures = json['architectures'];
  const architecture = Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : null;
  if (architecture === null) throw new InputError(`${path}: missing config field "architectures"`);
  const family = familyByArchitecture(architecture);
  if (!family) {
    throw new InputError(`${path}: unknown architecture ${architecture} (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`);
  }
  return family.parseConfig(new ConfigFields(json, path), architecture);
}

/** The family's forward over `weights` (named as its descriptor normalizes them), built into `g`. */
export function causalLM(g: Graph, config: ModelConfig, weights: WeightSource, dtype: DType = 'float32'): CausalLM {
  return familyOf(config).build(g, config, weights, dtype);
}

/** Tensor names and shapes a checkpoint of this config holds, as its family's descriptor says. */
export function expectedWeights(config: ModelConfig): Map<string, number[]> {
  return familyOf(config).expectedWeights(config);
}
