/**
 * Adapters out to other tools and back in:
 * - export: `peft` (the PEFT files, without Prefer's record of local paths), `gguf` (llama.cpp's LoRA GGUF, for
 *   llama-server --lora) or `ollama` (a folder with adapter.gguf and a Modelfile: FROM the base, ADAPTER ./adapter.gguf);
 * - import: a PEFT adapter trained elsewhere (TRL/PEFT), checked against the base, saved as a Prefer adapter folder.
 * The output must not exist yet; it is written beside its place and renamed in, so nothing half-written is left.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError, firstLine } from '../inputError.ts';
import { loadCheckpoint } from '../engine/hf/checkpoint.ts';
import { type ModelRoots, discoverModels, modelRoots } from '../engine/hf/discovery.ts';
import { writeLoraGguf } from '../engine/hf/ggufLora.ts';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, type PeftLora, readPeftAdapter } from '../engine/hf/peftAdapter.ts';
import { encodeSafetensors } from '../engine/hf/safetensors-write.ts';
import { readSafetensors } from '../engine/hf/safetensors.ts';
import type { Checkpoint } from '../engine/hf/types.ts';
import { toFloat32 } from '../engine/hf/weights.ts';
import { familyOf } from '../engine/models/families.ts';
import { type AdapterRecord, adapterConfigJson, present, writeAdapterFiles } from './adapterFiles.ts';

export const ADAPTER_EXPORT_FORMATS = ['gguf', 'peft', 'ollama'] as const;
export type AdapterExportFormat = (typeof ADAPTER_EXPORT_FORMATS)[number];

export const isAdapterExportFormat = (s: string): s is AdapterExportFormat => (ADAPTER_EXPORT_FORMATS as readonly string[]).includes(s);

export interface ExportRequest {
  dir: string;
  format: AdapterExportFormat;
  out: string;
  /** The base model; default: the one the adapter's prefer_adapter.json records. */
  modelPath?: string | undefined;
  /** Where Ollama keeps its models, to name an Ollama base by its Ollama name (default: Ollama's own places). */
  ollamaStores?: readonly string[] | undefined;
}

export interface ExportResult {
  out: string;
  format: AdapterExportFormat;
  /** Ollama: what the Modelfile's FROM names. */
  from?: string;
}

export async function exportAdapter(request: ExportRequest): Promise<ExportResult> {
  const { dir, format } = request;
  if (!existsSync(join(dir, PEFT_CONFIG_FILE))) throw new InputError(`${dir}: not an adapter folder (no ${PEFT_CONFIG_FILE})`);
  const out = checkNewOutput(request.out);
  if (format === 'peft') {
    await writeBeside(out, 'folder', (staging) => copyPeft(dir, staging));
    return { out, format };
  }
  const modelPath = basePathOf(dir, request.modelPath);
  const base = await loadCheckpoint(modelPath);
  const lora = await readPeftAdapter(dir, base);
  if (format === 'gguf') {
    await writeBeside(out, 'file', (staging) => writeLoraGguf(lora, base, staging));
    return { out, format };
  }
  const from = await ollamaFrom(modelPath, request.ollamaStores ?? modelRoots().ollama);
  await writeBeside(out, 'folder', async (staging) => {
    await writeLoraGguf(lora, base, join(staging, 'adapter.gguf'));
    writeFileSync(join(staging, 'Modelfile'), `FROM ${from}\nADAPTER ./adapter.gguf\n`);
  });
  return { out, format, from };
}

export interface ImportRequest {
  dir: string;
  modelPath: string;
  out: string;
}

export interface ImportResult {
  out: string;
  base: Checkpoint;
  lora: PeftLora;
}

/** Checks a PEFT adapter against the base at `modelPath` and saves it at `out` as Prefer saves the adapters it trains. */
export async function importAdapter({ dir, modelPath, out }: ImportRequest): Promise<ImportResult> {
  const target = checkNewOutput(out);
  const base = await loadCheckpoint(modelPath);
  const lora = await readPeftAdapter(dir, base);
  const record: AdapterRecord = {
    baseModelHash: base.hash,
    baseModelPath: resolve(modelPath),
    fanInFanOut: familyOf(base.config).peftFanInFanOut,
    importedFrom: resolve(dir),
    createdAt: new Date().toISOString(),
  };
  const config = adapterConfigJson({ rank: lora.rank, alpha: lora.alpha, rsLora: lora.rsLora, targetModules: lora.targetModules }, [], record);
  const tensors = lora.pairs.flatMap((p) => [
    { name: `base_model.model.${p.site}.lora_A.weight`, shape: [lora.rank, p.inFeatures], data: p.a },
    { name: `base_model.model.${p.site}.lora_B.weight`, shape: [p.outFeatures, lora.rank], data: p.b },
  ]);
  await writeBeside(target, 'folder', (staging) => writeAdapterFiles(staging, config, tensors, record));
  return { out: target, base, lora };
}

/** An output path that is new, in a folder that exists. */
function checkNewOutput(out: string): string {
  const target = resolve(out);
  if (present(target)) throw new InputError(`${out}: already exists; choose a new path`);
  if (!existsSync(dirname(target))) throw new InputError(`${dirname(out)}: no such folder`);
  return target;
}

/** Builds `target` as a temporary sibling (a file, or a folder of files) and renames it into place. */
async function writeBeside(target: string, kind: 'file' | 'folder', build: (staging: string) => unknown): Promise<void> {
  const staging = join(dirname(target), `.${basename(target)}.${process.pid}-${Date.now()}.partial`);
  try {
    if (kind === 'folder') mkdirSync(staging);
    await build(staging);
    if (present(target)) throw new InputError(`${target}: appeared while it was written; nothing was replaced`);
    renameSync(staging, target);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** PEFT's two files; the weights without Prefer's record in their metadata (it names local paths). */
async function copyPeft(dir: string, staging: string): Promise<void> {
  copyFileSync(join(dir, PEFT_CONFIG_FILE), join(staging, PEFT_CONFIG_FILE));
  const file = await readSafetensors(join(dir, PEFT_WEIGHTS_FILE));
  const tensors = [...file.tensors].map(([name, entry]) => ({ name, shape: [...entry.shape], data: toFloat32(file, entry) }));
  writeFileSync(join(staging, PEFT_WEIGHTS_FILE), encodeSafetensors(tensors, { metadata: { format: 'pt' } }));
}

/** The base given, or the one the adapter was trained on (prefer_adapter.json). */
function basePathOf(dir: string, modelPath: string | undefined): string {
  if (modelPath !== undefined) return modelPath;
  const recordFile = join(dir, 'prefer_adapter.json');
  let recorded: unknown;
  try {
    recorded = (JSON.parse(readFileSync(recordFile, 'utf8')) as Record<string, unknown>).baseModelPath;
  } catch (e) {
    throw new InputError(`${recordFile}: cannot read the base model of this adapter (${firstLine(e)}); name it with --model`);
  }
  if (typeof recorded !== 'string' || !existsSync(recorded))
    throw new InputError(`${recordFile}: baseModelPath ${JSON.stringify(recorded)} is not on this disk; name the base with --model`);
  return recorded;
}

/** What the Modelfile's FROM says: the Ollama model's name when the base is a model of Ollama's store, else its path. */
async function ollamaFrom(modelPath: string, stores: readonly string[]): Promise<string> {
  const real = realpathSync(modelPath);
  const roots: ModelRoots = { ollama: [...stores], huggingface: [], lmstudio: [] };
  const sameFile = (path: string) => {
    try {
      return realpathSync(path) === real;
    } catch {
      return false;
    }
  };
  const found = (await discoverModels(roots)).find((m) => m.source === 'ollama' && sameFile(m.path));
  const from = found ? found.name : real;
  // one Modelfile line: a name or path that could end it or start another instruction is refused
  if ([...from].some((c) => c < ' ' || c === '"' || c === '\u007f')) throw new InputError(`${from}: the base's name or path holds a control character or a quote, which a Modelfile line cannot carry`);
  return /\s/.test(from) ? `"${from}"` : from;
}
