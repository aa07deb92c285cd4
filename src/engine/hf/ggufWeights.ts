/**
 * A GGUF file's tensors under their HF names (the family's GGUF mapping names them) and in HF layout: shapes
 * outermost first, llama's q/k rows back in rotate-half order. Nothing is cached: get() reads the tensor's bytes
 * and converts them to float32 on each call, so the model never sits in memory whole; blocks() hands
 * block-quantized tensors over as their raw blocks, rows reordered the same way.
 */
import { InputError } from '../../inputError.ts';
import type { GgufTensorName } from '../models/family.ts';
import type { GgufFile, GgufTensorInfo } from './gguf.ts';
import { DEQUANTIZABLE, dequantize } from './ggufQuants.ts';
import type { StoredShapes } from './sizes.ts';
import type { StoredBlocks, Weight, WeightDType, WeightSource } from './types.ts';

/** Types whose blocks the compiler may reuse (StoredBlocks). */
const BLOCK_TYPES = new Set(['Q8_0', 'Q4_0', 'Q4_1', 'Q4_K', 'Q5_K', 'Q6_K']);

interface Mapped {
  info: GgufTensorInfo;
  interleavedHeads: number | undefined;
}

export class GgufWeights implements WeightSource, StoredShapes {
  readonly sourcePath: string;
  private readonly file: GgufFile;
  private readonly byName = new Map<string, Mapped>();

  /** `mapping`: every tensor the family may read; those the file lacks stay absent (has() is false). */
  constructor(file: GgufFile, mapping: readonly GgufTensorName[]) {
    this.file = file;
    this.sourcePath = file.path;
    for (const { hf, gguf, interleavedHeads } of mapping) {
      const info = file.tensors.get(gguf);
      if (info) this.byName.set(hf, { info, interleavedHeads });
    }
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** HF order: outermost first. */
  shapeOf(name: string): number[] | undefined {
    const mapped = this.byName.get(name);
    return mapped ? [...mapped.info.dims].reverse() : undefined;
  }

  get(name: string): Weight {
    const { info, interleavedHeads } = this.mapped(name);
    const type = info.type?.name ?? `type ${info.typeId}`;
    if (!(DEQUANTIZABLE as readonly string[]).includes(type)) {
      throw new InputError(`${this.sourcePath}: tensor ${info.name} has GGML ${type}; supported: ${DEQUANTIZABLE.join(', ')}`);
    }
    const shape = [...info.dims].reverse();
    const count = shape.reduce((n, d) => n * d, 1);
    let data = dequantize(type, this.file.read(info), count);
    if (interleavedHeads) data = new Float32Array(rotateHalfRows(new Uint8Array(data.buffer), shape[0]!, interleavedHeads, this.sourcePath, info.name).buffer);
    const storedDtype: WeightDType = type === 'F16' || type === 'BF16' ? type : 'F32';
    return { name, shape, storedDtype, data };
  }

  blockType(name: string): string | undefined {
    const { info } = this.mapped(name);
    const type = info.type?.name;
    return type !== undefined && BLOCK_TYPES.has(type) && info.dims.length === 2 ? type : undefined;
  }

  blocks(name: string): StoredBlocks | undefined {
    const { info, interleavedHeads } = this.mapped(name);
    const type = this.blockType(name);
    if (type === undefined) return undefined;
    const [inFeatures, outFeatures] = info.dims as [number, number];
    let bytes = this.file.read(info);
    if (interleavedHeads) bytes = rotateHalfRows(bytes, outFeatures, interleavedHeads, this.sourcePath, info.name);
    return { type, shape: [outFeatures, inFeatures], bytes };
  }

  private mapped(name: string): Mapped {
    const mapped = this.byName.get(name);
    if (!mapped) throw new InputError(`${this.sourcePath}: missing tensor ${name}`);
    return mapped;
  }
}

/**
 * Undoes llama.cpp's converter for arch `llama`: per head, its rows [x_0, y_0, x_1, y_1, …] (interleaved rotary
 * pairs) go back to HF's [x_0 … x_{d/2-1}, y_0 … y_{d/2-1}]. Rows move whole, so this works on float rows and on
 * rows of quantized blocks alike (`bytes` holds `rows` equal rows).
 */
export function rotateHalfRows(bytes: Uint8Array, rows: number, heads: number, path: string, tensor: string): Uint8Array {
  const half = rows / heads / 2;
  if (!Number.isInteger(half)) throw new InputError(`${path}: tensor ${tensor} has ${rows} rows, not an even number per head for ${heads} heads`);
  const rowBytes = bytes.byteLength / rows;
  const out = new Uint8Array(bytes.byteLength);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const hfRow = h * 2 * half + j * half + i;
        const ggufRow = h * 2 * half + 2 * i + j;
        out.set(bytes.subarray(ggufRow * rowBytes, (ggufRow + 1) * rowBytes), hfRow * rowBytes);
      }
    }
  }
  return out;
}
