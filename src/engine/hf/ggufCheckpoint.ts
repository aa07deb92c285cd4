/**
 * A GGUF file → Checkpoint, the same thing a model folder gives: the config and tensor names through the family
 * descriptor that reads the file's general.architecture, the tokenizer from its metadata, sampling defaults from
 * general.sampling.*, and a hash that keys compiled-graph caches.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { InputError } from '../../inputError.ts';
import { familyByGgufArchitecture, SUPPORTED_GGUF_ARCHITECTURES } from '../models/families.ts';
import { GgufFile, GgufMetadata } from './gguf.ts';
import { GgufWeights } from './ggufWeights.ts';
import { checkSizes } from './sizes.ts';
import { CheckpointTokenizer } from './tokenizer.ts';
import type { Checkpoint, GenerationDefaults, ModelConfig } from './types.ts';

/** A path ending in .gguf, or a file that starts with GGUF's magic (Ollama's blobs have no extension). */
export function isGgufPath(path: string): boolean {
  if (path.toLowerCase().endsWith('.gguf')) return true;
  try {
    const fd = openSync(path, 'r');
    try {
      const magic = Buffer.alloc(4);
      return readSync(fd, magic, 0, 4, 0) === 4 && magic.toString('latin1') === 'GGUF';
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

export function loadGgufCheckpoint(path: string): Checkpoint {
  const file = GgufFile.open(resolve(path));
  const metadata = new GgufMetadata(file.metadata, file.path);
  const arch = metadata.string('general.architecture');
  const mapping = familyByGgufArchitecture(arch)?.gguf;
  if (!mapping) throw new InputError(`${file.path}: GGUF architecture ${arch} is not supported (supported: ${SUPPORTED_GGUF_ARCHITECTURES.join(', ')})`);
  const config = mapping.config(metadata, arch, new Set(file.tensors.keys()));
  const weights = new GgufWeights(file, mapping.tensors(config, arch));
  checkSizes(config, weights, file.path);
  const tokenizer = CheckpointTokenizer.fromGguf(metadata);
  return {
    dir: file.path,
    config,
    weights,
    generation: generationDefaults(metadata, config),
    tokenizer,
    hash: ggufHash(file),
  };
}

/** general.sampling.* (written by recent converters) and the end-of-text token. */
function generationDefaults(m: GgufMetadata, config: ModelConfig): GenerationDefaults {
  const defaults: GenerationDefaults = {};
  const temperature = m.optionalNumber('general.sampling.temp');
  const topK = m.optionalPositiveInt('general.sampling.top_k');
  const topP = m.optionalNumber('general.sampling.top_p');
  const minP = m.optionalNumber('general.sampling.min_p');
  if (temperature !== null) defaults.temperature = temperature;
  if (topK !== null) defaults.topK = topK;
  if (topP !== null) defaults.topP = topP;
  if (minP !== null) defaults.minP = minP;
  if (config.eosTokenIds.length) defaults.eosTokenIds = config.eosTokenIds;
  return defaults;
}

/** Bytes hashed per MiB of tensor data: enough that retrained weights of the same shapes change the hash. */
const SAMPLE_BYTES = 4096;
const SAMPLE_STRIDE = 1 << 20;

/**
 * sha256 over the file size, the header (metadata and tensor infos, tokenizer included) and 4 KiB of every MiB
 * of tensor data: cheap on a multi-GB file, and a model retrained in the same shapes gets a new hash.
 */
function ggufHash(file: GgufFile): string {
  const hash = createHash('sha256');
  hash.update(`gguf\0${file.fileSize}\0`);
  file.reading((read) => {
    hash.update(read(0, Math.min(file.dataOffset, file.fileSize)));
    for (let at = file.dataOffset; at < file.fileSize; at += SAMPLE_STRIDE) hash.update(read(at, Math.min(SAMPLE_BYTES, file.fileSize - at)));
  });
  return hash.digest('hex');
}
