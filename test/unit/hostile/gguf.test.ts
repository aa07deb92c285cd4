/**
 * Hostile GGUF files handed to `prefer sample --model FILE.gguf`: truncated headers and data, counts and lengths
 * no file could hold, unknown versions, architectures and tensor types. Each must stop at once with exit 2 and
 * one line naming the file, never allocate what a count claims or read past the end.
 */
import { readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { writeGguf } from '../../reference/gguf.ts';
import { type HostileCase, copyModel, hostileCases } from './harness.ts';

const sample = ['sample', '--model', 'model.gguf', '--prefix', 'def f', '--n', '2', '--max-tokens', '4', '--cache', 'cache'];

/** The fixture model as dir/model.gguf, then `damage` applied to its bytes. */
async function damaged(dir: string, damage: (bytes: Buffer) => Buffer | void): Promise<string[]> {
  const checkpoint = await loadCheckpoint(await copyModel(dir, 'source'));
  const path = join(dir, 'model.gguf');
  await writeGguf(checkpoint, path);
  const bytes = readFileSync(path);
  writeFileSync(path, damage(bytes) ?? bytes);
  return sample;
}

/** Byte offset just past the first occurrence of `text` (a key or tensor name) in the header. */
function after(bytes: Buffer, text: string): number {
  const at = bytes.indexOf(Buffer.from(text));
  if (at < 0) throw new Error(`${text} not in the file`);
  return at + Buffer.byteLength(text);
}

/** The tensor info of `name`: [position of its GGML type id, position of its dims]. */
function tensorInfo(bytes: Buffer, name: string): { dims: number; type: number } {
  const dims = after(bytes, name) + 4;
  return { dims, type: dims + 8 * bytes.readUInt32LE(dims - 4) };
}

const cases: HostileCase[] = [
  {
    name: 'a GGUF cut inside its tensor data (a partial download)',
    setup: async (dir) => {
      const args = await damaged(dir, () => {});
      const path = join(dir, 'model.gguf');
      truncateSync(path, statSync(path).size - 1000);
      return args;
    },
    error: /model\.gguf: tensor output\.weight ends at byte \d+, past the end of the file \(\d+ bytes; truncated\?\)$/,
  },
  {
    name: 'a GGUF cut inside its header',
    setup: (dir) => damaged(dir, (bytes) => bytes.subarray(0, 3000)),
    error: /model\.gguf: GGUF header ends early at byte 3000 \(truncated\?\)$/,
  },
  {
    name: 'a tensor count of 2^40 (would allocate a trillion infos)',
    setup: (dir) => damaged(dir, (bytes) => void bytes.writeBigUInt64LE(1n << 40n, 8)),
    error: /model\.gguf: tensor count 1099511627776 does not fit in the file/,
  },
  {
    name: 'a metadata key 2^50 bytes long',
    setup: (dir) => damaged(dir, (bytes) => void bytes.writeBigUInt64LE(1n << 50n, 24)),
    error: /model\.gguf: metadata key length 1125899906842624 does not fit in the file/,
  },
  {
    name: 'a token list claiming 2^40 entries',
    setup: (dir) => damaged(dir, (bytes) => void bytes.writeBigUInt64LE(1n << 40n, after(bytes, 'tokenizer.ggml.tokens') + 8)),
    error: /model\.gguf: metadata tokenizer\.ggml\.tokens array length 1099511627776 does not fit in the file/,
  },
  {
    name: 'a tensor dimension of 2^45',
    setup: (dir) => damaged(dir, (bytes) => void bytes.writeBigUInt64LE(1n << 45n, tensorInfo(bytes, 'blk.0.ffn_up.weight').dims)),
    error: /model\.gguf: tensor blk\.0\.ffn_up\.weight has absurd dimensions/,
  },
  {
    name: 'GGUF version 1',
    setup: (dir) => damaged(dir, (bytes) => void bytes.writeUInt32LE(1, 4)),
    error: /model\.gguf: GGUF version 1 is not supported \(2 or 3\)$/,
  },
  {
    name: 'not a GGUF at all',
    setup: (dir) => damaged(dir, (bytes) => Buffer.from(bytes.toString('base64'))),
    error: /model\.gguf: not a GGUF file \(no "GGUF" magic\)$/,
  },
  {
    name: 'an architecture no family reads',
    setup: (dir) => damaged(dir, (bytes) => void bytes.write('mamba', after(bytes, 'general.architecture') + 12)),
    error: /model\.gguf: GGUF architecture mamba is not supported \(supported: llama, qwen2, qwen3\)$/,
  },
  {
    name: 'a tensor of a GGML type the reader does not dequantize (Q5_0)',
    setup: (dir) => damaged(dir, (bytes) => void bytes.writeUInt32LE(6, tensorInfo(bytes, 'blk.0.ffn_up.weight').type)),
    error: /model\.gguf: tensor blk\.0\.ffn_up\.weight has GGML Q5_0; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K$/,
    mayCreate: /^cache/,
  },
  {
    name: 'general.alignment 3',
    setup: (dir) => damaged(dir, (bytes) => void bytes.writeUInt32LE(3, after(bytes, 'general.alignment') + 4)),
    error: /model\.gguf: general\.alignment must be a power of two, got 3$/,
  },
];

hostileCases('gguf', cases);
