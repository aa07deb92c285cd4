/**
 * Writes safetensors files from float32 data, storing F32, F16 or BF16 (round to nearest even).
 * Used for adapters (PEFT's adapter_model.safetensors) and for the test checkpoints.
 */
import { writeFile } from 'node:fs/promises';
import { float32ToBfloat16Bits, float32ToHalfBits } from './halfPrecision.ts';
import type { WeightDType } from './types.ts';

export interface TensorToWrite {
  name: string;
  shape: number[];
  data: Float32Array;
  dtype?: WeightDType;
}

export interface EncodeOptions {
  metadata?: Record<string, string>;
  /**
   * Shift the data section by this many bytes (the header is padded with spaces to 8-byte alignment
   * plus the shift). Only tests want a non-zero shift, to exercise readers on unaligned data.
   */
  dataShift?: number;
}

export function encodeSafetensors(tensors: readonly TensorToWrite[], options: EncodeOptions = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (options.metadata) header['__metadata__'] = options.metadata;
  const encoded: Uint8Array[] = [];
  let offset = 0;
  for (const tensor of tensors) {
    const count = tensor.shape.reduce((n, d) => n * d, 1);
    if (count !== tensor.data.length) {
      throw new Error(`tensor ${tensor.name}: shape [${tensor.shape.join(', ')}] holds ${count} values, data has ${tensor.data.length}`);
    }
    const dtype = tensor.dtype ?? 'F32';
    const bytes = encodeValues(tensor.data, dtype);
    header[tensor.name] = { dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes.byteLength] };
    encoded.push(bytes);
    offset += bytes.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const shift = options.dataShift ?? 0;
  const headerLength = Math.ceil((8 + json.byteLength) / 8) * 8 - 8 + shift;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.fill(0x20, 8, 8 + headerLength);
  out.set(json, 8);
  let at = 8 + headerLength;
  for (const bytes of encoded) {
    out.set(bytes, at);
    at += bytes.byteLength;
  }
  return out;
}

export async function writeSafetensors(path: string, tensors: readonly TensorToWrite[], options: EncodeOptions = {}): Promise<void> {
  await writeFile(path, encodeSafetensors(tensors, options));
}

function encodeValues(data: Float32Array, dtype: WeightDType): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const out = new Uint16Array(data.length);
  const convert = dtype === 'F16' ? float32ToHalfBits : float32ToBfloat16Bits;
  for (let i = 0; i < data.length; i++) out[i] = convert(data[i] as number);
  return new Uint8Array(out.buffer);
}
