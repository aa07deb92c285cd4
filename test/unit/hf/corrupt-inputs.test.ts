import assert from 'node:assert/strict';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { encodeSafetensors } from '../../../src/engine/hf/safetensors-write.ts';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { tempDir } from './temp-dir.ts';

/** Every failure must be one line that starts with the offending file and names the problem. */
async function rejectsWith(dir: string, file: string, problem: RegExp): Promise<void> {
  await assert.rejects(loadCheckpoint(dir), (error: Error) => {
    assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
    assert.ok(error.message.startsWith(`${join(dir, file)}: `), `starts with the file: ${error.message}`);
    assert.match(error.message, problem);
    return true;
  });
}

async function freshCheckpoint(label: string, options: Parameters<typeof makeCheckpoint>[2] = {}): Promise<string> {
  return makeCheckpoint('llama', join(await tempDir(label), 'model'), options);
}

/** Replaces model.safetensors with a file whose header is `header` (raw JSON text) and `dataBytes` zero bytes. */
async function writeRawSafetensors(dir: string, header: string, dataBytes: number, declaredLength?: number): Promise<void> {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(declaredLength ?? json.length), true);
  out.set(json, 8);
  await writeFile(join(dir, 'model.safetensors'), out);
}

test('rejects a truncated safetensors file', async () => {
  const dir = await freshCheckpoint('trunc');
  const path = join(dir, 'model.safetensors');
  const size = (await readFile(path)).byteLength;
  await truncate(path, size - 100);
  await rejectsWith(dir, 'model.safetensors', /truncated file \(tensors need \d+ data bytes, the file holds \d+\)$/);
  await truncate(path, 5);
  await rejectsWith(dir, 'model.safetensors', /truncated file \(5 bytes/);
});

test('rejects a header length past the end of the file', async () => {
  const dir = await freshCheckpoint('hlen');
  await writeRawSafetensors(dir, '{}', 0, 1_000_000);
  await rejectsWith(dir, 'model.safetensors', /^.*: header length 1000000 past end of file \(10 bytes\)$/);
});

test('rejects a header that is not valid JSON', async () => {
  const dir = await freshCheckpoint('json');
  await writeRawSafetensors(dir, '{"a": {"dtype": "F32", "shape": [1], ', 4);
  await rejectsWith(dir, 'model.safetensors', /bad JSON in header/);
});

test('rejects data_offsets that are out of range', async () => {
  const dir = await freshCheckpoint('offsets');
  await writeRawSafetensors(dir, '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}', 8);
  await rejectsWith(dir, 'model.safetensors', /tensor a: data_offsets \[8,4\] out of range$/);
});

test('rejects a dtype/shape that disagrees with the byte length', async () => {
  const dir = await freshCheckpoint('shape');
  await writeRawSafetensors(dir, '{"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}}', 20);
  await rejectsWith(dir, 'model.safetensors', /tensor a: dtype\/shape mismatch \(F32 \[2, 3\] needs 24 bytes, data_offsets give 20\)$/);
});

test('rejects an unknown dtype, and a known non-float dtype when the weight is read', async () => {
  const dir = await freshCheckpoint('dtype');
  await writeRawSafetensors(dir, '{"a": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 2]}}', 2);
  await rejectsWith(dir, 'model.safetensors', /tensor a: unknown dtype Q4$/);

  const withInts = await freshCheckpoint('i64');
  const path = join(withInts, 'model.safetensors');
  const good = await readFile(path);
  const headerLength = Number(new DataView(good.buffer, good.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(good.subarray(8, 8 + headerLength)));
  header['model.norm.weight'].dtype = 'I32'; // same byte size, so the header stays consistent
  const body = good.subarray(8 + headerLength);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  await writeFile(path, out);
  const checkpoint = await loadCheckpoint(withInts);
  assert.throws(() => checkpoint.weights.get('model.norm.weight'), {
    message: `${path}: tensor model.norm.weight has dtype I32; only F32, F16 and BF16 weights are supported`,
  });
});

test('reports a missing tensor by name', async () => {
  const dir = await freshCheckpoint('missing');
  const checkpoint = await loadCheckpoint(dir);
  assert.throws(() => checkpoint.weights.get('model.layers.9.mlp.up_proj.weight'), {
    message: `${join(dir, 'model.safetensors')}: missing tensor model.layers.9.mlp.up_proj.weight`,
  });
});

test('rejects a shard index that names a tensor its shard lacks, or a shard that is absent', async () => {
  const dir = await freshCheckpoint('index', { sharded: true });
  const indexPath = join(dir, 'model.safetensors.index.json');
  const index = JSON.parse(await readFile(indexPath, 'utf8'));
  index.weight_map['model.layers.7.self_attn.q_proj.weight'] = 'model-00001-of-00002.safetensors';
  await writeFile(indexPath, JSON.stringify(index));
  await rejectsWith(dir, 'model-00001-of-00002.safetensors', /missing tensor model\.layers\.7\.self_attn\.q_proj\.weight \(listed in model\.safetensors\.index\.json\)$/);
  await rm(join(dir, 'model-00001-of-00002.safetensors'));
  await rejectsWith(dir, 'model-00001-of-00002.safetensors', /file not found$/);
  index.weight_map['x'] = '../elsewhere.safetensors';
  await writeFile(indexPath, JSON.stringify(index));
  await rejectsWith(dir, 'model.safetensors.index.json', /tensor x maps to a bad shard name/);
});

test('rejects bad JSON, an unknown architecture and a missing field in config.json', async () => {
  const dir = await freshCheckpoint('config');
  const path = join(dir, 'config.json');
  const config = JSON.parse(await readFile(path, 'utf8'));
  await writeFile(path, '{"architectures": [');
  await rejectsWith(dir, 'config.json', /bad JSON/);
  await writeFile(path, JSON.stringify({ ...config, architectures: ['BertForMaskedLM'] }));
  await rejectsWith(dir, 'config.json', /unknown architecture BertForMaskedLM/);
  await writeFile(path, JSON.stringify({ ...config, num_attention_heads: undefined }));
  await rejectsWith(dir, 'config.json', /missing config field "num_attention_heads"$/);
  await rm(path);
  await rejectsWith(dir, 'config.json', /file not found$/);
});

test('rejects a missing or broken tokenizer and a vocab_size that disagrees with the embedding table', async () => {
  const dir = await freshCheckpoint('tok');
  const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, vocab_size: 100 }));
  await rejectsWith(dir, 'config.json', /vocab_size is 100 but model\.safetensors has model\.embed_tokens\.weight of shape \[768, 64\]$/);
  await writeFile(join(dir, 'tokenizer.json'), '[1, 2');
  await rejectsWith(dir, 'tokenizer.json', /bad JSON/);
  await rm(join(dir, 'tokenizer.json'));
  await rejectsWith(dir, 'tokenizer.json', /file not found$/);
});

test('rejects a checkpoint folder without weights', async () => {
  const dir = await freshCheckpoint('noweights');
  await rm(join(dir, 'model.safetensors'));
  await assert.rejects(loadCheckpoint(dir), { message: `${dir}: no model.safetensors or model.safetensors.index.json` });
});

test('rejects a bad generation_config.json field', async () => {
  const dir = await freshCheckpoint('gen');
  await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ top_p: 1.5 }));
  await rejectsWith(dir, 'generation_config.json', /field "top_p" must be a number in \(0, 1\], got 1\.5$/);
  await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ repetition_penalty: 0 }));
  await rejectsWith(dir, 'generation_config.json', /field "repetition_penalty" must be a positive number, got 0$/);
  await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ repetition_penalty: 1.3 }));
  assert.equal((await loadCheckpoint(dir)).generation.repetitionPenalty, 1.3);
});

test('an untouched fixture loads (the corruptions above are what fail)', async () => {
  const dir = await freshCheckpoint('ok');
  const checkpoint = await loadCheckpoint(dir);
  assert.equal(checkpoint.config.architecture, 'LlamaForCausalLM');
  assert.equal(encodeSafetensors([]).byteLength % 8, 0);
});
