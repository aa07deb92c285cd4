/**
 * `prefer adapter import` and `prefer adapter export` through the real entry point: a PEFT adapter written by the
 * PyTorch reference (test/reference/torch/peft_adapter.py, PEFT's save_pretrained names and config) comes back as a
 * registered adapter version whose logits in Prefer equal PyTorch's with the same LoRA (≤ 1e-4); it leaves again as
 * PEFT files, a llama.cpp GGUF and an Ollama folder; wrong input is refused in one line (exit 2) and nothing is written.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { withAdapter } from '../../../src/engine/hf/adapter.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { readSafetensors } from '../../../src/engine/hf/safetensors.ts';
import { openStore } from '../../../src/store/store.ts';
import { writeGguf } from '../../reference/gguf.ts';
import { writeRandomPeftAdapter } from '../hf/gguf-lora-adapter.ts';
import { maxAbsDiff, openDecoder } from '../models/support.ts';
import { prefer, preferJson, tempDir } from './helpers.ts';

const PYTHON = '/usr/bin/python3';
const PEFT_SCRIPT = join(import.meta.dirname, '../../reference/torch/peft_adapter.py');
const dir = tempDir('adapter-cli');
const TOKENS = Array.from({ length: 16 }, (_, i) => (i * 41 + 3) % 761);
const PROMPT_LENGTH = 12;

/** The tier needs PyTorch: without it the comparison fails, it is never skipped. */
function torchLogits(checkpoint: string, out: string, spec: Record<string, unknown>): number[][] {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error(`the PyTorch reference needs ${PYTHON} with torch and numpy (scripts/setup.sh installs them)\n${probe.stderr}`);
  const stdout = execFileSync(PYTHON, [PEFT_SCRIPT, checkpoint, out, JSON.stringify({ ...spec, tokens: TOKENS })], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return (JSON.parse(stdout) as { logits: number[][] }).logits;
}

/** Prefer's logits after each of the last tokens: the prompt, then one KV-cache decode step per token. */
async function preferLogits(modelDir: string, adapterDir: string): Promise<ArrayLike<number>[]> {
  const checkpoint = await withAdapter(await loadCheckpoint(modelDir), adapterDir);
  const decoder = await openDecoder(checkpoint.config, checkpoint.weights);
  const prompt = TOKENS.slice(0, PROMPT_LENGTH);
  const rows = [await decoder.step({ tokens: [prompt], positions: [prompt.map((_, i) => i)] })];
  for (let i = PROMPT_LENGTH; i < TOKENS.length; i++) rows.push(await decoder.step({ tokens: [[TOKENS[i]!]], positions: [[i]] }));
  return rows;
}

function refusal(args: string[], pattern: RegExp): void {
  const r = prefer(...args);
  assert.equal(r.code, 2, `exit code 2 for ${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.match(r.stderr, pattern);
}

describe('prefer adapter import', () => {
  for (const [kind, spec] of [
    ['llama', { rank: 4, alpha: 8, rs_lora: false, targets: ['q_proj', 'k_proj', 'v_proj', 'down_proj'], seed: 1 }],
    ['qwen2', { rank: 8, alpha: 4, rs_lora: true, targets: ['q_proj', 'o_proj', 'gate_proj', 'up_proj'], seed: 2 }],
  ] as const) {
    it(`${kind}: a PEFT adapter from the PyTorch reference comes back as a version whose logits equal PyTorch's (1e-4)`, async () => {
      const model = await makeCheckpoint(kind, join(dir, kind));
      const peft = join(dir, `${kind}-peft`);
      const expected = torchLogits(model, peft, spec);
      const db = join(dir, `${kind}.sqlite`);
      openStore(db).close();
      const r = preferJson('adapter', 'import', peft, '--model', model, '--db', db);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.value.version, 1);
      assert.deepEqual([r.value.rank, r.value.alpha, r.value.rsLora, r.value.linears], [spec.rank, spec.alpha, spec.rs_lora, 2 * spec.targets.length]);
      const imported = r.value.adapter as string;
      const store = openStore(db, { readonly: true });
      const [registered] = store.adapters();
      store.close();
      assert.equal(registered?.path, imported);
      assert.equal(registered?.baseModelHash, (await loadCheckpoint(model)).hash);

      const rows = await preferLogits(model, imported);
      const worst = Math.max(...rows.map((row, i) => maxAbsDiff(row, expected[PROMPT_LENGTH - 1 + i]!)));
      console.log(`${kind}: max |Δlogit| Prefer with the imported adapter vs PyTorch ${worst.toExponential(2)}`);
      assert.ok(worst <= 1e-4, `max |Δlogit| ${worst}`);
      // the comparison can fail: PyTorch's logits one position apart differ by far more than the tolerance
      assert.ok(maxAbsDiff(rows[0]!, expected[PROMPT_LENGTH]!) > 1e-2);
    });
  }

  it('refuses wrong input in one line (exit 2) and writes nothing', async () => {
    const model = await makeCheckpoint('qwen3', join(dir, 'refusals'));
    const base = await loadCheckpoint(model);
    const adapter = writeRandomPeftAdapter(join(dir, 'refusals-adapter'), base, { rank: 4, alpha: 8 });
    const out = join(dir, 'refused-out');
    const config = JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    const withConfig = (name: string, changes: Record<string, unknown>) => {
      const copy = join(dir, name);
      mkdirSync(copy);
      writeFileSync(join(copy, 'adapter_config.json'), JSON.stringify({ ...config, ...changes }));
      writeFileSync(join(copy, 'adapter_model.safetensors'), readFileSync(join(adapter, 'adapter_model.safetensors')));
      return copy;
    };
    refusal(['adapter', 'import', withConfig('wrong-rank', { r: 8 }), '--model', model, '--out', out], /lora_A \[4,64\] and lora_B .* do not fit .*q_proj\.weight/);
    refusal(['adapter', 'import', withConfig('few-targets', { target_modules: ['q_proj', 'v_proj'] }), '--model', model, '--out', out], /k_proj is not in target_modules \(q_proj, v_proj\)/);
    refusal(['adapter', 'import', withConfig('not-lora', { peft_type: 'IA3' }), '--model', model, '--out', out], /adapter_config\.json: peft_type: "IA3" is not LORA/);
    refusal(['adapter', 'import', withConfig('dora', { use_dora: true }), '--model', model, '--out', out], /use_dora: DoRA adapters are not supported/);
    refusal(['adapter', 'import', withConfig('conv1d', { fan_in_fan_out: true }), '--model', model, '--out', out], /fan_in_fan_out/);
    refusal(['adapter', 'import', adapter, '--model', model], /give --db DB .* or --out DIR/);
    refusal(['adapter', 'import', adapter, '--model', model, '--out', adapter], /already exists/);
    refusal(['adapter', 'nonsense', adapter], /say export or import/);
    assert.equal(existsSync(out), false, 'nothing written');
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.partial')), [], 'no staging left behind');
  });
});

describe('prefer adapter export', () => {
  it('writes PEFT files without local paths, a GGUF, and an Ollama folder FROM the base path', async () => {
    const model = await makeCheckpoint('llama', join(dir, 'export-model'));
    const db = join(dir, 'export.sqlite');
    openStore(db).close();
    const trained = writeRandomPeftAdapter(join(dir, 'export-trained'), await loadCheckpoint(model), { rank: 2, alpha: 4 });
    const imported = preferJson('adapter', 'import', trained, '--model', model, '--db', db).value.adapter as string;

    const peft = join(dir, 'exported-peft');
    assert.equal(prefer('adapter', 'export', imported, '--format', 'peft', '--out', peft).code, 0);
    assert.deepEqual(readdirSync(peft).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
    const weights = await readSafetensors(join(peft, 'adapter_model.safetensors'));
    assert.deepEqual(weights.metadata, { format: 'pt' });

    const gguf = join(dir, 'exported.gguf');
    const r = preferJson('adapter', 'export', imported, '--format', 'gguf', '--out', gguf);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(gguf).subarray(0, 4).toString('latin1'), 'GGUF');
    const before = readFileSync(gguf);
    refusal(['adapter', 'export', imported, '--format', 'gguf', '--out', gguf], /exported\.gguf: already exists/);
    assert.deepEqual(readFileSync(gguf), before, 'the existing file is untouched');
    refusal(['adapter', 'export', imported, '--format', 'onnx', '--out', join(dir, 'x')], /--format must be one of gguf, peft, ollama/);
    const otherBase = await makeCheckpoint('llama', join(dir, 'export-other-base'), { sharded: true });
    refusal(['adapter', 'export', imported, '--format', 'gguf', '--model', otherBase, '--out', join(dir, 'wrong-base.gguf')], /trained on a different base model/);
    assert.equal(existsSync(join(dir, 'wrong-base.gguf')), false);

    const ollama = join(dir, 'exported-ollama');
    assert.equal(prefer('adapter', 'export', imported, '--format', 'ollama', '--out', ollama).code, 0);
    assert.deepEqual(readdirSync(ollama).sort(), ['Modelfile', 'adapter.gguf']);
    assert.equal(readFileSync(join(ollama, 'Modelfile'), 'utf8'), `FROM ${model}\nADAPTER ./adapter.gguf\n`);
  });

  it("names a base from Ollama's store by its Ollama name in the Modelfile", async () => {
    const base = await loadCheckpoint(await makeCheckpoint('qwen2', join(dir, 'ollama-model')));
    const store = join(dir, 'ollama-store');
    mkdirSync(join(store, 'blobs'), { recursive: true });
    const blob = join(dir, 'base.gguf');
    await writeGguf(base, blob);
    const hex = createHash('sha256').update(readFileSync(blob)).digest('hex');
    const blobPath = join(store, 'blobs', `sha256-${hex}`);
    writeFileSync(blobPath, readFileSync(blob));
    const manifests = join(store, 'manifests', 'registry.ollama.ai', 'library', 'tiny-coder');
    mkdirSync(manifests, { recursive: true });
    writeFileSync(join(manifests, 'q8'), JSON.stringify({ schemaVersion: 2, layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${hex}`, size: 1 }] }));
    const adapter = writeRandomPeftAdapter(join(dir, 'ollama-adapter'), base, { rank: 2, alpha: 2 });

    const out = join(dir, 'ollama-out');
    const previous = process.env['OLLAMA_MODELS'];
    process.env['OLLAMA_MODELS'] = store;
    try {
      const r = prefer('adapter', 'export', adapter, '--format', 'ollama', '--model', blobPath, '--out', out);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      if (previous === undefined) delete process.env['OLLAMA_MODELS'];
      else process.env['OLLAMA_MODELS'] = previous;
    }
    assert.equal(readFileSync(join(out, 'Modelfile'), 'utf8'), 'FROM tiny-coder:q8\nADAPTER ./adapter.gguf\n');
  });
});
