/**
 * Model folders whose files would hang, crash or exhaust memory before the fixes: config sizes the weights do
 * not have, special token ids outside the vocabulary, FIFOs, link loops and folders where files belong. Each
 * is refused by loadCheckpoint with one InputError line naming the file and the field.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../../src/inputError.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { MAX_CONTEXT, contextLength } from '../../../src/engine/hf/config.ts';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { tempDir } from './temp-dir.ts';

async function fixture(label: string, kind: 'llama' | 'gpt2' = 'llama'): Promise<string> {
  return makeCheckpoint(kind, join(await tempDir(label), 'model'));
}

async function editConfig(dir: string, fields: Record<string, unknown>, file = 'config.json'): Promise<void> {
  const path = join(dir, file);
  const config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  await writeFile(path, JSON.stringify({ ...config, ...fields }));
}

async function refused(dir: string, file: string, problem: RegExp): Promise<void> {
  await assert.rejects(loadCheckpoint(dir), (error: Error) => {
    assert.ok(error instanceof InputError, `an InputError: ${error.name}: ${error.message}`);
    assert.ok(!error.message.includes('\n'), `one line: ${error.message}`);
    assert.ok(error.message.startsWith(`${join(dir, file)}: `), `starts with the file: ${error.message}`);
    assert.match(error.message, problem);
    return true;
  });
}

test('num_hidden_layers above or below the layers stored is refused, naming both', async () => {
  const dir = await fixture('layers');
  await editConfig(dir, { num_hidden_layers: 1e9 });
  await refused(dir, 'config.json', /^.*: num_hidden_layers is 1000000000 but model\.safetensors has 2 layers$/);
  await editConfig(dir, { num_hidden_layers: 1 });
  await refused(dir, 'config.json', /num_hidden_layers is 1 but model\.safetensors has 2 layers$/);
});

test('head_dim, hidden_size, intermediate_size and vocab_size are checked against the tensor shapes', async () => {
  const dir = await fixture('dims');
  const original = await readFile(join(dir, 'config.json'), 'utf8');
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ head_dim: 1e9 }, /num_attention_heads × head_dim \(4 × 1000000000\) is 4000000000 but model\.safetensors has model\.layers\.0\.self_attn\.q_proj\.weight of shape \[64, 64\]$/],
    [{ hidden_size: 1e9 }, /hidden_size is 1000000000 but model\.safetensors has model\.embed_tokens\.weight/],
    [{ intermediate_size: 1e9 }, /intermediate_size is 1000000000 but .*mlp\.gate_proj\.weight of shape \[160, 64\]$/],
    [{ vocab_size: 1e9 }, /vocab_size is 1000000000 but/],
    [{ num_key_value_heads: 1 }, /num_key_value_heads × head_dim \(1 × 16\) is 16 but .*k_proj\.weight of shape \[32, 64\]$/],
  ];
  for (const [fields, problem] of cases) {
    await writeFile(join(dir, 'config.json'), original);
    await editConfig(dir, fields);
    await refused(dir, 'config.json', problem);
  }
});

test('GPT-2 n_layer and n_positions are checked against the stored layers and wpe table', async () => {
  const dir = await fixture('gpt2', 'gpt2');
  const original = await readFile(join(dir, 'config.json'), 'utf8');
  await editConfig(dir, { n_positions: 1e7 });
  await refused(dir, 'config.json', /n_positions is 10000000 but model\.safetensors has (transformer\.)?wpe\.weight/);
  await writeFile(join(dir, 'config.json'), original);
  await editConfig(dir, { n_layer: 7 });
  await refused(dir, 'config.json', /n_layer is 7 but model\.safetensors has 2 layers$/);
});

test('max_position_embeddings beyond MAX_CONTEXT loads with the context capped (no table of 10⁷ rows)', async () => {
  const dir = await fixture('positions');
  await editConfig(dir, { max_position_embeddings: 1e7 });
  const checkpoint = await loadCheckpoint(dir);
  assert.equal(checkpoint.config.maxPositions, 1e7);
  assert.equal(contextLength(checkpoint.config), MAX_CONTEXT);
});

test('an eos_token_id or bos_token_id outside the vocabulary is refused, in config.json and generation_config.json', async () => {
  const dir = await fixture('eos');
  const original = await readFile(join(dir, 'config.json'), 'utf8');
  await editConfig(dir, { eos_token_id: 99999 });
  await refused(dir, 'config.json', /eos_token_id 99999 is outside the vocabulary \(config\.json vocab_size is 768\)$/);
  await editConfig(dir, { eos_token_id: [5, 768] });
  await refused(dir, 'config.json', /eos_token_id 768 is outside/);
  await writeFile(join(dir, 'config.json'), original);
  await editConfig(dir, { bos_token_id: 800 });
  await refused(dir, 'config.json', /bos_token_id 800 is outside/);
  await writeFile(join(dir, 'config.json'), original);
  await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [761, 5000] }));
  await refused(dir, 'generation_config.json', /eos_token_id 5000 is outside the vocabulary/);
});

test('a FIFO, a folder or a link loop in place of a model file is refused at once, naming it', { timeout: 20_000 }, async () => {
  const dir = await fixture('special');
  const weights = join(dir, 'model.safetensors');
  await rm(weights);
  execFileSync('mkfifo', [weights]);
  await refused(dir, 'model.safetensors', /a FIFO, not a regular file$/);
  await rm(weights);
  await mkdir(weights);
  await refused(dir, 'model.safetensors', /a folder, not a regular file$/);
  await rm(weights, { recursive: true });
  await symlink('model.safetensors', weights);
  await refused(dir, 'model.safetensors', /symbolic link loop \(ELOOP\)$/);
  await rm(weights);
  await rm(join(dir, 'config.json'));
  execFileSync('mkfifo', [join(dir, 'config.json')]);
  await refused(dir, 'config.json', /a FIFO, not a regular file$/);
});

test('a link loop at generation_config.json or tokenizer_config.json is an error, not an absent file', async () => {
  const dir = await fixture('optional');
  for (const file of ['generation_config.json', 'tokenizer_config.json']) {
    const original = await readFile(join(dir, file));
    await rm(join(dir, file));
    await symlink(file, join(dir, file));
    await refused(dir, file, /symbolic link loop \(ELOOP\)$/);
    await rm(join(dir, file));
    await writeFile(join(dir, file), original);
  }
});

test('a sparse file of zeros is refused from its header, before the whole file is read into memory', async () => {
  const dir = await fixture('sparse');
  const weights = join(dir, 'model.safetensors');
  await rm(weights);
  execFileSync('truncate', ['-s', '64G', weights]);
  await refused(dir, 'model.safetensors', /bad JSON in header/);
});
