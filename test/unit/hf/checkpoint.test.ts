import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { encodeSafetensors } from '../../../src/engine/hf/safetensors-write.ts';
import { END_OF_TEXT_ID, makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { tempDir } from './temp-dir.ts';

const root = await tempDir('ckpt');

test('loads each tiny fixture family with its config, weights, tokenizer and generation defaults', async () => {
  const expected = {
    llama: { architecture: 'LlamaForCausalLM', tensors: 2 * 9 + 3, tied: false, headDim: 16, ropeTheta: 10000 },
    qwen2: { architecture: 'Qwen2ForCausalLM', tensors: 2 * 12 + 2, tied: true, headDim: 16, ropeTheta: 1e6 },
    qwen3: { architecture: 'Qwen3ForCausalLM', tensors: 2 * 11 + 2, tied: true, headDim: 32, ropeTheta: 1e6 },
    gpt2: { architecture: 'GPT2LMHeadModel', tensors: 2 * 12 + 4, tied: true, headDim: 16, ropeTheta: 0 },
  } as const;
  for (const [kind, want] of Object.entries(expected)) {
    const checkpoint = await loadCheckpoint(await makeCheckpoint(kind as keyof typeof expected, join(root, kind)));
    assert.equal(checkpoint.config.architecture, want.architecture, kind);
    assert.equal(checkpoint.weights.names().length, want.tensors, kind);
    assert.equal(checkpoint.config.tieWordEmbeddings, want.tied, kind);
    assert.equal(checkpoint.config.headDim, want.headDim, kind);
    assert.equal(checkpoint.config.ropeTheta, want.ropeTheta, kind);
    assert.equal(checkpoint.config.vocabSize, checkpoint.tokenizer.vocabSize, kind);
    assert.deepEqual(checkpoint.generation.eosTokenIds, [END_OF_TEXT_ID], kind);
    assert.match(checkpoint.hash, /^[0-9a-f]{64}$/);
  }
});

test('qwen fixtures carry sampling defaults from generation_config.json', async () => {
  const checkpoint = await loadCheckpoint(await makeCheckpoint('qwen3', join(root, 'gen-qwen3')));
  assert.deepEqual(checkpoint.generation, { temperature: 0.7, topK: 20, topP: 0.8, maxNewTokens: 128, eosTokenIds: [END_OF_TEXT_ID] });
});

test('GPT-2 Conv1D weights are stored [in, out] as in HF', async () => {
  const checkpoint = await loadCheckpoint(await makeCheckpoint('gpt2', join(root, 'gpt2-shapes')));
  assert.deepEqual(checkpoint.weights.get('transformer.h.0.attn.c_attn.weight').shape, [64, 192]);
  assert.deepEqual(checkpoint.weights.get('transformer.h.0.mlp.c_fc.weight').shape, [64, 256]);
  assert.deepEqual(checkpoint.weights.get('transformer.h.0.mlp.c_proj.weight').shape, [256, 64]);
  assert.deepEqual(checkpoint.weights.get('transformer.wpe.weight').shape, [256, 64]);
});

test('GPT-2 weights saved without the transformer. prefix are offered under it', async () => {
  const dir = await makeCheckpoint('gpt2', join(root, 'gpt2-bare'));
  const original = await loadCheckpoint(dir);
  const bare = original.weights.names().map((name) => ({ name: name.replace(/^transformer\./, ''), shape: original.weights.get(name).shape, data: original.weights.get(name).data }));
  await writeFile(join(dir, 'model.safetensors'), encodeSafetensors(bare));
  const renamed = await loadCheckpoint(dir);
  assert.deepEqual(renamed.weights.names().sort(), original.weights.names().sort());
  assert.equal(renamed.weights.has('transformer.h.1.ln_2.bias'), true);
  const weight = renamed.weights.get('transformer.h.1.ln_2.bias');
  assert.equal(weight.name, 'transformer.h.1.ln_2.bias');
  assert.deepEqual(weight.data, original.weights.get('transformer.h.1.ln_2.bias').data);
});

test('the hash is stable for the same files and changes with config, weight values, weights layout or tokenizer', async () => {
  const a = await makeCheckpoint('qwen2', join(root, 'hash-a'));
  const b = await makeCheckpoint('qwen2', join(root, 'hash-b'));
  const hashA = (await loadCheckpoint(a)).hash;
  assert.equal((await loadCheckpoint(b)).hash, hashA, 'identical folders hash alike (the path is not hashed)');
  assert.equal((await loadCheckpoint(a)).hash, hashA, 'reloading gives the same hash');

  const configPath = join(b, 'config.json');
  const config = await readFile(configPath, 'utf8');
  await writeFile(configPath, config.replace('"rms_norm_eps": 0.000001', '"rms_norm_eps": 0.00001'));
  assert.notEqual((await loadCheckpoint(b)).hash, hashA, 'config change');
  await writeFile(configPath, config);

  const sharded = await makeCheckpoint('qwen2', join(root, 'hash-sharded'), { sharded: true });
  assert.notEqual((await loadCheckpoint(sharded)).hash, hashA, 'weights layout change');

  // Retrained weights in the same shapes (one weight value changed) must not share the compiled graph.
  const weightsPath = join(b, 'model.safetensors');
  const original = await readFile(weightsPath);
  const retrained = Buffer.from(original);
  const dataStart = 8 + Number(retrained.readBigUInt64LE(0));
  retrained[dataStart + 1] = retrained[dataStart + 1]! ^ 0x40;
  await writeFile(weightsPath, retrained);
  assert.notEqual((await loadCheckpoint(b)).hash, hashA, 'weight values change');
  await writeFile(weightsPath, original);
  assert.equal((await loadCheckpoint(b)).hash, hashA);

  const tokenizerPath = join(b, 'tokenizer.json');
  const tokenizer = JSON.parse(await readFile(tokenizerPath, 'utf8'));
  tokenizer.added_tokens[6].content = '<|file_separator|>';
  await writeFile(tokenizerPath, JSON.stringify(tokenizer));
  assert.notEqual((await loadCheckpoint(b)).hash, hashA, 'tokenizer change');
});

test('generation_config.json is optional; EOS then comes from config.json', async () => {
  const dir = await makeCheckpoint('llama', join(root, 'no-gen'));
  await rename(join(dir, 'generation_config.json'), join(dir, 'generation_config.json.off'));
  const checkpoint = await loadCheckpoint(dir);
  assert.deepEqual(checkpoint.generation, { eosTokenIds: [END_OF_TEXT_ID] });
});
