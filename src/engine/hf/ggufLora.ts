/**
 * A PEFT LoRA adapter as the GGUF file llama.cpp (llama-server --lora, Ollama's ADAPTER) loads, written as
 * llama.cpp's convert_lora_to_gguf.py writes it:
 *   general.type = "adapter", adapter.type = "lora", adapter.lora.alpha (f32), general.architecture of the base;
 *   <base tensor>.lora_a = A [r, in] and <base tensor>.lora_b = B [out, r] under llama.cpp's tensor names
 *   (blk.N.attn_q.weight.lora_a), F32, in GGUF's innermost-first dims (lora_a ne = [in, r], lora_b ne = [r, out]),
 * which is what llama.cpp's loader checks against the base's tensor. For arch `llama` the base's q/k rows are
 * permuted into interleaved rotary order, so B's rows are permuted the same way (A is untouched), as the
 * converter does. llama.cpp scales by alpha/r; an rsLoRA adapter (alpha/√r) is written with alpha·√r so the
 * applied scale is the same (the converter writes lora_alpha as it is and would scale it wrongly).
 */
import { InputError } from '../../inputError.ts';
import { familyOf } from '../models/families.ts';
import { type GgufTensorToWrite, type GgufValue, f32Tensor, rotateHalfToInterleaved, writeGgufFile } from './ggufWrite.ts';
import type { PeftLora } from './peftAdapter.ts';
import type { Checkpoint } from './types.ts';

export interface LoraGguf {
  metadata: [string, GgufValue][];
  tensors: GgufTensorToWrite[];
}

export function loraGguf(lora: PeftLora, base: Checkpoint): LoraGguf {
  const family = familyOf(base.config);
  const arch = family.ggufArch(base.config);
  if (!family.gguf) throw new InputError(`${base.dir}: llama.cpp adapters are written for the ${family.name} family's GGUF names, which Prefer does not know`);
  const names = new Map(family.gguf.tensors(base.config, arch).map((t) => [t.hf, t]));
  const alpha = lora.rsLora ? lora.alpha * Math.sqrt(lora.rank) : lora.alpha;
  const metadata: [string, GgufValue][] = [
    ['general.architecture', { type: 'string', value: arch }],
    ['general.type', { type: 'string', value: 'adapter' }],
    ['general.name', { type: 'string', value: 'prefer-adapter' }],
    ['general.file_type', { type: 'u32', value: 0 }], // ALL_F32
    ['adapter.type', { type: 'string', value: 'lora' }],
    ['adapter.lora.alpha', { type: 'f32', value: alpha }],
  ];
  const tensors = lora.pairs.flatMap((pair) => {
    const name = names.get(pair.target);
    if (!name) throw new InputError(`${base.dir}: ${pair.target} has no llama.cpp tensor name for arch ${arch}`);
    const b = name.interleavedHeads ? rotateHalfToInterleaved(pair.b, [pair.outFeatures, lora.rank], name.interleavedHeads) : pair.b;
    return [f32Tensor(`${name.gguf}.lora_a`, [lora.rank, pair.inFeatures], pair.a), f32Tensor(`${name.gguf}.lora_b`, [pair.outFeatures, lora.rank], b)];
  });
  return { metadata, tensors };
}

/** Writes the adapter's GGUF at `path`; the caller writes beside its final place and renames. */
export async function writeLoraGguf(lora: PeftLora, base: Checkpoint, path: string): Promise<void> {
  const { metadata, tensors } = loraGguf(lora, base);
  await writeGgufFile(path, metadata, tensors);
}
