/**
 * config.json's sizes against the tensors the checkpoint holds (shapes from the safetensors headers): graphs,
 * tables and caches are all sized from the config, so a config that claims more layers, wider heads or a
 * bigger vocabulary than the weights have is refused here, before anything is sized by it.
 */
import { basename } from 'node:path';
import { InputError } from '../../inputError.ts';
import type { ModelConfig } from './types.ts';

export interface StoredShapes {
  readonly sourcePath: string;
  names(): string[];
  shapeOf(name: string): number[] | undefined;
}

/** One size the config implies, and how config.json spells it. */
interface Size {
  value: number;
  field: string;
}

interface FamilySizes {
  /** matches a tensor name of one decoder layer; group 1 is the layer index */
  layer: RegExp;
  layersField: string;
  /** tensors whose shapes the config fixes, dimension by dimension */
  tensors: { name: string; dims: Size[] }[];
}

function llamaSizes(c: ModelConfig): FamilySizes {
  const hidden = { value: c.hiddenSize, field: 'hidden_size' };
  const heads = (field: string, n: number) => ({ value: n * c.headDim, field: `${field} × head_dim (${n} × ${c.headDim})` });
  return {
    layer: /^model\.layers\.(\d+)\./,
    layersField: 'num_hidden_layers',
    tensors: [
      { name: 'model.embed_tokens.weight', dims: [{ value: c.vocabSize, field: 'vocab_size' }, hidden] },
      { name: 'model.layers.0.self_attn.q_proj.weight', dims: [heads('num_attention_heads', c.numHeads), hidden] },
      { name: 'model.layers.0.self_attn.k_proj.weight', dims: [heads('num_key_value_heads', c.numKvHeads), hidden] },
      { name: 'model.layers.0.mlp.gate_proj.weight', dims: [{ value: c.intermediateSize, field: 'intermediate_size' }, hidden] },
    ],
  };
}

/** GPT-2 weights come with or without the `transformer.` prefix. */
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

/** Throws `<config.json>: <field> is X but <weights file> has …` at the first size the weights contradict. */
export function checkSizes(config: ModelConfig, weights: StoredShapes, configPath: string): void {
  const names = weights.names();
  const prefix = names.some((n) => n.startsWith('transformer.')) ? 'transformer.' : '';
  const sizes = config.family === 'gpt2' ? gpt2Sizes(config, prefix) : llamaSizes(config);
  const file = basename(weights.sourcePath);
  const stored = names.reduce((most, n) => Math.max(most, 1 + Number(sizes.layer.exec(n)?.[1] ?? -1)), 0);
  // fewer layers than stored would run a different model; more would size graphs and caches for layers that do not exist
  if (config.numLayers !== stored) {
    throw new InputError(`${configPath}: ${sizes.layersField} is ${config.numLayers} but ${file} has ${stored} layers`);
  }
  for (const tensor of sizes.tensors) {
    const shape = weights.shapeOf(tensor.name);
    // an absent tensor is reported by name when the graph asks for it
    if (!shape) continue;
    const bad = tensor.dims.findIndex((d, i) => shape[i] !== d.value);
    if (bad === -1 && shape.length === tensor.dims.length) continue;
    const what = tensor.dims[Math.max(0, bad)]!;
    throw new InputError(`${configPath}: ${what.field} is ${what.value} but ${file} has ${tensor.name} of shape [${shape.join(', ')}]`);
  }
}
