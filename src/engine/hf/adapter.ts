/**
 * A LoRA adapter in PEFT's format applied to a checkpoint by merging it into the base weights once, at load:
 * W' = W + s·B·A (s = alpha/r, or alpha/√r with rsLoRA). The result is a checkpoint like any other, so the
 * inference graph and its cache need nothing adapter-specific, and sampling costs nothing extra.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, firstLine } from '../../inputError.ts';
import { readSafetensors } from './safetensors.ts';
import type { Checkpoint, Weight, WeightSource } from './types.ts';
import { toFloat32 } from './weights.ts';

const PREFIX = 'base_model.model.';

interface LoraPair {
  a: Float32Array; // [r, in]
  b: Float32Array; // [out, r]
  rank: number;
}

export async function withAdapter(base: Checkpoint, adapterDir: string): Promise<Checkpoint> {
  const configFile = join(adapterDir, 'adapter_config.json');
  const weightsFile = join(adapterDir, 'adapter_model.safetensors');
  if (!existsSync(configFile)) throw new InputError(`${configFile}: missing (not a PEFT adapter folder)`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new InputError(`${configFile}: bad JSON (${firstLine(e)})`);
  }
  if (config.peft_type !== 'LORA')
    throw new InputError(`${configFile}: peft_type ${JSON.stringify(config.peft_type)} is not LORA`);
  const rank = config.r;
  const alpha = config.lora_alpha;
  if (typeof rank !== 'number' || !(rank > 0) || typeof alpha !== 'number')
    throw new InputError(`${configFile}: r and lora_alpha must be positive numbers`);
  const scale = config.use_rslora === true ? alpha / Math.sqrt(rank) : alpha / rank;
  const fanInFanOut = config.fan_in_fan_out === true;

  const record = join(adapterDir, 'prefer_adapter.json');
  if (existsSync(record)) {
    const trainedOn = (JSON.parse(readFileSync(record, 'utf8')) as { baseModelHash?: string }).baseModelHash;
    if (trainedOn && trainedOn !== base.hash)
      throw new InputError(`${adapterDir}: this adapter was trained on a different base model than ${base.dir}`);
  }

  const file = await readSafetensors(weightsFile);
  const pairs = new Map<string, LoraPair>();
  for (const [name, entry] of file.tensors) {
    const m = /^(.*)\.lora_A\.weight$/.exec(name);
    if (!m) continue;
    const site = m[1]!.startsWith(PREFIX) ? m[1]!.slice(PREFIX.length) : m[1]!;
    const bEntry = file.tensors.get(`${m[1]}.lora_B.weight`);
    if (!bEntry) throw new InputError(`${weightsFile}: ${name} has no matching lora_B`);
    const target = `${site}.weight`;
    if (!base.weights.has(target))
      throw new InputError(`${weightsFile}: ${name} adapts ${target}, which ${base.dir} does not have`);
    const [r, inFeatures] = entry.shape as [number, number];
    const [outFeatures, rB] = bEntry.shape as [number, number];
    const w = base.weights.get(target);
    const expected = fanInFanOut ? [inFeatures, outFeatures] : [outFeatures, inFeatures];
    if (r !== rB || w.shape.join() !== expected.join()) {
      throw new InputError(
        `${weightsFile}: ${site}: lora_A ${entry.shape} and lora_B ${bEntry.shape} do not fit ${target} ${w.shape}`,
      );
    }
    pairs.set(target, { a: toFloat32(file, entry), b: toFloat32(file, bEntry), rank: r });
  }
  if (pairs.size === 0) throw new InputError(`${weightsFile}: no lora_A/lora_B tensors`);

  const merged = new Map<string, Weight>();
  const weights: WeightSource = {
    names: () => base.weights.names(),
    has: (name) => base.weights.has(name),
    get(name) {
      const lora = pairs.get(name);
      if (!lora) return base.weights.get(name);
      let w = merged.get(name);
      if (!w) {
        const original = base.weights.get(name);
        const data = Float32Array.from(original.data);
        const [rows, cols] = original.shape as [number, number];
        // delta[o][i] = s·Σ_k B[o][k]·A[k][i]; stored [out, in], or [in, out] for GPT-2's Conv1D
        const outFeatures = fanInFanOut ? cols : rows;
        const inFeatures = fanInFanOut ? rows : cols;
        for (let o = 0; o < outFeatures; o++) {
          for (let k = 0; k < lora.rank; k++) {
            const bk = scale * lora.b[o * lora.rank + k]!;
            if (bk === 0) continue;
            for (let i = 0; i < inFeatures; i++)
              data[fanInFanOut ? i * outFeatures + o : o * inFeatures + i]! +=
                bk * lora.a[k * inFeatures + i]!;
          }
        }
        w = { ...original, data };
        merged.set(name, w);
      }
      return w;
    },
  };
  const hash = createHash('sha256')
    .update(base.hash)
    .update(readFileSync(configFile))
    .update(file.bytes)
    .digest('hex');
  return { ...base, weights, hash };
}
