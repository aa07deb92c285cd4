import assert from 'node:assert/strict';
import { mkdir, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { describeModel, discoverModels, modelRoots, SYSTEM_OLLAMA_STORE, validateModel, type ModelRoots } from '../../../src/engine/hf/discovery.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { writeGguf } from '../../reference/gguf.ts';
import { tempDir } from './temp-dir.ts';

/** A GGUF v3 file with just enough header for discovery: architecture, file type and zero-filled tensors. */
async function writeTinyGguf(path: string, architecture: string, fileType: number, tensors: { name: string; dims: number[]; type: number; bytes: number }[]): Promise<void> {
  const parts: Buffer[] = [];
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); parts.push(b); };
  const u64 = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); parts.push(b); };
  const str = (s: string) => { u64(Buffer.byteLength(s)); parts.push(Buffer.from(s)); };
  parts.push(Buffer.from('GGUF'));
  u32(3);
  u64(tensors.length);
  u64(2);
  str('general.architecture'); u32(8); str(architecture);
  str('general.file_type'); u32(4); u32(fileType);
  let offset = 0;
  for (const t of tensors) {
    str(t.name); u32(t.dims.length); t.dims.forEach(u64); u32(t.type); u64(offset);
    offset += Math.ceil(t.bytes / 32) * 32;
  }
  const header = Buffer.concat(parts);
  const dataStart = Math.ceil(header.length / 32) * 32;
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, Buffer.concat([header, Buffer.alloc(dataStart - header.length + offset)]));
}

const Q4_K = 12;
const Q6_K = 14;
const IQ2_XXS = 16;
const F32 = 0;
/** A Q4_K_M-like file: most weights Q4_K, some Q6_K, norms F32; 256·8 + 256·4 + 256 = 3328 parameters. */
const qwenQ4KM = [
  { name: 'blk.0.ffn_up.weight', dims: [256, 8], type: Q4_K, bytes: 8 * 144 },
  { name: 'output.weight', dims: [256, 4], type: Q6_K, bytes: 4 * 210 },
  { name: 'output_norm.weight', dims: [256], type: F32, bytes: 1024 },
];

const home = await tempDir('discovery');
const roots: ModelRoots = { ...modelRoots({}, home), ollama: [join(home, '.ollama', 'models')] };

// Ollama: a manifest naming its model layer, the GGUF blob beside it
const ollama = join(home, '.ollama', 'models');
const blobHex = 'a'.repeat(64);
await writeTinyGguf(join(ollama, 'blobs', `sha256-${blobHex}`), 'qwen2', 15, qwenQ4KM);
const manifest = (digest: string) =>
  JSON.stringify({
    schemaVersion: 2,
    layers: [
      { mediaType: 'application/vnd.ollama.image.model', digest, size: 4000 },
      { mediaType: 'application/vnd.ollama.image.params', digest: `sha256:${'b'.repeat(64)}`, size: 30 },
    ],
  });
await mkdir(join(ollama, 'manifests', 'registry.ollama.ai', 'library', 'qwen2.5-coder'), { recursive: true });
await writeFile(join(ollama, 'manifests', 'registry.ollama.ai', 'library', 'qwen2.5-coder', '1.5b'), manifest(`sha256:${blobHex}`));
await mkdir(join(ollama, 'manifests', 'registry.ollama.ai', 'someone', 'evil'), { recursive: true });
await writeFile(join(ollama, 'manifests', 'registry.ollama.ai', 'someone', 'evil', 'latest'), manifest('sha256:../../../etc/passwd'));

// Hugging Face cache: snapshot files are links into ../../blobs, refs/main names the revision
const hub = join(home, '.cache', 'huggingface', 'hub');
async function cacheRepo(repo: string, make: (dir: string) => Promise<unknown>): Promise<string> {
  const rev = '0123456789abcdef0123456789abcdef01234567';
  const repoDir = join(hub, repo);
  const staging = join(home, 'staging', repo);
  await make(staging);
  const snapshot = join(repoDir, 'snapshots', rev);
  await mkdir(snapshot, { recursive: true });
  await mkdir(join(repoDir, 'blobs'), { recursive: true });
  for (const [i, name] of (await readdir(staging)).entries()) {
    await rename(join(staging, name), join(repoDir, 'blobs', `blob${i}`));
    await symlink(join('..', '..', 'blobs', `blob${i}`), join(snapshot, name));
  }
  await mkdir(join(repoDir, 'refs'), { recursive: true });
  await writeFile(join(repoDir, 'refs', 'main'), rev);
  return snapshot;
}
const qwenSnapshot = await cacheRepo('models--Qwen--Tiny-Coder', (dir) => makeCheckpoint('qwen2', dir, { dtype: 'BF16' }));
const bertSnapshot = await cacheRepo('models--google--bert-tiny', async (dir) => {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify({ architectures: ['BertModel'], torch_dtype: 'float32' }));
  await writeFile(join(dir, 'model.safetensors'), Buffer.alloc(100));
  await writeFile(join(dir, 'tokenizer.json'), '{}');
});

// LM Studio: GGUF files per publisher/model; a vision projector beside them is not a model
const lmstudio = join(home, '.lmstudio', 'models', 'lmstudio-community', 'Tiny-GGUF');
await writeTinyGguf(join(lmstudio, 'Tiny-Q4_K_M.gguf'), 'llama', 15, qwenQ4KM);
await writeTinyGguf(join(lmstudio, 'Tiny-IQ2_XXS.gguf'), 'llama', 19, [{ name: 'blk.0.ffn_up.weight', dims: [256, 8], type: IQ2_XXS, bytes: 8 * 66 }]);
await writeTinyGguf(join(lmstudio, 'mmproj-Tiny-F16.gguf'), 'clip', 1, []);
const phi = join(home, '.lmstudio', 'models', 'microsoft', 'Phi-GGUF', 'phi-Q8_0.gguf');
await writeTinyGguf(phi, 'phi3', 7, [{ name: 'output_norm.weight', dims: [256], type: F32, bytes: 1024 }]);
const outsideFile = join(home, 'elsewhere', 'secret.gguf');
await writeTinyGguf(outsideFile, 'llama', 7, []);
await mkdir(join(home, '.lmstudio', 'models', 'linked', 'Out'), { recursive: true });
await symlink(outsideFile, join(home, '.lmstudio', 'models', 'linked', 'Out', 'out.gguf'));

const found = await discoverModels(roots);
const byName = new Map(found.map((m) => [m.name, m]));

test('finds an Ollama model by its manifest, named as Ollama names it, with the GGUF header facts', () => {
  const model = byName.get('qwen2.5-coder:1.5b');
  assert.ok(model, `found: ${[...byName.keys()].join(', ')}`);
  assert.equal(model.source, 'ollama');
  assert.equal(model.path, join(ollama, 'blobs', `sha256-${blobHex}`));
  assert.equal(model.format, 'gguf');
  assert.equal(model.architecture, 'qwen2');
  assert.equal(model.family, 'llama');
  assert.equal(model.parameters, 256 * 8 + 256 * 4 + 256);
  assert.equal(model.quantization, 'Q4_K_M');
  assert.equal(model.unsupported, undefined);
});

test('an Ollama manifest whose digest is not a sha256 leads nowhere', () => {
  assert.equal([...byName.keys()].some((name) => name.includes('evil')), false);
});

test('finds the current snapshot of a Hugging Face cache repo, its links resolved inside the cache', () => {
  const model = byName.get('Qwen/Tiny-Coder');
  assert.ok(model, `found: ${[...byName.keys()].join(', ')}`);
  assert.equal(model.source, 'huggingface');
  assert.equal(model.path, qwenSnapshot);
  assert.equal(model.architecture, 'Qwen2ForCausalLM');
  assert.equal(model.family, 'llama');
  assert.ok(model.bytes > 1000, `weight bytes ${model.bytes}`);
  assert.equal(model.quantization, 'bfloat16');
  assert.equal(model.unsupported, undefined);
});

test('lists an unsupported architecture with the reason instead of hiding it', () => {
  const bert = byName.get('google/bert-tiny');
  assert.ok(bert);
  assert.equal(bert.path, bertSnapshot);
  assert.match(bert.unsupported ?? '', /architecture BertModel is not supported/);
  const phiModel = byName.get('microsoft/Phi-GGUF/phi-Q8_0.gguf');
  assert.match(phiModel?.unsupported ?? '', /GGUF architecture phi3 is not supported/);
  assert.equal(phiModel?.quantization, 'Q8_0');
});

test('finds LM Studio GGUF files, leaves out vision projectors, names tensor types it cannot read', () => {
  const q4 = byName.get('lmstudio-community/Tiny-GGUF/Tiny-Q4_K_M.gguf');
  assert.ok(q4);
  assert.equal(q4.source, 'lmstudio');
  assert.equal(q4.family, 'llama');
  const iq2 = byName.get('lmstudio-community/Tiny-GGUF/Tiny-IQ2_XXS.gguf');
  assert.equal(iq2?.quantization, 'IQ2_XXS');
  assert.match(iq2?.unsupported ?? '', /ggml type 16 tensors are not supported \(supported: F32, F16, BF16, Q8_0/);
  assert.equal([...byName.keys()].some((name) => name.includes('mmproj')), false);
});

test('a link out of the store is listed as refused, its target never read', () => {
  const out = byName.get('linked/Out/out.gguf');
  assert.ok(out);
  assert.match(out.unsupported ?? '', /links outside .*\.lmstudio/);
  assert.equal(out.architecture, undefined);
});

test('runnable models come first', () => {
  const firstRefused = found.findIndex((m) => m.unsupported !== undefined);
  assert.ok(firstRefused > 0);
  assert.ok(found.slice(firstRefused).every((m) => m.unsupported !== undefined));
});

test('describes a model in one line: family, parameters, quantization, size', () => {
  assert.equal(describeModel({ ...byName.get('qwen2.5-coder:1.5b')!, parameters: 1_543_714_304, bytes: 986_000_000 }), 'llama · 1.5B parameters · Q4_K_M · 986 MB');
  assert.equal(describeModel(byName.get('Qwen/Tiny-Coder')!), `llama · bfloat16 · ${Math.round(byName.get('Qwen/Tiny-Coder')!.bytes / 1e3)} KB`);
});

test('store folders follow the tools\' environment variables', () => {
  const fromEnv = modelRoots({ OLLAMA_MODELS: '/o', HF_HUB_CACHE: '/hub', HF_HOME: '/hf' }, '/home/u');
  assert.deepEqual(fromEnv.ollama, ['/o', SYSTEM_OLLAMA_STORE]);
  assert.deepEqual(fromEnv.huggingface, ['/hub']);
  assert.deepEqual(modelRoots({ HF_HOME: '/hf' }, '/home/u').huggingface, ['/hf/hub']);
  const defaults = modelRoots({}, '/home/u');
  assert.deepEqual(defaults.ollama, ['/home/u/.ollama/models', SYSTEM_OLLAMA_STORE]);
  assert.deepEqual(defaults.huggingface, ['/home/u/.cache/huggingface/hub']);
  assert.deepEqual(defaults.lmstudio, ['/home/u/.lmstudio/models', '/home/u/.cache/lm-studio/models']);
});

test('validation accepts a checkpoint folder and says what it is', async () => {
  const check = await validateModel(await makeCheckpoint('llama', join(home, 'valid', 'llama')));
  assert.equal(check.ok, true, check.ok ? '' : check.reason);
  assert.equal(check.ok && check.model.family, 'llama');
});

test('validation refuses an empty folder, naming what a model folder holds', async () => {
  const empty = join(home, 'valid', 'empty');
  await mkdir(empty, { recursive: true });
  const check = await validateModel(empty);
  assert.equal(check.ok, false);
  assert.match(!check.ok ? check.reason : '', /empty: choose a folder with config\.json, \*\.safetensors and tokenizer\.json, or a \.gguf file/);
});

test('validation names the first missing part: config, weights, tokenizer', async () => {
  const dir = await makeCheckpoint('qwen2', join(home, 'valid', 'parts'));
  await rm(join(dir, 'tokenizer.json'));
  assert.deepEqual(await validateModel(dir), { ok: false, reason: `${dir}: no tokenizer.json` });
  await rm(join(dir, 'model.safetensors'));
  assert.deepEqual(await validateModel(dir), { ok: false, reason: `${dir}: no *.safetensors weights` });
  await writeFile(join(dir, 'pytorch_model.bin'), 'x');
  assert.deepEqual(await validateModel(dir), { ok: false, reason: `${dir}: PyTorch *.bin weights only: Prefer reads *.safetensors` });
  await rm(join(dir, 'config.json'));
  const check = await validateModel(dir);
  assert.match(!check.ok ? check.reason : '', /has no config\.json, so it is not a Hugging Face checkpoint/);
});

test('validation refuses an unsupported family, a file that is no model, and a missing path', async () => {
  const bert = await validateModel(bertSnapshot);
  assert.match(!bert.ok ? bert.reason : '', /architecture BertModel is not supported \(supported: LlamaForCausalLM/);
  const text = join(home, 'valid', 'notes.txt');
  await writeFile(text, 'hello');
  assert.match(((await validateModel(text)) as { reason: string }).reason, /is not a model/);
  assert.match(((await validateModel(join(home, 'nowhere'))) as { reason: string }).reason, /nowhere: nothing there/);
  assert.match(((await validateModel(phi)) as { reason: string }).reason, /GGUF architecture phi3 is not supported/);
});

test('validation of a .gguf goes through the loader: a whole GGUF model is accepted, a header without a tokenizer refused', async () => {
  const file = join(home, 'valid', 'qwen2-q8_0.gguf');
  await writeGguf(await loadCheckpoint(await makeCheckpoint('qwen2', join(home, 'valid', 'qwen2-source'))), file, { type: 'Q8_0' });
  const check = await validateModel(file);
  assert.equal(check.ok, true, check.ok ? '' : check.reason);
  assert.equal(check.ok && check.model.family, 'llama');
  assert.equal(check.ok && check.model.architecture, 'qwen2');
  const headerOnly = await validateModel(join(lmstudio, 'Tiny-Q4_K_M.gguf'));
  assert.equal(headerOnly.ok, false);
  assert.match(!headerOnly.ok ? headerOnly.reason : '', /Tiny-Q4_K_M\.gguf: missing metadata llama\.embedding_length/);
});
