/**
 * What a round checks before it touches the disk, the same for the CLI and the extension: the adapter folder
 * is new (or this same round's partial adapter, when resuming), lies outside the model folder and is not the
 * database; the checkpoint folder is Prefer's or absent; the LoRA rank fits the model's linears. Paths are
 * compared as the file system resolves them: links, `..` and trailing slashes do not hide a clash.
 */
import { lstatSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import type { ModelConfig, WeightSource } from '../engine/hf/types.ts';
import type { WeightStorage } from '../engine/models/weights.ts';
import { InputError, firstLine } from '../inputError.ts';
import { ADAPTER_FILES } from '../dpo/adapterFiles.ts';
import { type RoundRecord, checkpointFolderProblem, readRoundRecord } from '../dpo/checkpoint.ts';
import type { LoraConfig } from '../dpo/lora.ts';
import { adaptedLinears } from '../dpo/trainingGraph.ts';

/** A problem with the round's inputs (no pairs, a pair that does not fit, a path): the caller's to fix. */
export class RoundInputError extends InputError {
  constructor(message: string) {
    super(message);
    // the worker thread tells input errors from failures by name
    this.name = 'RoundInputError';
  }
}

/** The absolute path `path` names once links are followed: the real path of its deepest existing ancestor, plus the rest. */
export function realTarget(path: string): string {
  let head = resolve(path);
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(head), ...rest);
    } catch {
      const parent = dirname(head);
      if (parent === head) return resolve(path);
      rest.unshift(basename(head));
      head = parent;
    }
  }
}

/** Whether two paths (either may be absent) name the same place once resolved; links are not followed. */
export const samePath = (a: string | null | undefined, b: string | null | undefined): boolean =>
  (a == null ? null : resolve(a)) === (b == null ? null : resolve(b));

const within = (child: string, parent: string) => child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);

/** lstat, or undefined when nothing (not even a dangling link) is at `path`. */
function lstatOrNone(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** The same file, by device and inode (a hard link or another name of the database counts). */
function sameFile(a: string, b: string): boolean {
  try {
    const [x, y] = [statSync(a), statSync(b)];
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** Why a new folder at `path` would clash with the model or the database, or undefined. */
function clash(path: string, what: string, modelDir: string, database: string | undefined): string | undefined {
  const real = realTarget(path);
  const model = realTarget(modelDir);
  if (real === model) return `${path}: the ${what} would be the model ${modelDir}; choose another folder`;
  if (within(real, model)) return `${path}: the ${what} would lie inside the model folder ${modelDir}; choose a folder outside it`;
  if (database !== undefined) {
    const db = realTarget(database);
    const files = [db, `${db}-wal`, `${db}-shm`, `${db}-journal`];
    if (files.includes(real) || sameFile(path, database)) return `${path}: the ${what} would be the database ${database}; choose another folder`;
  }
  // the deepest existing ancestor must be a folder for the new one to go inside it
  let up = dirname(resolve(path));
  while (!lstatOrNone(up)) up = dirname(up);
  if (!statSync(up).isDirectory()) return `${path}: ${up} is not a folder`;
  return undefined;
}

/** Whether `dir` is the partial adapter this round saved when it was cancelled: its files only, its round's stamp. */
function isRoundAdapter(dir: string, record: RoundRecord | undefined): boolean {
  if (!record || realTarget(record.outDir) !== realTarget(dir) || !lstatOrNone(dir)?.isDirectory()) return false;
  if (!readdirSync(dir).every((name) => (ADAPTER_FILES as readonly string[]).includes(name))) return false;
  try {
    const saved = JSON.parse(readFileSync(join(dir, 'prefer_adapter.json'), 'utf8')) as Record<string, unknown>;
    return saved.roundStartedAt === record.startedAt && saved.baseModelHash === record.baseModelHash;
  } catch {
    return false;
  }
}

export interface RoundPaths {
  modelDir: string;
  outDir: string;
  database?: string | undefined;
  checkpoint?: { dir: string; resume: boolean } | undefined;
}

export interface CheckedPaths {
  /** The record of the round being resumed, if its checkpoint folder has one. */
  record: RoundRecord | undefined;
  /** The adapter folder holds this round's partial adapter (saved when it was cancelled), to be replaced. */
  replaceAdapter: boolean;
}

/** Refuses, before anything is written or removed, an adapter or checkpoint folder that would lose something. */
export function checkRoundPaths({ modelDir, outDir, database, checkpoint }: RoundPaths): CheckedPaths {
  const problem = clash(outDir, 'adapter folder', modelDir, database);
  if (problem) throw new RoundInputError(problem);
  let record: RoundRecord | undefined;
  if (checkpoint) {
    const { dir } = checkpoint;
    const checkpointClash = clash(dir, 'checkpoint folder', modelDir, database);
    if (checkpointClash) throw new RoundInputError(checkpointClash);
    const [real, out] = [realTarget(dir), realTarget(outDir)];
    if (within(real, out) || within(out, real)) {
      throw new RoundInputError(`${dir}: the checkpoint folder and the adapter folder ${outDir} must be apart`);
    }
    const foreign = checkpointFolderProblem(dir);
    if (foreign) throw new RoundInputError(`${dir}: ${foreign}; move it away to train into ${outDir}`);
    try {
      record = checkpoint.resume ? readRoundRecord(dir) : undefined;
    } catch (e) {
      throw new RoundInputError((e as Error).message);
    }
  }
  const replaceAdapter = isRoundAdapter(outDir, record);
  if (lstatOrNone(outDir) && !replaceAdapter) {
    throw new RoundInputError(`${outDir}: already exists; choose a new folder for the adapter (Prefer does not replace it)`);
  }
  return { record, replaceAdapter };
}

/**
 * Refuses a LoRA config the model cannot take: a target it lacks, or a rank above its adapted linears' smallest
 * dimension. `baseWeights` is the round's storage, so that looking the linears up reads them as the round will.
 */
export function checkLoraFits(config: ModelConfig, weights: WeightSource, lora: LoraConfig, baseWeights?: WeightStorage): void {
  let sites;
  try {
    sites = adaptedLinears(config, weights, lora, baseWeights);
  } catch (e) {
    // the LoRA options' own errors are the user's; anything else (a damaged model) keeps its kind
    if (!(e instanceof Error) || !e.message.startsWith('lora: ')) throw e;
    throw new RoundInputError(firstLine(e));
  }
  if (sites.length === 0) return;
  const smallest = sites.reduce((a, s) => (Math.min(s.inFeatures, s.outFeatures) < Math.min(a.inFeatures, a.outFeatures) ? s : a), sites[0]!);
  const limit = Math.min(smallest.inFeatures, smallest.outFeatures);
  if (lora.rank > limit) {
    throw new RoundInputError(
      `--lora-r ${lora.rank}: the LoRA rank may be at most ${limit}, the smallest dimension of the adapted linears (${smallest.name} is ${smallest.inFeatures}→${smallest.outFeatures})`,
    );
  }
}
