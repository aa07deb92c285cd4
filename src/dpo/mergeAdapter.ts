/**
 * A PEFT LoRA adapter applied to a checkpoint for sampling: each adapted linear's weight becomes
 * W + s·B·A (s = alpha/r, or alpha/√r with rsLoRA), so the inference graph runs at the base model's speed and
 * the compile cache keys on the base hash plus the adapter's bytes. GPT-2's Conv1D weights are stored
 * [in, out] (PEFT's fan_in_fan_out): they take the transposed product.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors } from '../engine/hf/safetensors.ts';
import type { Checkpoint, Weight, WeightSource } from '../engine/hf/types.ts';

export interface LoadedAdapter {
  dir: string;
  scale: number;
  fanInFanOut: boolean;
  /** Per base weight name (`model.layers.0.self_attn.q_proj.weight`): A [r, in] and B [out, r]. */
  pairs: Map<string, { a: Weight; b: Weight }>;
  /** sha256 of adapter_config.json and adapter_model.safetensors. */
  hash: string;
}

const PREFIX = 'base_model.model.';

export async function loadAdapter(dir: string): Promise<LoadedAdapter> {
  const configPath = join(dir, 'adapter_config.json');
  const modelPath = join(dir, 'adapter_model.safetensors');
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${configPath}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (config.peft_type !== 'LORA') throw new Error(`${configPath}: peft_type ${JSON.stringify(config.peft_type)} is not LORA`);
  const r = config.r;
  const alpha = config.lora_alpha;
  if (typeof r !== 'number' || !(r > 0) || typeof alpha !== 'number') throw new Error(`${configPath}: r and lora_alpha must be numbers`);
  if (config.modules_to_save) throw new Error(`${configPath}: modules_to_save is not supported`);
  if (config.bias !== undefined && config.bias !== 'none') throw new Error(`${configPath}: bias ${JSON.stringify(config.bias)} is not supported (only "none")`);
  const file = await readSafetensors(modelPath);
  const tensors = new Map<string, Weight>();
  for (const [name, entry] of file.tensors) {
    if (entry.dtype !== 'F32') throw new Error(`${modelPath}: tensor ${name} is ${entry.dtype}; F32 adapters only`);
    tensors.set(name, { name, shape: entry.shape, storedDtype: 'F32', data: new Float32Array(file.bytes.slice(entry.begin, entry.end).buffer) });
  }
  const pairs = new Map<string, { a: Weight; b: Weight }>();
  for (const [name, a] of tensors) {
    const m = /^(.*)\.lora_A\.weight$/.exec(name);
    if (!m) continue;
    const b = tensors.get(`${m[1]}.lora_B.weight`);
    if (!b) throw new Error(`${modelPath}: ${name} has no lora_B partner`);
    if (!m[1]!.startsWith(PREFIX)) throw new Error(`${modelPath}: ${name} does not start with ${PREFIX}`);
    if (a.shape[0] !== r || b.shape[1] !== r) throw new Error(`${modelPath}: ${name} does not have rank ${r}`);
    pairs.set(`${m[1]!.slice(PREFIX.length)}.weight`, { a, b });
  }
  if (pairs.size === 0) throw new Error(`${modelPath}: no lora_A/lora_B tensors`);
  const hash = createHash('sha256').update(readFileSync(configPath)).update(file.bytes).digest('hex');
  return { dir, scale: config.use_rslora === true ? alpha / Math.sqrt(r) : alpha / r, fanInFanOut: config.fan_in_fan_out === true, pairs, hash };
}

/** W + s·B·A in the stored layout ([out, in], or [in, out] for fan_in_fan_out). */
function merged(base: Weight, { a, b }: { a: Weight; b: Weight }, scale: number, fanInFanOut: boolean): Weight {
  const [r, inF] = a.shape as [number, number];
  const outF = b.shape[0]!;
  const expected = fanInFanOut ? [inF, outF] : [outF, inF];
  if (base.shape.length !== 2 || base.shape[0] !== expected[0] || base.shape[1] !== expected[1]) {
    throw new Error(`adapter: ${base.name} is [${base.shape.join(', ')}], the adapter expects [${expected.join(', ')}]`);
  }
  const data = Float32Array.from(base.data);
  for (let o = 0; o < outF; o++) {
    for (let i = 0; i < inF; i++) {
      let sum = 0;
      for (let k = 0; k < r; k++) sum += b.data[o * r + k]! * a.data[k * inF + i]!;
      data[fanInFanOut ? i * outF + o : o * inF + i]! += scale * sum;
    }
  }
  return { ...base, data };
}

/** The checkpoint with the adapter merged into its weights (computed once per weight, on first use). */
export function applyAdapter(checkpoint: Checkpoint, adapter: LoadedAdapter): Checkpoint {
  const source = checkpoint.weights;
  for (const name of adapter.pairs.keys()) if (!source.has(name)) throw new Error(`adapter ${adapter.dir}: the base model has no ${name}`);
  const cache = new Map<string, Weight>();
  const weights: WeightSource = {
    names: () => source.names(),
    has: (name) => source.has(name),
    get(name) {
      const pair = adapter.pairs.get(name);
      if (!pair) return source.get(name);
      let w = cache.get(name);
      if (!w) cache.set(name, (w = merged(source.get(name), pair, adapter.scale, adapter.fanInFanOut)));
      return w;
    },
  };
  const hash = createHash('sha256').update(checkpoint.hash).update(adapter.hash).digest('hex');
  return { ...checkpoint, weights, hash };
}
