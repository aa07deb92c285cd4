/**
 * A LoRA adapter on disk in PEFT's format, so PEFT, vLLM and llama.cpp's converter load it:
 *   adapter_config.json        peft_type LORA, r, lora_alpha, use_rslora, target_modules, …
 *   adapter_model.safetensors  base_model.model.<linear>.lora_A.weight [r, in] / lora_B.weight [out, r]
 * plus Prefer's own record (base model hash, training data, metrics) in the safetensors metadata and in
 * prefer_adapter.json. Files are written to a temporary folder and renamed into place.
 */
import { lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type TensorToWrite, encodeSafetensors } from '../engine/hf/safetensors-write.ts';
import type { LoraConfig, LoraLayer } from './lora.ts';
import type { WeightStorage } from '../engine/models/weights.ts';

export interface AdapterRecord {
  /** Checkpoint hash of the base model (Checkpoint.hash). */
  baseModelHash: string;
  baseModelPath: string;
  /** GPT-2's Conv1D layers store [in, out]: PEFT marks them fan_in_fan_out. */
  fanInFanOut: boolean;
  /** How the frozen base's linears were stored while it trained (`prefer train --weights`); absent before it was recorded. */
  baseWeights?: WeightStorage;
  [key: string]: unknown;
}

export function adapterConfigJson(lora: LoraConfig, layers: readonly LoraLayer[], record: AdapterRecord): Record<string, unknown> {
  const targets = lora.targetModules ?? [...new Set(layers.map((l) => l.site.name.split('.').pop()!))];
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: record.baseModelPath,
    r: lora.rank,
    lora_alpha: lora.alpha,
    lora_dropout: 0,
    use_rslora: lora.rsLora ?? false,
    target_modules: targets,
    bias: 'none',
    fan_in_fan_out: record.fanInFanOut,
    inference_mode: true,
    init_lora_weights: true,
    modules_to_save: null,
  };
}

/** Whether anything is at `path`, a dangling link included. */
export function present(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The files of a saved adapter folder, and nothing else. */
export const ADAPTER_FILES = ['adapter_config.json', 'adapter_model.safetensors', 'prefer_adapter.json'] as const;

/**
 * Writes the adapter into a temporary sibling of `dir` and renames it into place. Something already at `dir`
 * is an error unless `replace` says it is an earlier version of this same adapter, which is then swapped out.
 */
export function saveAdapter(
  dir: string,
  lora: LoraConfig,
  layers: readonly LoraLayer[],
  weights: ReadonlyMap<string, Float32Array | Float64Array>,
  record: AdapterRecord,
  { replace = false }: { replace?: boolean } = {},
): void {
  const tensors = layers.flatMap(({ a, b }) =>
    [a, b].map((v) => {
      const data = weights.get(v.name);
      if (!data) throw new Error(`adapter: no weights for ${v.name}`);
      return { name: v.name, shape: v.shape as number[], data: data instanceof Float32Array ? data : Float32Array.from(data) };
    }),
  );
  const target = resolve(dir);
  const staging = join(dirname(target), `.${Date.now()}-${process.pid}.adapter-tmp`);
  mkdirSync(staging, { recursive: true });
  try {
    writeAdapterFiles(staging, adapterConfigJson(lora, layers, record), tensors, record);
    const exists = present(target);
    if (exists && !replace) throw new Error(`${dir}: already exists; the adapter was not saved over it`);
    // the old version moves aside before the new one moves in: one of the two is complete at any moment
    const previous = exists ? `${staging}-previous` : null;
    if (previous) renameSync(target, previous);
    renameSync(staging, target);
    if (previous) rmSync(previous, { recursive: true, force: true });
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}

/** An adapter folder's files, into the folder `dir`: PEFT's config and weights (Prefer's record in their metadata), and the record. */
export function writeAdapterFiles(dir: string, config: Record<string, unknown>, tensors: readonly TensorToWrite[], record: AdapterRecord): void {
  writeFileSync(join(dir, 'adapter_config.json'), `${JSON.stringify(config, null, 2)}\n`);
  writeFileSync(join(dir, 'adapter_model.safetensors'), encodeSafetensors(tensors, { metadata: { format: 'pt', prefer: JSON.stringify(record) } }));
  writeFileSync(join(dir, 'prefer_adapter.json'), `${JSON.stringify(record, null, 2)}\n`);
}

/** adapter_config.json of a saved adapter (for checks and for loading it back). */
export function readAdapterConfig(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
}
