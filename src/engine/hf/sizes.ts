/**
 * config.json's sizes against the tensors the checkpoint holds (shapes from the safetensors headers): graphs,
 * tables and caches are all sized from the config, so a config that claims more layers, wider heads or a
 * bigger vocabulary than the weights have is refused here, before anything is sized by it.
 */
import { basename } from 'node:path';
import { InputError } from '../../inputError.ts';
import { familyOf } from '../models/families.ts';
import type { ModelConfig } from './types.ts';

export interface StoredShapes {
  readonly sourcePath: string;
  names(): string[];
  shapeOf(name: string): number[] | undefined;
}

/** One size the config implies, and how config.json spells it. */
export interface Size {
  value: number;
  field: string;
}

/** What a family's config fixes about its stored tensors (each family's descriptor says, src/engine/models). */
export interface FamilySizes {
  /** matches a tensor name of one decoder layer; group 1 is the layer index */
  layer: RegExp;
  layersField: string;
  /** tensors whose shapes the config fixes, dimension by dimension */
  tensors: { name: string; dims: Size[] }[];
}

/** Throws `<config.json>: <field> is X but <weights file> has …` at the first size the weights contradict. */
export function checkSizes(config: ModelConfig, weights: StoredShapes, configPath: string): void {
  const names = weights.names();
  const sizes = familyOf(config).storedSizes(config, names);
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
