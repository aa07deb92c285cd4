import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { withAdapter } from '../../../src/engine/hf/adapter.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { encodeSafetensors } from '../../../src/engine/hf/safetensors-write.ts';
import type { Checkpoint } from '../../../src/engine/hf/types.ts';

let dir: string;
let llama: Checkpoint;
let gpt2: Checkpoint;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'prefer-adapter-'));
  llama = await loadCheckpoint(await makeCheckpoint('llama', join(dir, 'llama')));
  gpt2 = await loadCheckpoint(await makeCheckpoint('gpt2', join(dir, 'gpt2')));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const seq = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k + 1) * 0.1);

function writeAdapter(
  name: string,
  config: Record<string, unknown>,
  tensors: { name: string; shape: number[]; data: Float32Array }[],
): string {
  const out = join(dir, name);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', ...config }));
  writeFileSync(
    join(out, 'adapter_model.safetensors'),
    encodeSafetensors(tensors, { metadata: { format: 'pt' } }),
  );
  return out;
}

describe('PEFT adapters merged into the base weights', () => {
  it('adds s·B·A to the adapted linear and leaves every other weight as it was', async () => {
    const target = 'model.layers.0.self_attn.q_proj';
    const [out, inF] = llama.weights.get(`${target}.weight`).shape as [number, number];
    const r = 2;
    const a = seq(r * inF, 0.7);
    const b = seq(out * r, 1.3);
    const adapter = writeAdapter('q', { r, lora_alpha: 8 }, [
      { name: `base_model.model.${target}.lora_A.weight`, shape: [r, inF], data: a },
      { name: `base_model.model.${target}.lora_B.weight`, shape: [out, r], data: b },
    ]);
    const merged = await withAdapter(llama, adapter);
    const w = llama.weights.get(`${target}.weight`).data;
    const m = merged.weights.get(`${target}.weight`).data;
    for (const [o, i] of [
      [0, 0],
      [3, 5],
      [out - 1, inF - 1],
    ] as const) {
      let delta = 0;
      for (let k = 0; k < r; k++) delta += b[o * r + k]! * a[k * inF + i]!;
      assert.ok(Math.abs(m[o * inF + i]! - (w[o * inF + i]! + (8 / r) * delta)) < 1e-6, `element ${o},${i}`);
    }
    assert.equal(
      merged.weights.get('model.layers.0.self_attn.k_proj.weight').data,
      llama.weights.get('model.layers.0.self_attn.k_proj.weight').data,
    );
    assert.notEqual(merged.hash, llama.hash, 'the compiled-graph cache tells the merged model apart');
  });

  it('uses alpha/√r with rsLoRA and transposes for GPT-2 Conv1D (fan_in_fan_out)', async () => {
    const target = 'transformer.h.0.attn.c_proj';
    const [inF, out] = gpt2.weights.get(`${target}.weight`).shape as [number, number];
    const r = 4;
    const a = seq(r * inF, 0.3);
    const b = seq(out * r, 0.9);
    const adapter = writeAdapter('c_proj', { r, lora_alpha: 8, use_rslora: true, fan_in_fan_out: true }, [
      { name: `base_model.model.${target}.lora_A.weight`, shape: [r, inF], data: a },
      { name: `base_model.model.${target}.lora_B.weight`, shape: [out, r], data: b },
    ]);
    const merged = await withAdapter(gpt2, adapter);
    const w = gpt2.weights.get(`${target}.weight`).data;
    const m = merged.weights.get(`${target}.weight`).data;
    const [o, i] = [2, 7];
    let delta = 0;
    for (let k = 0; k < r; k++) delta += b[o * r + k]! * a[k * inF + i]!;
    assert.ok(Math.abs(m[i * out + o]! - (w[i * out + o]! + (8 / Math.sqrt(r)) * delta)) < 1e-6);
  });

  it('rejects an adapter that does not fit the model, naming the file and the problem', async () => {
    const wrong = writeAdapter('wrong', { r: 2, lora_alpha: 4 }, [
      {
        name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
        shape: [2, 7],
        data: seq(14, 1),
      },
      {
        name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight',
        shape: [5, 2],
        data: seq(10, 1),
      },
    ]);
    await assert.rejects(
      withAdapter(llama, wrong),
      /adapter_model\.safetensors: model\.layers\.0\.self_attn\.q_proj: lora_A 2,7 and lora_B 5,2 do not fit/,
    );
    const unknown = writeAdapter('unknown', { r: 1, lora_alpha: 1 }, [
      { name: 'base_model.model.model.layers.9.mlp.up_proj.lora_A.weight', shape: [1, 4], data: seq(4, 1) },
      { name: 'base_model.model.model.layers.9.mlp.up_proj.lora_B.weight', shape: [4, 1], data: seq(4, 1) },
    ]);
    await assert.rejects(
      withAdapter(llama, unknown),
      /adapts model\.layers\.9\.mlp\.up_proj\.weight, which .* does not have/,
    );
    const notLora = writeAdapter('ia3', { peft_type: 'IA3' }, []);
    await assert.rejects(withAdapter(llama, notLora), /adapter_config\.json: peft_type "IA3" is not LORA/);
  });
});
