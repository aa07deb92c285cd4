/**
 * Training checkpoints on disk, for DPO and pretraining alike: float32 tensors and string metadata in one
 * safetensors file, written to a temporary name and renamed, so a kill at any moment leaves either the old or
 * the new file whole; a folder of several files is staged and renamed the same way. What goes into a checkpoint
 * (names, metadata, beside files) is each trainer's own format.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors } from '../engine/hf/safetensors-write.ts';
import { readSafetensors } from '../engine/hf/safetensors.ts';

export interface CheckpointTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Staging name of `name` while it is written into its folder. */
export const stagingName = (name: string) => `${name}.${process.pid}.tmp`;

/** Writes `bytes` to `dir/name` through a temporary file and a rename: readers see the old file or the new. */
export function writeFileAtomically(dir: string, name: string, bytes: Uint8Array | string): void {
  mkdirSync(dir, { recursive: true });
  const staging = join(dir, stagingName(name));
  writeFileSync(staging, bytes);
  renameSync(staging, join(dir, name));
}

/** Writes a folder through `write` into a temporary folder renamed over `dir`: never a half-written folder. */
export function writeFolderAtomically(dir: string, write: (staging: string) => void): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  write(tmp);
  const old = `${dir}.old-${process.pid}`;
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(tmp, dir);
  rmSync(old, { recursive: true, force: true });
}

/** Writes the tensors and metadata as `dir/name` (safetensors), atomically. */
export function writeTensorFile(dir: string, name: string, tensors: readonly CheckpointTensor[], metadata: Record<string, string>): void {
  writeFileAtomically(dir, name, encodeSafetensors(tensors, { metadata }));
}

export interface TensorFile {
  tensors: Map<string, Float32Array>;
  metadata: Record<string, string>;
}

/** Reads a file `writeTensorFile` wrote; every tensor must be float32. */
export async function readTensorFile(path: string): Promise<TensorFile> {
  const file = await readSafetensors(path);
  const tensors = new Map<string, Float32Array>();
  for (const [name, entry] of file.tensors) {
    if (entry.dtype !== 'F32') throw new Error(`${path}: tensor ${name} is ${entry.dtype}, F32 expected`);
    tensors.set(name, new Float32Array(file.bytes.slice(entry.begin, entry.end).buffer));
  }
  return { tensors, metadata: file.metadata };
}
