/** The model families by config.json family. */
import { InputError } from '../../inputError.ts';
import type { ModelConfig, WeightSource } from '../hf/types.ts';
import type { DType, Graph } from '../graph/ir.ts';
import type { CausalLM, FamilyBuilder } from './family.ts';
import { gpt2 } from './gpt2.ts';
import { llama } from './llama.ts';

const families: Record<ModelConfig['family'], FamilyBuilder> = { llama, gpt2 };

export function causalLM(g: Graph, config: ModelConfig, weights: WeightSource, dtype: DType = 'float32'): CausalLM {
  const build = families[config.family];
  if (!build) throw new InputError(`config.json: no model family for architecture ${config.architecture}`);
  return build(g, config, weights, dtype);
}
