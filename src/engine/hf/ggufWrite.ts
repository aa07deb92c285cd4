/**
 * Writes GGUF v3 files (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): typed metadata, then tensor
 * infos, then each tensor's bytes at an aligned offset. Tensors are given in HF order (outermost dimension first)
 * and written innermost first as GGUF wants, so an HF [out, in] matrix keeps its bytes. Each tensor's bytes come
 * as chunks made while the file is written, so a large model never sits in memory whole.
 */
import { open } from 'node:fs/promises';

export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'strings'; value: string[] }
  | { type: 'i32s'; value: number[] };

/** GGML type ids of the float types the product writes. */
export const GGML_F32 = 0;

export interface GgufTensorToWrite {
  name: string;
  /** HF order: outermost first. */
  shape: readonly number[];
  typeId: number;
  byteLength: number;
  chunks(): Iterable<Uint8Array>;
}

/** GGUF's default alignment, which readers assume when general.alignment is absent. */
export const GGUF_ALIGNMENT = 32;

export function f32Tensor(name: string, shape: readonly number[], data: Float32Array): GgufTensorToWrite {
  return { name, shape, typeId: GGML_F32, byteLength: data.byteLength, chunks: () => [new Uint8Array(data.buffer, data.byteOffset, data.byteLength)] };
}

/** Writes the file at `path` (replacing it); the caller writes beside the final place and renames. */
export async function writeGgufFile(
  path: string,
  metadata: Iterable<readonly [string, GgufValue]>,
  tensors: readonly GgufTensorToWrite[],
  alignment = GGUF_ALIGNMENT,
): Promise<void> {
  const entries = [...metadata];
  const header = new ByteWriter();
  header.u32(0x46554747); // "GGUF"
  header.u32(3);
  header.u64(tensors.length);
  header.u64(entries.length);
  for (const [key, value] of entries) {
    header.string(key);
    header.value(value);
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const tensor of tensors) {
    header.string(tensor.name);
    header.u32(tensor.shape.length);
    for (const dim of [...tensor.shape].reverse()) header.u64(dim);
    header.u32(tensor.typeId);
    header.u64(offset);
    offsets.push(offset);
    offset = alignUp(offset + tensor.byteLength, alignment);
  }
  header.pad(alignment);
  const file = await open(path, 'w');
  try {
    await file.write(header.bytes());
    let written = 0;
    for (const [i, tensor] of tensors.entries()) {
      const padding = offsets[i]! - written;
      if (padding > 0) await file.write(new Uint8Array(padding));
      let length = 0;
      for (const bytes of tensor.chunks()) {
        await file.write(bytes);
        length += bytes.byteLength;
      }
      if (length !== tensor.byteLength) throw new Error(`GGUF writer: tensor ${tensor.name} got ${length} bytes, expected ${tensor.byteLength}`);
      written = offsets[i]! + length;
    }
  } finally {
    await file.close();
  }
}

/**
 * llama.cpp's converter for arch `llama` (HF rotates halves, llama.cpp rotates interleaved pairs): per head, rows
 * [x_0 … x_{d/2-1}, y_0 … y_{d/2-1}] become [x_0, y_0, x_1, y_1, …], as its reshape(heads, 2, d/2, …).swapaxes(1, 2)
 * does. Works on any rows of equal length: weights [rows, in], biases [rows], a LoRA B [rows, r].
 */
export function rotateHalfToInterleaved(data: Float32Array, shape: readonly number[], heads: number): Float32Array {
  const rows = shape[0]!;
  const rowLength = data.length / rows;
  const half = rows / heads / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = h * 2 * half + j * half + i;
        const to = h * 2 * half + 2 * i + j;
        out.set(data.subarray(from * rowLength, (from + 1) * rowLength), to * rowLength);
      }
    }
  }
  return out;
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Little-endian GGUF primitives into a growing buffer. */
class ByteWriter {
  private buffer = new Uint8Array(1 << 16);
  private view = new DataView(this.buffer.buffer);
  private length = 0;
  private readonly encoder = new TextEncoder();

  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  u32(v: number): void {
    this.reserve(4).setUint32(this.length - 4, v, true);
  }

  i32(v: number): void {
    this.reserve(4).setInt32(this.length - 4, v, true);
  }

  f32(v: number): void {
    this.reserve(4).setFloat32(this.length - 4, v, true);
  }

  u64(v: number): void {
    this.reserve(8).setBigUint64(this.length - 8, BigInt(v), true);
  }

  string(s: string): void {
    const bytes = this.encoder.encode(s);
    this.u64(bytes.length);
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length - bytes.length);
  }

  value(value: GgufValue): void {
    // GGUF value types: UINT32 4, INT32 5, FLOAT32 6, BOOL 7, STRING 8, ARRAY 9.
    switch (value.type) {
      case 'u32':
        this.u32(4);
        this.u32(value.value);
        break;
      case 'i32':
        this.u32(5);
        this.i32(value.value);
        break;
      case 'f32':
        this.u32(6);
        this.f32(value.value);
        break;
      case 'bool':
        this.u32(7);
        this.reserve(1);
        this.buffer[this.length - 1] = value.value ? 1 : 0;
        break;
      case 'string':
        this.u32(8);
        this.string(value.value);
        break;
      case 'strings':
        this.u32(9);
        this.u32(8);
        this.u64(value.value.length);
        for (const s of value.value) this.string(s);
        break;
      case 'i32s':
        this.u32(9);
        this.u32(5);
        this.u64(value.value.length);
        for (const v of value.value) this.i32(v);
        break;
    }
  }

  pad(alignment: number): void {
    this.reserve(alignUp(this.length, alignment) - this.length);
  }

  private reserve(n: number): DataView {
    if (this.length + n > this.buffer.length) {
      const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + n));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
      this.view = new DataView(grown.buffer);
    }
    this.length += n;
    return this.view;
  }
}
