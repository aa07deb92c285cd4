/**
 * A PEFT LoRA adapter folder read and checked against the base it is meant for, whoever trained it (Prefer, or
 * TRL/PEFT elsewhere): adapter_config.json (peft_type LORA, r, lora_alpha, use_rslora, target_modules,
 * fan_in_fan_out) and adapter_model.safetensors, whose tensors PEFT's save_pretrained names
 *   base_model.model.<linear>.lora_A.weight [r, in]   and   base_model.model.<linear>.lora_B.weight [out, r].
 * Every tensor must adapt one of the base's linears in that shape; anything else is refused in one line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, firstLine } from '../../inputError.ts';
import { expectedWeights, familyOf } from '../models/families.ts';
import { readSafetensors } from './safetensors.ts';
import type { Checkpoint } from './types.ts';
import { toFloat32 } from './weights.ts';

export const PEFT_CONFIG_FILE = 'adapter_config.json';
export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';
const PREFIX = 'base_model.model.';
const TENSOR_NAME = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/;

/** One adapted linear: A [r, in] and B [out, r] in PEFT's layout, for the base weight `target`. */
export interface PeftLoraPair {
  /** The linear as PEFT names it, e.g. model.layers.0.self_attn.q_proj */
  site: string;
  /** Its base weight: `${site}.weight` */
  target: string;
  a: Float32Array;
  b: Float32Array;
  inFeatures: number;
  outFeatures: number;
}

export interface PeftLora {
  rank: number;
  alpha: number;
  rsLora: boolean;
  targetModules: string[];
  pairs: PeftLoraPair[];
}

/** The scale PEFT applies to B·A: alpha/r, or alpha/√r with rsLoRA. */
export const peftScale = (lora: Pick<PeftLora, 'rank' | 'alpha' | 'rsLora'>): number =>
  lora.rsLora ? lora.alpha / Math.sqrt(lora.rank) : lora.alpha / lora.rank;

export async function readPeftAdapter(dir: string, base: Checkpoint): Promise<PeftLora> {
  const configFile = join(dir, PEFT_CONFIG_FILE);
  const weightsFile = join(dir, PEFT_WEIGHTS_FILE);
  if (!existsSync(configFile)) throw new InputError(`${configFile}: missing (not a PEFT adapter folder)`);
  if (!existsSync(weightsFile)) throw new InputError(`${weightsFile}: missing (not a PEFT adapter folder)`);
  const config = readConfig(configFile, familyOf(base.config).peftFanInFanOut);
  checkTrainedOn(dir, base);
  const file = await readSafetensors(weightsFile);
  const halves = new Map<string, { A?: Float32Array; B?: Float32Array; aShape?: number[]; bShape?: number[] }>();
  for (const [name, entry] of file.tensors) {
    const m = TENSOR_NAME.exec(name);
    if (!m) throw new InputError(`${weightsFile}: tensor ${name} is not a LoRA matrix (base_model.model.<linear>.lora_A/lora_B.weight)`);
    const data = toFloat32(file, entry);
    if (!data.every(Number.isFinite)) throw new InputError(`${weightsFile}: tensor ${name} holds NaN or infinite values`);
    const half = halves.get(m[1]!) ?? {};
    half[m[2] as 'A' | 'B'] = data;
    half[m[2] === 'A' ? 'aShape' : 'bShape'] = [...entry.shape];
    halves.set(m[1]!, half);
  }
  if (halves.size === 0) throw new InputError(`${weightsFile}: no lora_A/lora_B tensors`);
  const linears = expectedWeights(base.config);
  const pairs = [...halves].map(([site, half]) => checkedPair(weightsFile, base, linears, config, site, half));
  return { ...config, pairs };
}

interface Config {
  rank: number;
  alpha: number;
  rsLora: boolean;
  targetModules: string[];
}

function readConfig(file: string, fanInFanOut: boolean): Config {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new InputError(`${file}: bad JSON (${firstLine(e)})`);
  }
  const refuse = (field: string, why: string) => new InputError(`${file}: ${field}: ${why}`);
  if (json.peft_type !== 'LORA') throw refuse('peft_type', `${JSON.stringify(json.peft_type)} is not LORA`);
  const { r: rank, lora_alpha: alpha, use_rslora: rsLora = false, target_modules: targets } = json;
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank < 1) throw refuse('r', `must be a positive integer, got ${JSON.stringify(rank)}`);
  if (typeof alpha !== 'number' || !(alpha > 0) || !Number.isFinite(alpha)) throw refuse('lora_alpha', `must be a positive number, got ${JSON.stringify(alpha)}`);
  if (typeof rsLora !== 'boolean') throw refuse('use_rslora', `must be true or false, got ${JSON.stringify(rsLora)}`);
  if ((json.fan_in_fan_out ?? false) !== fanInFanOut) throw refuse('fan_in_fan_out', `is ${JSON.stringify(json.fan_in_fan_out)}, but the base stores its linears ${fanInFanOut ? '[in, out]' : '[out, in]'}`);
  for (const field of ['rank_pattern', 'alpha_pattern'] as const) {
    const pattern = json[field];
    if (pattern && typeof pattern === 'object' && Object.keys(pattern).length > 0) throw refuse(field, 'per-module ranks or alphas are not supported');
  }
  const saved = json.modules_to_save;
  if (Array.isArray(saved) && saved.length > 0) throw refuse('modules_to_save', `whole modules (${saved.join(', ')}) are not LoRA and are not supported`);
  if (json.bias !== undefined && json.bias !== 'none') throw refuse('bias', `${JSON.stringify(json.bias)} is not supported (only "none")`);
  if (json.use_dora === true) throw refuse('use_dora', 'DoRA adapters are not supported');
  const names = targets === 'all-linear' ? ['all-linear'] : targets;
  if (!Array.isArray(names) || names.length === 0 || !names.every((t) => typeof t === 'string' && /^[A-Za-z0-9_.-]+$/.test(t)))
    throw refuse('target_modules', 'must be a non-empty list of module names (q_proj, mlp.down_proj) or "all-linear"');
  return { rank, alpha, rsLora, targetModules: names as string[] };
}

/** Prefer's own record of the base an adapter was trained on, when the folder has one. */
function checkTrainedOn(dir: string, base: Checkpoint): void {
  const record = join(dir, 'prefer_adapter.json');
  if (!existsSync(record)) return;
  let trainedOn: unknown;
  try {
    trainedOn = (JSON.parse(readFileSync(record, 'utf8')) as Record<string, unknown>).baseModelHash;
  } catch (e) {
    throw new InputError(`${record}: bad JSON (${firstLine(e)})`);
  }
  if (typeof trainedOn === 'string' && trainedOn !== base.hash)
    throw new InputError(`${dir}: this adapter was trained on a different base model than ${base.dir}`);
}

/** Weights that are not a decoder layer's linears: embeddings and the LM head. */
const NOT_LINEAR = /(^|\.)(embed_tokens|lm_head|wte|wpe)\.weight$/;

function checkedPair(
  file: string,
  base: Checkpoint,
  shapes: ReadonlyMap<string, number[]>,
  config: Config,
  site: string,
  half: { A?: Float32Array; B?: Float32Array; aShape?: number[]; bShape?: number[] },
): PeftLoraPair {
  const where = `${file}: ${PREFIX}${site}`;
  if (!half.A || !half.B) throw new InputError(`${where}: has lora_${half.A ? 'A' : 'B'} but no lora_${half.A ? 'B' : 'A'}`);
  const target = `${site}.weight`;
  const weightShape = shapes.get(target);
  if (!weightShape || weightShape.length !== 2 || NOT_LINEAR.test(target))
    throw new InputError(`${where}: ${target} is not a linear of ${base.dir}`);
  const module = site.split('.').at(-1)!;
  if (!config.targetModules.includes('all-linear') && !config.targetModules.some((t) => site === t || site.endsWith(`.${t}`) || t === module))
    throw new InputError(`${where}: ${module} is not in target_modules (${config.targetModules.join(', ')})`);
  const fanInFanOut = familyOf(base.config).peftFanInFanOut;
  const [outFeatures, inFeatures] = (fanInFanOut ? [...weightShape].reverse() : weightShape) as [number, number];
  const { rank } = config;
  if (half.aShape!.join() !== `${rank},${inFeatures}` || half.bShape!.join() !== `${outFeatures},${rank}`)
    throw new InputError(`${where}: lora_A [${half.aShape}] and lora_B [${half.bShape}] do not fit ${target} [${weightShape}] at r ${rank} (want [${rank},${inFeatures}] and [${outFeatures},${rank}])`);
  return { site, target, a: half.A, b: half.B, inFeatures, outFeatures };
}
