/** A PEFT LoRA adapter folder with seeded random A and B (B ≠ 0, so it changes the model) on every linear of a llama-like checkpoint. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors } from '../../../src/engine/hf/safetensors-write.ts';
import type { Checkpoint } from '../../../src/engine/hf/types.ts';
import { uniformStream } from '../../../src/engine/models/seededStream.ts';

export const LLAMA_LINEARS = ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'];

export interface RandomLora {
  rank: number;
  alpha: number;
  rsLora?: boolean;
  seed?: number;
  /** Uniform half-width of the entries. */
  size?: number;
}

export function writeRandomPeftAdapter(dir: string, checkpoint: Checkpoint, lora: RandomLora): string {
  const random = uniformStream(lora.seed ?? 7);
  const size = lora.size ?? 0.2;
  const values = (n: number) => Float32Array.from({ length: n }, () => (random() * 2 - 1) * size);
  const tensors = [];
  for (let layer = 0; layer < checkpoint.config.numLayers; layer++) {
    for (const linear of LLAMA_LINEARS) {
      const site = `model.layers.${layer}.${linear}`;
      const [outFeatures, inFeatures] = checkpoint.weights.get(`${site}.weight`).shape as [number, number];
      tensors.push({ name: `base_model.model.${site}.lora_A.weight`, shape: [lora.rank, inFeatures], data: values(lora.rank * inFeatures) });
      tensors.push({ name: `base_model.model.${site}.lora_B.weight`, shape: [outFeatures, lora.rank], data: values(outFeatures * lora.rank) });
    }
  }
  mkdirSync(dir, { recursive: true });
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: lora.rank,
    lora_alpha: lora.alpha,
    use_rslora: lora.rsLora ?? false,
    target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    fan_in_fan_out: false,
    bias: 'none',
    modules_to_save: null,
  };
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'adapter_model.safetensors'), encodeSafetensors(tensors, { metadata: { format: 'pt' } }));
  return dir;
}
