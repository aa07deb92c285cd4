/** A Hugging Face checkpoint folder or a GGUF file → Checkpoint: config, weights, tokenizer, generation defaults, hash. */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { InputError } from '../../inputError.ts';
import { familyOf, readModelConfig } from '../models/families.ts';
import { readGenerationDefaults } from './generation.ts';
import { isGgufPath, loadGgufCheckpoint } from './ggufCheckpoint.ts';
import { checkSizes } from './sizes.ts';
import { CheckpointTokenizer } from './tokenizer.ts';
import type { Checkpoint, GenerationDefaults, ModelConfig } from './types.ts';
import { loadWeights, type LoadedWeights } from './weights.ts';

/** A model folder, or a GGUF file (a path ending in .gguf). */
export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  if (isGgufPath(dir)) return loadGgufCheckpoint(dir);
  const root = resolve(dir);
  const config = await readModelConfig(root);
  const [weights, tokenizer, generationFile] = await Promise.all([
    loadWeights(root),
    CheckpointTokenizer.fromDir(root),
    readGenerationDefaults(root),
  ]);
  checkSizes(config, weights, join(root, 'config.json'));
  checkVocabulary(root, config, tokenizer);
  checkTokenIds(root, config, generationFile);
  return {
    dir: root,
    config,
    weights: familyOf(config).normalizeWeights(weights),
    generation: withEos(generationFile, config, tokenizer),
    tokenizer,
    hash: await checkpointHash(root, weights),
  };
}

/** Stop tokens: generation_config.json first, then config.json, then the tokenizer's eos_token. */
function withEos(defaults: GenerationDefaults, config: ModelConfig, tokenizer: CheckpointTokenizer): GenerationDefaults {
  if (defaults.eosTokenIds?.length) return defaults;
  const eos = config.eosTokenIds.length ? config.eosTokenIds : tokenizer.eosTokenIds;
  return eos.length ? { ...defaults, eosTokenIds: eos } : defaults;
}

function checkVocabulary(dir: string, config: ModelConfig, tokenizer: CheckpointTokenizer): void {
  // Padded embedding tables (vocab_size ≥ tokens) are common; fewer rows than tokens is not a usable model.
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new InputError(`${join(dir, 'tokenizer.json')}: ${tokenizer.vocabSize} tokens but config.json vocab_size is ${config.vocabSize}`);
  }
}

/** Special token ids index the logits and the embedding: one past the vocabulary would never match or would read past the table. */
function checkTokenIds(dir: string, config: ModelConfig, generation: GenerationDefaults): void {
  const check = (file: string, field: string, ids: readonly number[]) => {
    const outside = ids.find((id) => id >= config.vocabSize);
    if (outside !== undefined) {
      throw new InputError(`${join(dir, file)}: ${field} ${outside} is outside the vocabulary (config.json vocab_size is ${config.vocabSize})`);
    }
  };
  check('config.json', 'eos_token_id', config.eosTokenIds);
  check('config.json', 'bos_token_id', config.bosTokenId === null ? [] : [config.bosTokenId]);
  check('generation_config.json', 'eos_token_id', generation.eosTokenIds ?? []);
}

/** Bytes hashed per MiB of weights: enough that retrained weights of the same shapes change the hash. */
const SAMPLE_BYTES = 4096;
const SAMPLE_STRIDE = 1 << 20;

/**
 * sha256 over config.json, each safetensors file's name, size, header and a sample of its data (4 KiB of every
 * MiB: a checkpoint retrained in the same shapes must not reuse a stale compiled graph), and tokenizer.json.
 */
async function checkpointHash(dir: string, weights: LoadedWeights): Promise<string> {
  const hash = createHash('sha256');
  const part = (label: string, bytes: Uint8Array): void => {
    hash.update(`${label}\0${bytes.byteLength}\0`);
    hash.update(bytes);
  };
  part('config.json', await readFile(join(dir, 'config.json')));
  for (const file of weights.files) {
    hash.update(`${basename(file.path)}\0${file.bytes.byteLength}\0`);
    part('header', file.headerBytes);
    for (let at = 8 + file.headerBytes.byteLength; at < file.bytes.byteLength; at += SAMPLE_STRIDE) {
      hash.update(file.bytes.subarray(at, Math.min(at + SAMPLE_BYTES, file.bytes.byteLength)));
    }
  }
  part('tokenizer.json', await readFile(join(dir, 'tokenizer.json')));
  return hash.digest('hex');
}
