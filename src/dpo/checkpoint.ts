/**
 * Training checkpoints: the LoRA matrices, the AdamW moments, the step reached and the metrics so far, in one
 * safetensors file written to a temporary name and renamed over the previous one, so a kill at any moment
 * leaves either the old or the new checkpoint whole. A checkpoint carries a fingerprint of the round's
 * options and data; resuming with anything else is refused.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors } from '../engine/hf/safetensors-write.ts';
import { readSafetensors } from '../engine/hf/safetensors.ts';

export interface TrainingCheckpoint {
  /** Optimizer steps done. */
  step: number;
  fingerprint: string;
  /** LoRA matrices and optimizer moments by name. */
  tensors: Map<string, Float32Array>;
  /** Per-step metrics so far (JSON-able). */
  history: unknown[];
}

const FILE = 'checkpoint.safetensors';

export function checkpointExists(dir: string): boolean {
  return existsSync(join(dir, FILE));
}

export function writeCheckpoint(dir: string, c: TrainingCheckpoint, shapes: ReadonlyMap<string, number[]>): void {
  mkdirSync(dir, { recursive: true });
  const tensors = [...c.tensors].map(([name, data]) => {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`checkpoint: no shape for ${name}`);
    return { name, shape, data };
  });
  const bytes = encodeSafetensors(tensors, { metadata: { step: String(c.step), fingerprint: c.fingerprint, history: JSON.stringify(c.history) } });
  const staging = join(dir, `${FILE}.${process.pid}.tmp`);
  writeFileSync(staging, bytes);
  renameSync(staging, join(dir, FILE));
}

export async function readCheckpoint(dir: string): Promise<TrainingCheckpoint> {
  const path = join(dir, FILE);
  const file = await readSafetensors(path);
  const step = Number(file.metadata.step);
  if (!Number.isInteger(step) || step < 0 || file.metadata.fingerprint === undefined) throw new Error(`${path}: not a Prefer training checkpoint`);
  const tensors = new Map<string, Float32Array>();
  for (const [name, entry] of file.tensors) {
    if (entry.dtype !== 'F32') throw new Error(`${path}: tensor ${name} is ${entry.dtype}, F32 expected`);
    tensors.set(name, new Float32Array(file.bytes.slice(entry.begin, entry.end).buffer));
  }
  return { step, fingerprint: file.metadata.fingerprint, tensors, history: JSON.parse(file.metadata.history ?? '[]') as unknown[] };
}

export function removeCheckpoint(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
