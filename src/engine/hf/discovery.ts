/**
 * Models already on the user's disk: Ollama's store (manifests → GGUF blobs), the Hugging Face hub cache
 * (models--org--name/snapshots/<rev>/) and LM Studio's models folder. Only headers are read: config.json and file
 * sizes for checkpoint folders, the GGUF header for GGUF files. A model Prefer cannot run is listed with the reason,
 * never hidden. Links are resolved, but a model whose files lead out of the store's folder is refused.
 */
import type { Dirent } from 'node:fs';
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { firstLine } from '../../inputError.ts';
import { GgufFile } from './gguf.ts';
import { DEQUANTIZABLE } from './ggufQuants.ts';
import { isRecord, readJsonFile } from './json-file.ts';
import {
  familyByArchitecture,
  familyByGgufArchitecture,
  parseModelConfig,
  SUPPORTED_ARCHITECTURES,
  SUPPORTED_GGUF_ARCHITECTURES,
} from '../models/families.ts';
import { loadCheckpoint } from './checkpoint.ts';
import { INDEX_FILE, SINGLE_FILE } from './weights.ts';

export type ModelSource = 'ollama' | 'huggingface' | 'lmstudio';

/** What the headers say about one model: a checkpoint folder or a GGUF file. */
export interface ModelSummary {
  /** What `prefer.modelPath` / `--model` takes: the checkpoint folder or the GGUF file. */
  path: string;
  format: 'safetensors' | 'gguf';
  /** config.json architectures[0], or GGUF general.architecture. */
  architecture: string | undefined;
  /** The Prefer family that runs it (src/engine/models/families.ts). */
  family: string | undefined;
  /** From the GGUF tensor infos; undefined for checkpoint folders (their size is `bytes`). */
  parameters: number | undefined;
  /** Weight bytes on disk. */
  bytes: number;
  /** The GGUF file type (Q4_K_M) or config.json's torch_dtype (bfloat16). */
  quantization: string | undefined;
  /** Why Prefer cannot run it, in one line; undefined when it can. */
  unsupported: string | undefined;
}

export interface FoundModel extends ModelSummary {
  source: ModelSource;
  /** As its tool names it: `qwen2.5-coder:1.5b`, `Qwen/Qwen2.5-Coder-1.5B`, `lmstudio-community/…/x.gguf`. */
  name: string;
}

export interface ModelRoots {
  ollama: string[];
  huggingface: string[];
  lmstudio: string[];
}

/** Where the Linux installer's Ollama service keeps its models. */
export const SYSTEM_OLLAMA_STORE = '/usr/share/ollama/.ollama/models';

/** The store folders each tool uses, following the environment variables the tools themselves read. */
export function modelRoots(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): ModelRoots {
  const cache = env['XDG_CACHE_HOME'] || join(home, '.cache');
  const hfHome = env['HF_HOME'] || join(cache, 'huggingface');
  return {
    ollama: unique([env['OLLAMA_MODELS'] || join(home, '.ollama', 'models'), SYSTEM_OLLAMA_STORE]),
    huggingface: [env['HF_HUB_CACHE'] || join(hfHome, 'hub')],
    lmstudio: unique([join(home, '.lmstudio', 'models'), join(home, '.cache', 'lm-studio', 'models')]),
  };
}

/** Every model found under `roots`; the ones Prefer can run first. Unreadable stores are skipped. */
export async function discoverModels(roots: ModelRoots = modelRoots()): Promise<FoundModel[]> {
  const found = (
    await Promise.all([
      ...roots.ollama.map(ollamaModels),
      ...roots.huggingface.map(huggingFaceModels),
      ...roots.lmstudio.map(lmStudioModels),
    ])
  ).flat();
  const byPath = new Map<string, FoundModel>();
  for (const model of found) if (!byPath.has(model.path)) byPath.set(model.path, model);
  return [...byPath.values()].sort(
    (a, b) => Number(a.unsupported !== undefined) - Number(b.unsupported !== undefined) || a.name.localeCompare(b.name),
  );
}

export type ModelCheck = { ok: true; model: ModelSummary } | { ok: false; reason: string };

const WHAT_TO_CHOOSE = 'choose a folder with config.json, *.safetensors and tokenizer.json, or a .gguf file';

/** Whether `path` holds a model Prefer can run, judged from its headers; otherwise the reason in one line. */
export async function validateModel(path: string): Promise<ModelCheck> {
  const target = resolve(path);
  let stats;
  try {
    stats = await stat(target);
  } catch (error) {
    return { ok: false, reason: `${target}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'nothing there' : firstLine(error)}` };
  }
  let model: ModelSummary;
  if (stats.isDirectory()) {
    if ((await readdir(target)).length === 0) return { ok: false, reason: `${target} is empty: ${WHAT_TO_CHOOSE}` };
    if (!(await isFile(join(target, 'config.json')))) {
      return { ok: false, reason: `${target} has no config.json, so it is not a Hugging Face checkpoint: ${WHAT_TO_CHOOSE}` };
    }
    model = await folderSummary(target, undefined);
  } else if (stats.isFile() && target.toLowerCase().endsWith('.gguf')) {
    model = ggufSummary(target, stats.size, stats.mtimeMs);
    // past the header facts, the loader itself decides (config through the family, sizes, tokenizer): it reads
    // tensors on demand, so this costs the header and a sample of the data
    if (model.unsupported === undefined) model = { ...model, unsupported: await loaderRefusal(target) };
  } else {
    return { ok: false, reason: `${target} is not a model: ${WHAT_TO_CHOOSE}` };
  }
  if (model.unsupported === undefined) return { ok: true, model };
  // the readers' messages already start with the file they name
  return { ok: false, reason: model.unsupported.startsWith(target) ? model.unsupported : `${target}: ${model.unsupported}` };
}

async function loaderRefusal(path: string): Promise<string | undefined> {
  try {
    await loadCheckpoint(path);
    return undefined;
  } catch (error) {
    return firstLine(error);
  }
}

/** "qwen2 · 1.5B parameters · Q4_K_M · 986 MB" */
export function describeModel(model: ModelSummary): string {
  return [
    model.family ?? model.architecture ?? 'unknown architecture',
    model.parameters === undefined ? undefined : `${formatCount(model.parameters)} parameters`,
    model.quantization,
    formatBytes(model.bytes),
  ]
    .filter((part) => part !== undefined)
    .join(' · ');
}

// ── Hugging Face checkpoint folders ─────────────────────────────────────────────────────────────────────────

/** config.json, weights and tokenizer of a checkpoint folder; `root` bounds where its links may lead. */
async function folderSummary(dir: string, root: string | undefined): Promise<ModelSummary> {
  const summary: ModelSummary = {
    path: dir,
    format: 'safetensors',
    architecture: undefined,
    family: undefined,
    parameters: undefined,
    bytes: 0,
    quantization: undefined,
    unsupported: undefined,
  };
  const files = new Map<string, string>();
  const outside: string[] = [];
  for (const name of await fileNames(dir)) {
    const target = await inside(join(dir, name), root);
    if (target) files.set(name, target);
    else if (root !== undefined && (await isFile(join(dir, name)))) outside.push(name);
  }
  if (outside.length > 0) return { ...summary, unsupported: `${outside[0]} links outside ${root}` };
  const weights = [...files.keys()].filter((name) => name.endsWith('.safetensors'));
  summary.bytes = (await Promise.all(weights.map(async (name) => (await stat(files.get(name)!)).size))).reduce((a, b) => a + b, 0);
  const configPath = files.get('config.json');
  if (configPath === undefined) return { ...summary, unsupported: 'no config.json' };
  let config: unknown;
  try {
    config = await readJsonFile(configPath);
  } catch (error) {
    return { ...summary, unsupported: firstLine(error) };
  }
  if (isRecord(config)) {
    const architectures = config['architectures'];
    summary.architecture = Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : undefined;
    const dtype = config['torch_dtype'] ?? config['dtype'];
    summary.quantization = typeof dtype === 'string' ? dtype : undefined;
  }
  summary.family = summary.architecture === undefined ? undefined : familyByArchitecture(summary.architecture)?.name;
  return { ...summary, unsupported: folderProblem(config, join(dir, 'config.json'), files, weights) };
}

/** The first reason the loader would refuse this folder, or undefined. */
function folderProblem(config: unknown, configPath: string, files: Map<string, string>, weights: string[]): string | undefined {
  if (isRecord(config) && Array.isArray(config['architectures']) && typeof config['architectures'][0] === 'string') {
    const architecture = config['architectures'][0];
    if (!familyByArchitecture(architecture)) {
      return `architecture ${architecture} is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`;
    }
  }
  try {
    parseModelConfig(config, configPath);
  } catch (error) {
    return firstLine(error);
  }
  if (!files.has(SINGLE_FILE) && !files.has(INDEX_FILE)) {
    if (weights.length > 0) return `no ${SINGLE_FILE} or ${INDEX_FILE} naming the *.safetensors files`;
    const pytorch = [...files.keys()].some((name) => name.endsWith('.bin') || name.endsWith('.pt'));
    return pytorch ? 'PyTorch *.bin weights only: Prefer reads *.safetensors' : 'no *.safetensors weights';
  }
  if (!files.has('tokenizer.json')) return 'no tokenizer.json';
  return undefined;
}

// ── GGUF files ──────────────────────────────────────────────────────────────────────────────────────────────

/** llama.cpp's general.file_type names (llama_ftype in llama.h), for display. */
const GGUF_FILE_TYPES: Record<number, string> = {
  0: 'F32', 1: 'F16', 2: 'Q4_0', 3: 'Q4_1', 7: 'Q8_0', 8: 'Q5_0', 9: 'Q5_1', 10: 'Q2_K', 11: 'Q3_K_S',
  12: 'Q3_K_M', 13: 'Q3_K_L', 14: 'Q4_K_S', 15: 'Q4_K_M', 16: 'Q5_K_S', 17: 'Q5_K_M', 18: 'Q6_K',
  19: 'IQ2_XXS', 20: 'IQ2_XS', 21: 'Q2_K_S', 22: 'IQ3_XS', 23: 'IQ3_XXS', 24: 'IQ1_S', 25: 'IQ4_NL',
  26: 'IQ3_S', 27: 'IQ3_M', 28: 'IQ2_S', 29: 'IQ2_M', 30: 'IQ4_XS', 31: 'IQ1_M', 32: 'BF16',
};

/** Header summaries by path, size and mtime: a GGUF header with its vocabulary takes a while to parse. */
const ggufCache = new Map<string, ModelSummary>();

function ggufSummary(file: string, bytes: number, mtimeMs = 0): ModelSummary {
  const key = `${file}\0${bytes}\0${mtimeMs}`;
  let summary = ggufCache.get(key);
  if (!summary) {
    summary = readGgufSummary(file, bytes);
    ggufCache.set(key, summary);
  }
  return summary;
}

/** Architecture, file type, parameter count and tensor types from the GGUF header (src/engine/hf/gguf.ts). */
function readGgufSummary(file: string, bytes: number): ModelSummary {
  const summary: ModelSummary = {
    path: file,
    format: 'gguf',
    architecture: undefined,
    family: undefined,
    parameters: undefined,
    bytes,
    quantization: undefined,
    unsupported: undefined,
  };
  let gguf: GgufFile;
  try {
    gguf = GgufFile.open(file);
  } catch (error) {
    return { ...summary, unsupported: firstLine(error) };
  }
  {
    const architecture = gguf.metadata.get('general.architecture');
    const fileType = gguf.metadata.get('general.file_type');
    const parametersByType = new Map<string, number>();
    for (const tensor of gguf.tensors.values()) {
      const type = tensor.type?.name ?? `ggml type ${tensor.typeId}`;
      parametersByType.set(type, (parametersByType.get(type) ?? 0) + tensor.dims.reduce((n, d) => n * d, 1));
    }
    const mostParameters = [...parametersByType].sort((a, b) => b[1] - a[1])[0]?.[0];
    summary.architecture = typeof architecture === 'string' ? architecture : undefined;
    summary.family = summary.architecture === undefined ? undefined : familyByGgufArchitecture(summary.architecture)?.name;
    summary.parameters = [...parametersByType.values()].reduce((a, b) => a + b, 0);
    summary.quantization = (typeof fileType === 'number' ? GGUF_FILE_TYPES[fileType] : undefined) ?? mostParameters;
    const unknownType = [...parametersByType.keys()].find((type) => !(DEQUANTIZABLE as readonly string[]).includes(type));
    if (summary.architecture === undefined) summary.unsupported = 'no general.architecture in the GGUF header';
    else if (summary.family === undefined) {
      summary.unsupported = `GGUF architecture ${summary.architecture} is not supported (supported: ${SUPPORTED_GGUF_ARCHITECTURES.join(', ')})`;
    } else if (unknownType !== undefined) {
      summary.unsupported = `${unknownType} tensors are not supported (supported: ${DEQUANTIZABLE.join(', ')})`;
    }
    return summary;
  }
}

/** A GGUF file of a store; listed with the reason when its link leads out of the store, undefined when it is no file. */
async function ggufFileSummary(file: string, root: string): Promise<ModelSummary | undefined> {
  const target = await inside(file, root);
  if (!target) {
    if (!(await isFile(file))) return undefined;
    const summary = { path: file, format: 'gguf', architecture: undefined, family: undefined, parameters: undefined, quantization: undefined } as const;
    return { ...summary, bytes: (await stat(file)).size, unsupported: `links outside ${root}` };
  }
  const stats = await stat(target);
  return { ...ggufSummary(target, stats.size, stats.mtimeMs), path: file };
}

// ── The stores ──────────────────────────────────────────────────────────────────────────────────────────────

const OLLAMA_MODEL_LAYER = 'application/vnd.ollama.image.model';
const OLLAMA_REGISTRY = 'registry.ollama.ai';
/** Manifests are a few hundred bytes; anything large at that path is not one. */
const MAX_MANIFEST_BYTES = 1 << 20;

/** manifests/<registry>/<namespace>/<model>/<tag> → the model layer's GGUF blob at blobs/sha256-<hex>. */
async function ollamaModels(root: string): Promise<FoundModel[]> {
  const models: FoundModel[] = [];
  const manifests = join(root, 'manifests');
  for (const registry of await folderNames(manifests))
    for (const namespace of await folderNames(join(manifests, registry)))
      for (const model of await folderNames(join(manifests, registry, namespace)))
        for (const tag of await fileNames(join(manifests, registry, namespace, model))) {
          const name =
            registry !== OLLAMA_REGISTRY
              ? `${registry}/${namespace}/${model}:${tag}`
              : namespace === 'library'
                ? `${model}:${tag}`
                : `${namespace}/${model}:${tag}`;
          const summary = await ollamaBlob(root, join(manifests, registry, namespace, model, tag));
          if (summary) models.push({ ...summary, source: 'ollama', name });
        }
  return models;
}

async function ollamaBlob(root: string, manifestPath: string): Promise<ModelSummary | undefined> {
  try {
    if ((await lstat(manifestPath)).size > MAX_MANIFEST_BYTES) return undefined;
    const manifest = await readJsonFile(manifestPath);
    const layers = isRecord(manifest) && Array.isArray(manifest['layers']) ? manifest['layers'] : [];
    const layer = layers.find((l: unknown) => isRecord(l) && l['mediaType'] === OLLAMA_MODEL_LAYER) as Record<string, unknown> | undefined;
    // the digest names a file: only the exact sha256 form, so it cannot lead out of blobs/
    const digest = /^sha256:([0-9a-f]{64})$/.exec(String(layer?.['digest']));
    if (!digest) return undefined;
    return await ggufFileSummary(join(root, 'blobs', `sha256-${digest[1]}`), root);
  } catch {
    return undefined;
  }
}

/** models--<org>--<name>/snapshots/<refs/main>/: a checkpoint folder, and any GGUF files in it. */
async function huggingFaceModels(hub: string): Promise<FoundModel[]> {
  const models: FoundModel[] = [];
  for (const repo of await folderNames(hub)) {
    if (!repo.startsWith('models--')) continue;
    const name = repo.slice('models--'.length).split('--').join('/');
    const snapshot = await currentSnapshot(join(hub, repo));
    if (!snapshot) continue;
    const files = await fileNames(snapshot);
    if (files.includes('config.json')) models.push({ ...(await folderSummary(snapshot, hub)), source: 'huggingface', name });
    for (const file of files.filter(isGgufName)) {
      const summary = await ggufFileSummary(join(snapshot, file), hub);
      if (summary) models.push({ ...summary, source: 'huggingface', name: `${name}/${file}` });
    }
  }
  return models;
}

/** The revision refs/main names, else the newest snapshot folder. */
async function currentSnapshot(repo: string): Promise<string | undefined> {
  const snapshots = join(repo, 'snapshots');
  const revisions = await folderNames(snapshots);
  try {
    const main = (await readFile(join(repo, 'refs', 'main'), 'utf8')).trim();
    if (revisions.includes(main)) return join(snapshots, main);
  } catch {
    // no refs/main: fall back to the newest snapshot
  }
  const dated = await Promise.all(revisions.map(async (rev) => ({ rev, mtime: (await stat(join(snapshots, rev))).mtimeMs })));
  const newest = dated.sort((a, b) => b.mtime - a.mtime)[0];
  return newest && join(snapshots, newest.rev);
}

/** <publisher>/<model>/*.gguf (vision projectors left out), or a checkpoint folder (MLX models are). */
async function lmStudioModels(root: string): Promise<FoundModel[]> {
  const models: FoundModel[] = [];
  for (const publisher of await folderNames(root))
    for (const model of await folderNames(join(root, publisher))) {
      const dir = join(root, publisher, model);
      const files = await fileNames(dir);
      if (files.includes('config.json')) models.push({ ...(await folderSummary(dir, root)), source: 'lmstudio', name: `${publisher}/${model}` });
      for (const file of files.filter((f) => isGgufName(f) && !f.startsWith('mmproj'))) {
        const summary = await ggufFileSummary(join(dir, file), root);
        if (summary) models.push({ ...summary, source: 'lmstudio', name: `${publisher}/${model}/${file}` });
      }
    }
  return models;
}

// ── Files ───────────────────────────────────────────────────────────────────────────────────────────────────

const isGgufName = (name: string) => name.toLowerCase().endsWith('.gguf');

async function entries(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** Sub-folders, not links to folders: walking a store never follows a link. */
async function folderNames(dir: string): Promise<string[]> {
  return (await entries(dir)).filter((e) => e.isDirectory()).map((e) => e.name);
}

/** Files and links to files (HF snapshots hold links into ../../blobs). */
async function fileNames(dir: string): Promise<string[]> {
  return (await entries(dir)).filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => e.name);
}

/** The real path of a regular file at `path` when it lies inside `root` (any place when no root); else undefined. */
async function inside(path: string, root: string | undefined): Promise<string | undefined> {
  try {
    const target = await realpath(path);
    if (!(await stat(target)).isFile()) return undefined;
    if (root === undefined) return target;
    const bound = await realpath(root);
    return target.startsWith(bound + sep) ? target : undefined;
  } catch {
    return undefined;
  }
}

async function isFile(path: string): Promise<boolean> {
  return (await inside(path, undefined)) !== undefined;
}

function unique(paths: string[]): string[] {
  return [...new Set(paths.map((p) => resolve(p)))];
}

function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${Math.round(n / 1e6)}M`;
  return `${Math.round(n / 1e3)}K`;
}

function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${Math.round(n / 1e6)} MB`;
  return `${Math.round(n / 1e3)} KB`;
}
