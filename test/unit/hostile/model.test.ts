/**
 * Hostile model folders and sample flags: config sizes the weights do not have, token ids outside the
 * vocabulary, special files where model files belong, and flags out of range. Before the fixes these hung,
 * crashed, allocated gigabytes or sampled silently; each must now stop at once with exit 2 and one line.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type HostileCase, copyModel, hostileCases } from './harness.ts';

/** `prefer sample` on `model` (relative to the case folder), with extra flags. */
const sample = (...extra: string[]) => ['sample', '--model', 'model', '--prefix', 'def f', '--n', '2', '--max-tokens', '4', '--cache', 'cache', ...extra];

/** A model whose `file` (config.json by default) has `fields` changed. */
async function edited(dir: string, fields: Record<string, unknown>, file = 'config.json'): Promise<string[]> {
  const model = await copyModel(dir);
  const path = join(model, file);
  writeFileSync(path, JSON.stringify({ ...(JSON.parse(readFileSync(path, 'utf8')) as object), ...fields }));
  return sample();
}

/** A model whose model.safetensors is replaced by what `make` puts at its path. */
async function replacedWeights(dir: string, make: (path: string) => void): Promise<string[]> {
  const model = await copyModel(dir);
  const path = join(model, 'model.safetensors');
  rmSync(path);
  make(path);
  return sample();
}

/** The unmodified model, with one flag set (a negative value as --flag=-1: parseArgs takes a bare -1 for an option). */
async function flagged(dir: string, ...flag: string[]): Promise<string[]> {
  await copyModel(dir);
  return sample(...flag);
}

const cases: HostileCase[] = [
  {
    name: 'num_hidden_layers 1e9 (used to loop over a billion layers)',
    setup: (dir) => edited(dir, { num_hidden_layers: 1e9 }),
    error: /model\/config\.json: num_hidden_layers is 1000000000 but model\.safetensors has 2 layers$/,
  },
  {
    name: 'num_hidden_layers below the layers stored (used to run a truncated model without a word)',
    setup: (dir) => edited(dir, { num_hidden_layers: 1 }),
    error: /config\.json: num_hidden_layers is 1 but model\.safetensors has 2 layers$/,
  },
  {
    name: 'head_dim 1e9 (used to fail with "Array buffer allocation failed")',
    setup: (dir) => edited(dir, { head_dim: 1e9 }),
    error: /config\.json: num_attention_heads × head_dim \(4 × 1000000000\) is 4000000000 but model\.safetensors has model\.layers\.0\.self_attn\.q_proj\.weight/,
  },
  {
    name: 'hidden_size 1e9',
    setup: (dir) => edited(dir, { hidden_size: 1e9 }),
    error: /config\.json: hidden_size is 1000000000 but model\.safetensors has model\.embed_tokens\.weight/,
  },
  {
    name: 'intermediate_size 1e12',
    setup: (dir) => edited(dir, { intermediate_size: 1e12 }),
    error: /config\.json: intermediate_size is 1000000000000 but/,
  },
  {
    name: 'vocab_size 1e9',
    setup: (dir) => edited(dir, { vocab_size: 1e9 }),
    error: /config\.json: vocab_size is 1000000000 but/,
  },
  {
    name: 'a negative num_attention_heads',
    setup: (dir) => edited(dir, { num_attention_heads: -4 }),
    error: /config\.json: config field "num_attention_heads" must be a positive integer, got -4/,
  },
  {
    name: 'num_hidden_layers as a string',
    setup: (dir) => edited(dir, { num_hidden_layers: '2' }),
    error: /config\.json: config field "num_hidden_layers" must be a positive integer, got "2"/,
  },
  {
    name: 'eos_token_id outside the vocabulary in config.json (used never to stop, silently)',
    setup: (dir) => edited(dir, { eos_token_id: 99999 }),
    error: /config\.json: eos_token_id 99999 is outside the vocabulary/,
  },
  {
    name: 'eos_token_id outside the vocabulary in generation_config.json',
    setup: (dir) => edited(dir, { eos_token_id: [761, 5000] }, 'generation_config.json'),
    error: /generation_config\.json: eos_token_id 5000 is outside the vocabulary/,
  },
  {
    name: 'config.json that is not JSON (used to exit 1 as if Prefer had failed)',
    setup: async (dir) => {
      writeFileSync(join(await copyModel(dir), 'config.json'), '{"architectures": [');
      return sample();
    },
    error: /config\.json: bad JSON/,
  },
  {
    name: 'a FIFO named model.safetensors (used to hang forever)',
    setup: (dir) => replacedWeights(dir, (path) => execFileSync('mkfifo', [path])),
    error: /model\.safetensors: a FIFO, not a regular file$/,
    timeoutMs: 20_000,
  },
  {
    name: 'a FIFO named config.json (used to hang forever)',
    setup: async (dir) => {
      const path = join(await copyModel(dir), 'config.json');
      rmSync(path);
      execFileSync('mkfifo', [path]);
      return sample();
    },
    error: /config\.json: a FIFO, not a regular file$/,
    timeoutMs: 20_000,
  },
  {
    name: 'model.safetensors a symlink to itself (used to say "no model.safetensors")',
    setup: (dir) => replacedWeights(dir, (path) => symlinkSync('model.safetensors', path)),
    error: /model\.safetensors: symbolic link loop \(ELOOP\)$/,
  },
  {
    name: 'model.safetensors a folder',
    setup: (dir) => replacedWeights(dir, (path) => mkdirSync(path)),
    error: /model\.safetensors: a folder, not a regular file$/,
  },
  {
    name: 'model.safetensors truncated',
    setup: async (dir) => {
      truncateSync(join(await copyModel(dir), 'model.safetensors'), 4000);
      return sample();
    },
    error: /model\.safetensors: truncated file/,
  },
  {
    name: 'tokenizer_config.json a symlink to itself (used to be skipped as absent)',
    setup: async (dir) => {
      const path = join(await copyModel(dir), 'tokenizer_config.json');
      rmSync(path);
      symlinkSync('tokenizer_config.json', path);
      return sample();
    },
    error: /tokenizer_config\.json: symbolic link loop \(ELOOP\)$/,
  },
  { name: '--suffix-share 7', setup: (dir) => flagged(dir, '--suffix-share', '7'), error: /--suffix-share must be a number in \[0, 1\], got 7$/ },
  { name: '--prompt-tokens 0', setup: (dir) => flagged(dir, '--prompt-tokens', '0'), error: /--prompt-tokens must be a positive integer, got 0$/ },
  { name: '--n 0', setup: (dir) => flagged(dir, '--n', '0'), error: /--n must be an integer from 1 to 64, got 0$/ },
  { name: '--n 1e6', setup: (dir) => flagged(dir, '--n', '1e6'), error: /--n must be an integer from 1 to 64, got 1e6$/ },
  { name: '--max-tokens 0', setup: (dir) => flagged(dir, '--max-tokens', '0'), error: /--max-tokens must be a positive integer, got 0$/ },
  { name: '--temperature -1', setup: (dir) => flagged(dir, '--temperature=-1'), error: /--temperature must be a number ≥ 0, got -1$/ },
  { name: '--top-p 2', setup: (dir) => flagged(dir, '--top-p', '2'), error: /--top-p must be a number in \(0, 1\], got 2$/ },
  { name: '--top-k -3', setup: (dir) => flagged(dir, '--top-k=-3'), error: /--top-k must be an integer ≥ 0 \(0: off\), got -3$/ },
  { name: '--min-p 1.5', setup: (dir) => flagged(dir, '--min-p', '1.5'), error: /--min-p must be a number in \[0, 1\], got 1\.5$/ },
  { name: '--repetition-penalty 0', setup: (dir) => flagged(dir, '--repetition-penalty', '0'), error: /--repetition-penalty must be a positive number, got 0$/ },
  { name: '--seed -1', setup: (dir) => flagged(dir, '--seed=-1'), error: /--seed must be an integer from 0 to 4294967295, got -1$/ },
  { name: '--threads -2', setup: (dir) => flagged(dir, '--threads=-2'), error: /--threads must be an integer ≥ 0 \(0: ONNX Runtime decides\), got -2$/ },
];

hostileCases('model', cases);
