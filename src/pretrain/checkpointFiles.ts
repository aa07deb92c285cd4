/**
 * Pretraining checkpoints on disk. A checkpoint folder is a complete Hugging Face checkpoint that the
 * sampler loads like any other (config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
 * generation_config.json) plus, for resuming, trainer_state.json and optimizer.safetensors (AdamW moments as
 * m.<weight> and v.<weight>, the update count as metadata adam_steps). Folders are written under a temporary
 * name and renamed (train/checkpoint.ts), so a crash never leaves a half checkpoint.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig, WeightDType } from '../engine/hf/types.ts';
import { type TensorToWrite, encodeSafetensors } from '../engine/hf/safetensors-write.ts';
import type { MomentState } from '../train/adamw.ts';
import { type CheckpointTensor, readTensorFile, writeFolderAtomically, writeTensorFile } from '../train/checkpoint.ts';
import { configJson } from './modelShape.ts';

export interface GraphWeight {
  name: string;
  /** graph layout */
  shape: number[];
  transposed: boolean;
  value: Float32Array;
}

/** The weight in HF layout ([out, in] for linears). */
export function toHfLayout(w: GraphWeight): { shape: number[]; data: Float32Array } {
  if (!w.transposed) return { shape: w.shape, data: w.value };
  const [inF, outF] = w.shape as [number, number];
  const data = new Float32Array(w.value.length);
  for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) data[o * inF + i] = w.value[i * outF + o]!;
  return { shape: [outF, inF], data };
}

export interface TrainerState {
  step: number;
  seed: number;
  tokensSeen: number;
  /** the recipe the run was started with, checked on resume */
  recipe: Record<string, unknown>;
  history: { step: number; loss: number; heldoutLoss?: number }[];
}

export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'] as const;

export interface SaveModelOptions {
  config: ModelConfig;
  weights: readonly GraphWeight[];
  tokenizerDir: string;
  /** stored dtype of the weights (F16 halves the shipped size) */
  dtype?: WeightDType;
  generation?: Record<string, unknown>;
  extraFiles?: Record<string, string | Uint8Array>;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

function writeModelFiles(dir: string, o: SaveModelOptions): void {
  const tensors: TensorToWrite[] = o.weights.map((w) => ({ name: w.name, ...toHfLayout(w), dtype: o.dtype ?? 'F32' }));
  tensors.sort((a, b) => (a.name < b.name ? -1 : 1));
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors, { metadata: { format: 'pt' } }));
  writeFileSync(join(dir, 'config.json'), json({ ...configJson(o.config), torch_dtype: o.dtype === 'F16' ? 'float16' : o.dtype === 'BF16' ? 'bfloat16' : 'float32' }));
  writeFileSync(join(dir, 'generation_config.json'), json({ bos_token_id: o.config.bosTokenId, eos_token_id: o.config.eosTokenIds[0], pad_token_id: o.config.padTokenId, ...o.generation }));
  for (const file of TOKENIZER_FILES) copyFileSync(join(o.tokenizerDir, file), join(dir, file));
  for (const [file, content] of Object.entries(o.extraFiles ?? {})) writeFileSync(join(dir, file), content);
}

/** An HF checkpoint folder (no trainer state): what ships. */
export function saveModel(dir: string, options: SaveModelOptions): void {
  writeFolderAtomically(dir, (tmp) => writeModelFiles(tmp, options));
}

/** An HF checkpoint folder plus the trainer state and optimizer moments needed to resume. */
export function saveTrainingCheckpoint(dir: string, options: SaveModelOptions, state: TrainerState, moments: ReadonlyMap<string, MomentState>, adamSteps: number): void {
  writeFolderAtomically(dir, (tmp) => {
    writeModelFiles(tmp, { ...options, dtype: 'F32' });
    const tensors: CheckpointTensor[] = [];
    for (const [name, { m, v }] of [...moments].sort(([a], [b]) => (a < b ? -1 : 1))) {
      tensors.push({ name: `m.${name}`, shape: [m.length], data: m }, { name: `v.${name}`, shape: [v.length], data: v });
    }
    writeTensorFile(tmp, 'optimizer.safetensors', tensors, { adam_steps: String(adamSteps) });
    writeFileSync(join(tmp, 'trainer_state.json'), json(state));
  });
}

export interface ResumeState {
  state: TrainerState;
  moments: Map<string, MomentState>;
  adamSteps: number;
}

export async function readResumeState(dir: string): Promise<ResumeState> {
  const statePath = join(dir, 'trainer_state.json');
  const optimizerPath = join(dir, 'optimizer.safetensors');
  if (!existsSync(statePath) || !existsSync(optimizerPath)) throw new Error(`${dir}: not a training checkpoint (trainer_state.json / optimizer.safetensors missing)`);
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as TrainerState;
  if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`${statePath}: bad step ${String(state.step)}`);
  const file = await readTensorFile(optimizerPath);
  const moments = new Map<string, MomentState>();
  const read = (name: string) => {
    const t = file.tensors.get(name);
    if (!t) throw new Error(`${optimizerPath}: missing F32 tensor ${name}`);
    return t;
  };
  for (const name of file.tensors.keys()) {
    if (!name.startsWith('m.')) continue;
    const weight = name.slice(2);
    moments.set(weight, { m: read(name), v: read(`v.${weight}`) });
  }
  const adamSteps = Number(file.metadata['adam_steps']);
  if (!Number.isInteger(adamSteps)) throw new Error(`${optimizerPath}: metadata adam_steps missing`);
  return { state, moments, adamSteps };
}
