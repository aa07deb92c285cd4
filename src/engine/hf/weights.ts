/**
 * The checkpoint's weights by HF tensor name, over one model.safetensors or the shards listed in
 * model.safetensors.index.json. Held once: aligned f32 data are views on the file bytes; f16/bf16 and
 * unaligned f32 are converted or copied once per tensor on first use and cached.
 */
import { join } from 'node:path';
import { InputError } from '../../inputError.ts';
import { isPresent } from './files.ts';
import { isRecord, readJsonFile } from './json-file.ts';
import { readSafetensors, type SafetensorsFile, type TensorEntry } from './safetensors.ts';
import type { Weight, WeightDType, WeightSource } from './types.ts';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

export interface LoadedWeights extends WeightSource {
  /** The files read, in a stable order (hashed to key compiled-graph caches). */
  files: SafetensorsFile[];
  /** model.safetensors or the shard index: the file that names the tensors, for messages. */
  readonly sourcePath: string;
  /** A tensor's shape as its file's header gives it (nothing read or converted); undefined when absent. */
  shapeOf(name: string): number[] | undefined;
}

export async function loadWeights(dir: string): Promise<LoadedWeights> {
  const indexPath = join(dir, INDEX_FILE);
  if (await isPresent(indexPath)) return loadSharded(dir, indexPath);
  const singlePath = join(dir, SINGLE_FILE);
  if (!(await isPresent(singlePath))) throw new InputError(`${dir}: no ${SINGLE_FILE} or ${INDEX_FILE}`);
  const file = await readSafetensors(singlePath);
  return new SafetensorsWeights([file], new Map([...file.tensors.keys()].map((name) => [name, file])), singlePath);
}

async function loadSharded(dir: string, indexPath: string): Promise<LoadedWeights> {
  const index = await readJsonFile(indexPath);
  const weightMap = isRecord(index) ? index['weight_map'] : undefined;
  if (!isRecord(weightMap)) throw new InputError(`${indexPath}: missing field "weight_map"`);
  const shardNames = new Set<string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    // Shard names come from the file: keep them inside the checkpoint folder.
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\') || shard.startsWith('.')) {
      throw new InputError(`${indexPath}: tensor ${name} maps to a bad shard name ${JSON.stringify(shard)}`);
    }
    shardNames.add(shard);
  }
  const shards = [...shardNames].sort();
  const files = await Promise.all(shards.map((shard) => readSafetensors(join(dir, shard))));
  const byShard = new Map(shards.map((shard, i) => [shard, files[i] as SafetensorsFile]));
  const owner = new Map<string, SafetensorsFile>();
  for (const [name, shard] of Object.entries(weightMap)) {
    const file = byShard.get(shard as string) as SafetensorsFile;
    if (!file.tensors.has(name)) throw new InputError(`${file.path}: missing tensor ${name} (listed in ${INDEX_FILE})`);
    owner.set(name, file);
  }
  return new SafetensorsWeights(files, owner, indexPath);
}

class SafetensorsWeights implements LoadedWeights {
  readonly files: SafetensorsFile[];
  private readonly owner: Map<string, SafetensorsFile>;
  readonly sourcePath: string;
  private readonly cache = new Map<string, Weight>();

  constructor(files: SafetensorsFile[], owner: Map<string, SafetensorsFile>, sourcePath: string) {
    this.files = files;
    this.owner = owner;
    this.sourcePath = sourcePath;
  }

  names(): string[] {
    return [...this.owner.keys()];
  }

  has(name: string): boolean {
    return this.owner.has(name);
  }

  shapeOf(name: string): number[] | undefined {
    return this.owner.get(name)?.tensors.get(name)?.shape;
  }

  release(name: string): void {
    this.cache.delete(name);
  }

  get(name: string): Weight {
    const cached = this.cache.get(name);
    if (cached) return cached;
    const file = this.owner.get(name);
    if (!file) throw new InputError(`${this.sourcePath}: missing tensor ${name}`);
    const entry = file.tensors.get(name) as TensorEntry;
    const weight: Weight = {
      name,
      shape: entry.shape,
      storedDtype: entry.dtype as WeightDType,
      data: toFloat32(file, entry),
    };
    this.cache.set(name, weight);
    return weight;
  }
}

export function toFloat32(file: SafetensorsFile, entry: TensorEntry): Float32Array {
  const { bytes } = file;
  const count = (entry.end - entry.begin) / (entry.dtype === 'F32' ? 4 : 2);
  const offset = bytes.byteOffset + entry.begin;
  switch (entry.dtype) {
    case 'F32':
      if (offset % 4 === 0) return new Float32Array(bytes.buffer, offset, count);
      // Typed-array views need 4-byte alignment; an unaligned tensor is copied once.
      return new Float32Array(bytes.slice(entry.begin, entry.end).buffer);
    case 'F16':
      return halfToFloat32(bytes.subarray(entry.begin, entry.end), count);
    case 'BF16':
      return bfloat16ToFloat32(bytes.subarray(entry.begin, entry.end), count);
    default:
      throw new InputError(`${file.path}: tensor ${entry.name} has dtype ${entry.dtype}; only F32, F16 and BF16 weights are supported`);
  }
}

let halfTable: Float32Array | null = null;

/** All 65536 half-precision values, built once (no Float16Array in the VS Code hosts we target). */
export function halfToFloat32Table(): Float32Array {
  if (halfTable) return halfTable;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) table[h] = sign * mantissa * 2 ** -24;
    else if (exponent === 31) table[h] = mantissa ? NaN : sign * Infinity;
    else table[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  halfTable = table;
  return table;
}

export function halfToFloat32(raw: Uint8Array, count: number): Float32Array {
  const table = halfToFloat32Table();
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = table[(raw[2 * i] as number) | ((raw[2 * i + 1] as number) << 8)] as number;
  return out;
}

export function bfloat16ToFloat32(raw: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i++) bits[i] = (((raw[2 * i + 1] as number) << 24) | ((raw[2 * i] as number) << 16)) >>> 0;
  return out;
}
