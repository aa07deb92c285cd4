/**
 * DPO's training checkpoints: the LoRA matrices, the AdamW moments, the step reached and the metrics so far, in one
 * safetensors file written atomically (train/checkpoint.ts), so a kill at any moment leaves either the old or the
 * new checkpoint whole. A checkpoint carries a fingerprint of the round's options and data; resuming with
 * anything else is refused. Beside it, the round's record (round.json) says
 * what the round was — store run, model, pairs, options — so a process that did not start it can resume it.
 */
import { existsSync, lstatSync, readFileSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { readTensorFile, writeFileAtomically, writeTensorFile } from '../train/checkpoint.ts';
import { firstLine } from '../inputError.ts';

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
  const tensors = [...c.tensors].map(([name, data]) => {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`checkpoint: no shape for ${name}`);
    return { name, shape, data };
  });
  writeTensorFile(dir, FILE, tensors, { step: String(c.step), fingerprint: c.fingerprint, history: JSON.stringify(c.history) });
}

export async function readCheckpoint(dir: string): Promise<TrainingCheckpoint> {
  const path = join(dir, FILE);
  const { tensors, metadata } = await readTensorFile(path);
  const step = Number(metadata.step);
  if (!Number.isInteger(step) || step < 0 || metadata.fingerprint === undefined) throw new Error(`${path}: not a Prefer training checkpoint`);
  return { step, fingerprint: metadata.fingerprint, tensors, history: JSON.parse(metadata.history ?? '[]') as unknown[] };
}

/** Whether a folder entry is one Prefer writes into a checkpoint folder (the two files and their staging copies). */
function isCheckpointFile(name: string): boolean {
  return name === FILE || name === RECORD || /^(checkpoint\.safetensors|round\.json)\.\d+\.tmp$/.test(name);
}

/**
 * Why `dir` cannot be taken for a Prefer checkpoint folder — a link, a file, or a folder holding anything
 * Prefer did not write there — or undefined when it is one (or does not exist).
 */
export function checkpointFolderProblem(dir: string): string | undefined {
  let stat;
  try {
    stat = lstatSync(dir);
  } catch {
    return undefined;
  }
  if (stat.isSymbolicLink()) return 'is a link, not a Prefer checkpoint folder';
  if (!stat.isDirectory()) return 'is not a folder';
  const foreign = readdirSync(dir).find((name) => !isCheckpointFile(name));
  return foreign === undefined ? undefined : `holds ${foreign}, which is not part of a Prefer checkpoint`;
}

/**
 * Removes a checkpoint folder: only the files Prefer writes there, then the folder if that left it empty.
 * Anything else (a link, a file, what a user put inside) is left where it is.
 */
export function removeCheckpoint(dir: string): void {
  let stat;
  try {
    stat = lstatSync(dir);
  } catch {
    return;
  }
  if (!stat.isDirectory()) return;
  for (const name of readdirSync(dir)) if (isCheckpointFile(name)) unlinkSync(join(dir, name));
  try {
    rmdirSync(dir);
  } catch (e) {
    // something that is not Prefer's was put there: it stays, and so does its folder
    if ((e as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw e;
  }
}

/** What a round was, kept with its checkpoint: enough to resume it with nothing else but the store. */
export interface RoundRecord {
  /** The store's training run (store-backed rounds). */
  runId: number | null;
  database: string | null;
  /** The store's pair ids the round trains on, in order: pairs stored later are not part of it. */
  pairIds: number[] | null;
  /** The store's judged completions a KTO round trains on besides its pairs, in order. */
  feedbackIds?: number[];
  modelDir: string;
  baseModelHash: string;
  outDir: string;
  /** The round's options as given (without the checkpoint settings, which belong to whoever resumes). */
  training: Record<string, unknown>;
  /** Optimizer steps of the whole round, once the trainer has planned them. */
  totalSteps: number | null;
  startedAt: string;
}

const RECORD = 'round.json';

export function writeRoundRecord(dir: string, record: RoundRecord): void {
  writeFileAtomically(dir, RECORD, `${JSON.stringify(record, null, 1)}\n`);
}

/** The round's record, or undefined when the folder has none; a damaged record is a one-line error. */
export function readRoundRecord(dir: string): RoundRecord | undefined {
  const path = join(dir, RECORD);
  if (!existsSync(path)) return undefined;
  let value: Partial<RoundRecord>;
  try {
    value = JSON.parse(readFileSync(path, 'utf8')) as Partial<RoundRecord>;
  } catch (e) {
    throw new Error(`${path}: not a round record (${firstLine(e)})`);
  }
  const ids = value.pairIds;
  if (
    typeof value.modelDir !== 'string' ||
    typeof value.baseModelHash !== 'string' ||
    typeof value.outDir !== 'string' ||
    typeof value.training !== 'object' ||
    value.training === null ||
    !(value.runId === null || Number.isInteger(value.runId)) ||
    !(ids === null || (Array.isArray(ids) && ids.every((id) => Number.isInteger(id))))
  ) {
    throw new Error(`${path}: not a round record (a field is missing or of the wrong type)`);
  }
  return value as RoundRecord;
}

/** The step a folder's checkpoint reached, or undefined when it has none yet. */
export async function checkpointStep(dir: string): Promise<number | undefined> {
  return checkpointExists(dir) ? (await readCheckpoint(dir)).step : undefined;
}
