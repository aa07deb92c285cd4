/**
 * A GGUF file (llama.cpp's single-file model format, versions 2 and 3): the header, the metadata key/values,
 * the tensor infos and where the aligned data section starts. Only the header is read up front; each tensor's
 * bytes are read on demand with readSync at its offset (Node has no memory-mapping without native addons), so a
 * 4 GB model never sits in memory whole. Every count, length and offset is checked against the file's size
 * before it is used: a truncated or hostile file is one InputError naming the file, never a huge allocation.
 * Layout: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { InputError } from '../../inputError.ts';
import { fileError } from './files.ts';

export type GgufValue = number | bigint | boolean | string | GgufValue[];

/** One GGML storage type: elements per block and bytes per block. */
export interface GgmlType {
  name: string;
  blockSize: number;
  blockBytes: number;
}

/** GGML type ids (ggml.h) with their block layouts; types not listed here are named by id and cannot be read. */
export const GGML_TYPES: ReadonlyMap<number, GgmlType> = new Map(
  (
    [
      [0, 'F32', 1, 4],
      [1, 'F16', 1, 2],
      [2, 'Q4_0', 32, 18],
      [3, 'Q4_1', 32, 20],
      [6, 'Q5_0', 32, 22],
      [7, 'Q5_1', 32, 24],
      [8, 'Q8_0', 32, 34],
      [9, 'Q8_1', 32, 36],
      [10, 'Q2_K', 256, 84],
      [11, 'Q3_K', 256, 110],
      [12, 'Q4_K', 256, 144],
      [13, 'Q5_K', 256, 176],
      [14, 'Q6_K', 256, 210],
      [15, 'Q8_K', 256, 292],
      [24, 'I8', 1, 1],
      [25, 'I16', 1, 2],
      [26, 'I32', 1, 4],
      [27, 'I64', 1, 8],
      [28, 'F64', 1, 8],
      [30, 'BF16', 1, 2],
    ] as const
  ).map(([id, name, blockSize, blockBytes]) => [id, { name, blockSize, blockBytes }]),
);

export interface GgufTensorInfo {
  name: string;
  /** GGUF order: innermost first (ne[0] is a matrix's `in`). */
  dims: number[];
  typeId: number;
  /** undefined for a type this reader does not know */
  type: GgmlType | undefined;
  /** Absolute position in the file. */
  offset: number;
  byteLength: number;
}

const MAGIC = 0x46554747; // "GGUF" read little-endian
const DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS */
const MAX_DIMS = 4;
/** Header bytes read per refill; metadata of real models runs to tens of MiB (vocabularies, merges). */
const CHUNK = 1 << 20;

export class GgufFile {
  readonly path: string;
  readonly version: number;
  readonly fileSize: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>;
  readonly alignment: number;
  /** Where the tensor data section starts (the header, metadata and tensor infos lie before it). */
  readonly dataOffset: number;

  private constructor(path: string, fd: number, fileSize: number) {
    this.path = path;
    this.fileSize = fileSize;
    const cursor = new Cursor(path, fd, fileSize);
    const magic = cursor.u32();
    if (magic !== MAGIC) throw new InputError(`${path}: not a GGUF file (no "GGUF" magic)`);
    this.version = cursor.u32();
    if (this.version !== 2 && this.version !== 3) {
      const hint = this.version > 0xffff ? ' (a big-endian file?)' : '';
      throw new InputError(`${path}: GGUF version ${this.version} is not supported (2 or 3)${hint}`);
    }
    // each tensor info takes at least 8+4+8+4+8 bytes, each key/value at least 8+4+1
    const tensorCount = cursor.count(32, 'tensor count');
    const kvCount = cursor.count(13, 'metadata count');
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < kvCount; i++) {
      const key = cursor.string('metadata key');
      metadata.set(key, cursor.value(cursor.u32(), key, 0));
    }
    this.metadata = metadata;
    this.alignment = alignmentOf(metadata, path);
    const infos: { name: string; dims: number[]; typeId: number; relative: number }[] = [];
    for (let i = 0; i < tensorCount; i++) infos.push(cursor.tensorInfo());
    this.dataOffset = Math.ceil(cursor.position / this.alignment) * this.alignment;
    const tensors = new Map<string, GgufTensorInfo>();
    for (const info of infos) {
      if (tensors.has(info.name)) throw new InputError(`${path}: tensor ${info.name} appears twice`);
      tensors.set(info.name, this.placed(info));
    }
    this.tensors = tensors;
  }

  /** Reads the header (the file is opened again for each later read, so a loaded model holds no descriptor). */
  static open(path: string): GgufFile {
    return withOpenFile(path, (fd, size) => new GgufFile(path, fd, size));
  }

  /** The raw bytes of a tensor, read from the file now. */
  read(info: GgufTensorInfo): Uint8Array {
    return this.reading((read) => read(info.offset, info.byteLength));
  }

  /** Reads through one open descriptor: `read(offset, length)` returns exactly those bytes. */
  reading<T>(use: (read: (offset: number, length: number) => Uint8Array) => T): T {
    return withOpenFile(this.path, (fd, size) => {
      // the header read at open sized every offset: a file that changed since is not the model that was loaded
      if (size !== this.fileSize) throw new InputError(`${this.path}: file changed size since it was opened (${this.fileSize} → ${size} bytes)`);
      return use((offset, length) => readExactly(this.path, fd, offset, length));
    });
  }

  private placed(info: { name: string; dims: number[]; typeId: number; relative: number }): GgufTensorInfo {
    const { name, dims, typeId, relative } = info;
    const type = GGML_TYPES.get(typeId);
    if (relative % this.alignment !== 0) throw new InputError(`${this.path}: tensor ${name} offset ${relative} is not a multiple of the alignment ${this.alignment}`);
    let byteLength = 0;
    if (type) {
      const elements = dims.reduce((n, d) => n * d, 1);
      if ((dims[0] ?? 1) % type.blockSize !== 0) {
        throw new InputError(`${this.path}: tensor ${name} of type ${type.name} has a row of ${dims[0]} elements, not a multiple of its block of ${type.blockSize}`);
      }
      byteLength = (elements / type.blockSize) * type.blockBytes;
    }
    const offset = this.dataOffset + relative;
    if (offset + byteLength > this.fileSize) {
      throw new InputError(`${this.path}: tensor ${name} ends at byte ${offset + byteLength}, past the end of the file (${this.fileSize} bytes; truncated?)`);
    }
    return { name, dims, typeId, type, offset, byteLength };
  }
}

/** Opens `path` read-only (refusing anything but a regular file), runs `use`, closes. */
function withOpenFile<T>(path: string, use: (fd: number, size: number) => T): T {
  let fd: number;
  try {
    // non-blocking: a FIFO at the path must not hang the open
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw fileError(path, error);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new InputError(`${path}: ${stats.isDirectory() ? 'a folder' : 'a special file'}, not a regular file`);
    return use(fd, stats.size);
  } finally {
    closeSync(fd);
  }
}

function alignmentOf(metadata: ReadonlyMap<string, GgufValue>, path: string): number {
  const value = metadata.get('general.alignment');
  if (value === undefined) return DEFAULT_ALIGNMENT;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || (value & (value - 1)) !== 0) {
    throw new InputError(`${path}: general.alignment must be a power of two, got ${String(value)}`);
  }
  return value;
}

function readExactly(path: string, fd: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = readSync(fd, out, done, length - done, offset + done);
    } catch (error) {
      throw fileError(path, error);
    }
    if (n === 0) throw new InputError(`${path}: file ends at byte ${offset + done}, expected ${length - done} more bytes (truncated?)`);
    done += n;
  }
  return out;
}

/** Sequential little-endian reads of the header, refilled from the file; never past its end. */
class Cursor {
  private readonly path: string;
  private readonly fd: number;
  private readonly fileSize: number;
  private buffer: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buffer.buffer);
  /** File position of buffer[0]. */
  private start = 0;
  private at = 0;
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  constructor(path: string, fd: number, fileSize: number) {
    this.path = path;
    this.fd = fd;
    this.fileSize = fileSize;
  }

  get position(): number {
    return this.start + this.at;
  }

  u32(): number {
    return this.need(4).getUint32(this.advance(4), true);
  }

  u64(what: string): number {
    const value = this.need(8).getBigUint64(this.advance(8), true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new InputError(`${this.path}: ${what} ${value} is out of range`);
    return Number(value);
  }

  /** A u64 count of items that each take at least `minBytes`: more than the rest of the file can hold is refused. */
  count(minBytes: number, what: string): number {
    const n = this.u64(what);
    if (n * minBytes > this.fileSize - this.position) {
      throw new InputError(`${this.path}: ${what} ${n} does not fit in the file (${this.fileSize} bytes; truncated or corrupt)`);
    }
    return n;
  }

  string(what: string): string {
    const length = this.count(1, `${what} length`);
    const view = this.need(length);
    const at = this.advance(length);
    return this.decoder.decode(new Uint8Array(view.buffer, view.byteOffset + at, length));
  }

  /** One metadata value of GGUF value type `type` (arrays may nest). */
  value(type: number, key: string, depth: number): GgufValue {
    switch (type) {
      case 0:
        return this.need(1).getUint8(this.advance(1));
      case 1:
        return this.need(1).getInt8(this.advance(1));
      case 2:
        return this.need(2).getUint16(this.advance(2), true);
      case 3:
        return this.need(2).getInt16(this.advance(2), true);
      case 4:
        return this.u32();
      case 5:
        return this.need(4).getInt32(this.advance(4), true);
      case 6:
        return this.need(4).getFloat32(this.advance(4), true);
      case 7:
        return this.need(1).getUint8(this.advance(1)) !== 0;
      case 8:
        return this.string(`metadata ${key}`);
      case 9:
        return this.array(key, depth);
      case 10: {
        const v = this.need(8).getBigUint64(this.advance(8), true);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case 11: {
        const v = this.need(8).getBigInt64(this.advance(8), true);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
      }
      case 12:
        return this.need(8).getFloat64(this.advance(8), true);
      default:
        throw new InputError(`${this.path}: metadata ${key} has unknown value type ${type}`);
    }
  }

  tensorInfo(): { name: string; dims: number[]; typeId: number; relative: number } {
    const name = this.string('tensor name');
    const rank = this.u32();
    if (rank < 1 || rank > MAX_DIMS) throw new InputError(`${this.path}: tensor ${name} has ${rank} dimensions (1 to ${MAX_DIMS} allowed)`);
    const dims: number[] = [];
    let elements = 1;
    for (let d = 0; d < rank; d++) {
      const size = this.u64(`tensor ${name} dimension`);
      elements *= size;
      // no tensor can hold more elements than the file has bytes times the densest packing (< 4 per byte)
      if (size < 1 || elements > this.fileSize * 4) throw new InputError(`${this.path}: tensor ${name} has absurd dimensions [${[...dims, size].join(', ')}]`);
      dims.push(size);
    }
    const typeId = this.u32();
    const relative = this.u64(`tensor ${name} offset`);
    return { name, dims, typeId, relative };
  }

  private array(key: string, depth: number): GgufValue[] {
    if (depth > 4) throw new InputError(`${this.path}: metadata ${key} nests arrays too deeply`);
    const elementType = this.u32();
    const length = this.count(1, `metadata ${key} array length`);
    const values: GgufValue[] = new Array<GgufValue>(length);
    for (let i = 0; i < length; i++) values[i] = this.value(elementType, key, depth + 1);
    return values;
  }

  private advance(n: number): number {
    const at = this.at;
    this.at += n;
    return at;
  }

  /** Makes `n` bytes available at the cursor; a file that ends first is truncated. */
  private need(n: number): DataView {
    if (this.at + n <= this.buffer.byteLength) return this.view;
    const position = this.position;
    if (position + n > this.fileSize) {
      throw new InputError(`${this.path}: GGUF header ends early at byte ${this.fileSize} (truncated?)`);
    }
    const length = Math.min(Math.max(n, CHUNK), this.fileSize - position);
    this.buffer = readExactly(this.path, this.fd, position, length);
    this.view = new DataView(this.buffer.buffer);
    this.start = position;
    this.at = 0;
    return this.view;
  }
}

/** Typed access to metadata values; every problem is one line naming the file and the key. */
export class GgufMetadata {
  readonly path: string;
  private readonly values: ReadonlyMap<string, GgufValue>;

  constructor(values: ReadonlyMap<string, GgufValue>, path: string) {
    this.values = values;
    this.path = path;
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  optionalString(key: string): string | null {
    const value = this.values.get(key);
    if (value === undefined) return null;
    if (typeof value !== 'string') throw this.bad(key, 'a string', value);
    return value;
  }

  string(key: string): string {
    return this.optionalString(key) ?? this.missing(key);
  }

  optionalNumber(key: string): number | null {
    const value = this.values.get(key);
    if (value === undefined) return null;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw this.bad(key, 'a number', value);
    return value;
  }

  optionalPositiveInt(key: string): number | null {
    const value = this.optionalNumber(key);
    if (value !== null && (!Number.isInteger(value) || value <= 0)) throw this.bad(key, 'a positive integer', value);
    return value;
  }

  positiveInt(key: string): number {
    return this.optionalPositiveInt(key) ?? this.missing(key);
  }

  optionalTokenId(key: string): number | null {
    const value = this.optionalNumber(key);
    if (value !== null && (!Number.isInteger(value) || value < 0)) throw this.bad(key, 'a token id', value);
    return value;
  }

  optionalBoolean(key: string): boolean | null {
    const value = this.values.get(key);
    if (value === undefined) return null;
    if (typeof value !== 'boolean') throw this.bad(key, 'true or false', value);
    return value;
  }

  optionalStrings(key: string): string[] | null {
    const value = this.values.get(key);
    if (value === undefined) return null;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw this.bad(key, 'an array of strings', value);
    return value as string[];
  }

  strings(key: string): string[] {
    return this.optionalStrings(key) ?? this.missing(key);
  }

  optionalNumbers(key: string): number[] | null {
    const value = this.values.get(key);
    if (value === undefined) return null;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'number')) throw this.bad(key, 'an array of numbers', value);
    return value as number[];
  }

  private missing(key: string): never {
    throw new InputError(`${this.path}: missing metadata ${key}`);
  }

  private bad(key: string, expected: string, value: GgufValue): InputError {
    const shown = Array.isArray(value) ? `an array of ${value.length}` : typeof value === 'bigint' ? String(value) : JSON.stringify(value);
    return new InputError(`${this.path}: metadata ${key} must be ${expected}, got ${shown}`);
  }
}
