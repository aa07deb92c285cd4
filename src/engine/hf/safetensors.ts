/**
 * safetensors files: an 8-byte little-endian header length, a JSON header (name → dtype, shape,
 * data_offsets relative to the data section), then the raw little-endian tensor bytes.
 * https://github.com/huggingface/safetensors#format
 */
import type { FileHandle } from 'node:fs/promises';
import { InputError } from '../../inputError.ts';
import { oneLine, openRegularFile } from './files.ts';

/** Byte size per element of every dtype safetensors defines; only F32/F16/BF16 convert to float32. */
const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

// The reference implementation refuses headers above 100 MB; a larger value means a corrupt file.
const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte range inside the file (not the data section). */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  path: string;
  /** The whole file; tensor data are views on it. */
  bytes: Uint8Array;
  /** The raw JSON header bytes (hashed to key compiled-graph caches). */
  headerBytes: Uint8Array;
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  const handle = await openRegularFile(path);
  try {
    const { size } = await handle.stat();
    // the header is checked before the whole file is allocated: a corrupt or sparse file fails here, not in memory
    const prefix = await readPrefix(handle, path, Math.min(size, 8));
    const head = await readPrefix(handle, path, 8 + headerLengthOf(prefix, size, path));
    const { headerBytes, tensors, metadata } = parseHeader(head, size, path);
    const bytes = await readPrefix(handle, path, size);
    return { path, bytes, headerBytes: bytes.subarray(8, 8 + headerBytes.byteLength), tensors, metadata };
  } finally {
    await handle.close();
  }
}

/** `path` only names the file in error messages. */
export function parseSafetensors(bytes: Uint8Array, path: string): SafetensorsFile {
  return { path, bytes, ...parseHeader(bytes, bytes.byteLength, path) };
}

/** The JSON header's length from the file's first 8 bytes, checked against the file's size. */
function headerLengthOf(bytes: Uint8Array, fileSize: number, path: string): number {
  if (bytes.byteLength < 8) throw new InputError(`${path}: truncated file (${bytes.byteLength} bytes, shorter than the 8-byte header length)`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(fileSize - 8)) {
    throw new InputError(`${path}: header length ${headerLength} past end of file (${fileSize} bytes)`);
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) throw new InputError(`${path}: header length ${headerLength} exceeds 100 MB`);
  return Number(headerLength);
}

/** The header of a file of `fileSize` bytes; `bytes` starts at the file's first byte and holds at least the header. */
function parseHeader(bytes: Uint8Array, fileSize: number, path: string): Omit<SafetensorsFile, 'path' | 'bytes'> {
  const dataStart = 8 + headerLengthOf(bytes, fileSize, path);
  const headerBytes = bytes.subarray(8, dataStart);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    throw new InputError(`${path}: bad JSON in header (${oneLine(error)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new InputError(`${path}: bad header (not a JSON object)`);
  }

  const dataLength = fileSize - dataStart;
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  let dataNeeded = 0;
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(value, path);
      continue;
    }
    const entry = parseEntry(name, value, path);
    dataNeeded = Math.max(dataNeeded, entry.end);
    tensors.set(name, { ...entry, begin: dataStart + entry.begin, end: dataStart + entry.end });
  }
  if (dataNeeded > dataLength) {
    throw new InputError(`${path}: truncated file (tensors need ${dataNeeded} data bytes, the file holds ${dataLength})`);
  }
  return { headerBytes, tensors, metadata };
}

function parseEntry(name: string, value: unknown, path: string): TensorEntry {
  const where = `${path}: tensor ${name}`;
  if (typeof value !== 'object' || value === null) throw new InputError(`${where}: bad header entry (not an object)`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string') throw new InputError(`${where}: bad header entry (no dtype)`);
  const elementBytes = DTYPE_BYTES[dtype];
  if (elementBytes === undefined) throw new InputError(`${where}: unknown dtype ${dtype}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    throw new InputError(`${where}: bad header entry (shape ${JSON.stringify(shape)} is not a list of sizes)`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) ||
    (offsets[0] as number) > (offsets[1] as number)
  ) {
    throw new InputError(`${where}: data_offsets ${JSON.stringify(offsets)} out of range`);
  }
  const [begin, end] = offsets as [number, number];
  const dims = shape as number[];
  const needed = dims.reduce((n, d) => n * d, 1) * elementBytes;
  if (needed !== end - begin) {
    throw new InputError(`${where}: dtype/shape mismatch (${dtype} [${dims.join(', ')}] needs ${needed} bytes, data_offsets give ${end - begin})`);
  }
  return { name, dtype, shape: dims, begin, end };
}

function parseMetadata(value: unknown, path: string): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InputError(`${path}: bad header (__metadata__ is not an object)`);
  }
  const metadata: Record<string, string> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) metadata[key] = String(v);
  return metadata;
}

/** The file's first `length` bytes. fs.readFile stops at 2 GiB; shards of large models exceed that, so read in chunks into one buffer. */
async function readPrefix(handle: FileHandle, path: string, length: number): Promise<Uint8Array> {
  // A fresh, unpooled allocation starts at byte 0 of its ArrayBuffer, so f32 data at 4-aligned offsets can be viewed in place.
  const bytes = new Uint8Array(new ArrayBuffer(length));
  const chunk = 1 << 30;
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(bytes, filled, Math.min(chunk, length - filled), filled);
    if (bytesRead === 0) throw new InputError(`${path}: truncated file (shrank while reading)`);
    filled += bytesRead;
  }
  return bytes;
}
