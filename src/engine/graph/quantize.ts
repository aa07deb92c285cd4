/**
 * Block quantization of linear weights for ONNX Runtime's MatMulNBits (com.microsoft): each row of an
 * [out, in] weight is cut into blocks along `in`; a block stores one float scale and `bits`-bit codes with the
 * default zero point 2^(bits−1), so value = (code − zero) × scale. The layouts match GGUF's Q8_0 and Q4_0
 * (symmetric, block 32), whose blocks are repacked here without dequantizing.
 */

import { halfToFloat32Table } from '../hf/weights.ts';

export type QuantBits = 4 | 8;

/** An [rows, cols] weight in MatMulNBits' layout: packed codes [rows, blocks, blockSize·bits/8], scales [rows·blocks]. */
export interface BlockQuantized {
  bits: QuantBits;
  blockSize: number;
  rows: number;
  cols: number;
  packed: Uint8Array;
  scales: Float32Array;
}

/** Blocks per row: a row whose length is not a multiple of the block size ends in a zero-padded block. */
export const blocksPerRow = (cols: number, blockSize: number): number => Math.ceil(cols / blockSize);

const bytesPerBlock = (bits: QuantBits, blockSize: number): number => (blockSize * bits) / 8;

/** Where element (row, col) of the weight lies in `data`: HF nn.Linear stores [out, in] ('rows'), GPT-2's Conv1D [in, out] ('columns'). */
export type WeightLayout = 'rows' | 'columns';

/**
 * Symmetric block quantization as llama.cpp does it: int8 scales the largest magnitude to ±127; int4 maps the
 * value of largest magnitude to −8 (its sign kept), so the 16 codes are all used.
 */
export function quantizeBlocks(data: Float32Array, rows: number, cols: number, bits: QuantBits, blockSize: number, layout: WeightLayout = 'rows'): BlockQuantized {
  if (data.length !== rows * cols) throw new Error(`quantize: ${data.length} values for [${rows}, ${cols}]`);
  const blocks = blocksPerRow(cols, blockSize);
  const blockBytes = bytesPerBlock(bits, blockSize);
  const packed = new Uint8Array(rows * blocks * blockBytes);
  const scales = new Float32Array(rows * blocks);
  const values = new Float32Array(blockSize);
  const zero = 1 << (bits - 1);
  const maxCode = (1 << bits) - 1;
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      values.fill(0);
      const start = b * blockSize;
      const end = Math.min(cols, start + blockSize);
      for (let c = start; c < end; c++) values[c - start] = layout === 'rows' ? data[r * cols + c]! : data[c * rows + r]!;
      let extreme = 0;
      for (const v of values) if (Math.abs(v) > Math.abs(extreme)) extreme = v;
      const scale = bits === 8 ? Math.abs(extreme) / 127 : extreme / -8;
      const inverse = scale === 0 ? 0 : 1 / scale;
      const block = r * blocks + b;
      scales[block] = scale;
      const out = block * blockBytes;
      for (let i = 0; i < blockSize; i++) {
        const code = Math.min(maxCode, Math.max(0, Math.round(values[i]! * inverse) + zero));
        if (bits === 8) packed[out + i] = code;
        else packed[out + (i >> 1)]! |= i & 1 ? code << 4 : code;
      }
    }
  }
  return { bits, blockSize, rows, cols, packed, scales };
}

/** Each value of the weight the blocks stand for, row by row: visit(row, col, value). */
function forEachValue(q: BlockQuantized, visit: (r: number, c: number, value: number) => void): void {
  const blocks = blocksPerRow(q.cols, q.blockSize);
  const blockBytes = bytesPerBlock(q.bits, q.blockSize);
  const zero = 1 << (q.bits - 1);
  for (let r = 0; r < q.rows; r++) {
    for (let c = 0; c < q.cols; c++) {
      const block = r * blocks + Math.floor(c / q.blockSize);
      const i = c % q.blockSize;
      const byte = q.packed[block * blockBytes + (q.bits === 8 ? i : i >> 1)]!;
      const code = q.bits === 8 ? byte : i & 1 ? byte >> 4 : byte & 15;
      visit(r, c, (code - zero) * q.scales[block]!);
    }
  }
}

/** The weight the blocks stand for, [rows, cols] row-major (tests, and checks of repacked blocks). */
export function dequantizeBlocks(q: BlockQuantized): Float32Array {
  const out = new Float32Array(q.rows * q.cols);
  forEachValue(q, (r, c, v) => (out[r * q.cols + c] = v));
  return out;
}

/** The mean of the weight's rows, [cols] (summed in float64), without a float copy of the weight. */
export function meanRow(q: BlockQuantized): Float32Array {
  const sums = new Float64Array(q.cols);
  forEachValue(q, (_r, c, v) => (sums[c]! += v));
  return Float32Array.from(sums, (v) => v / q.rows);
}

/** Weights reading the same input, side by side: their rows one after another (one MatMulNBits for q/k/v or gate/up). */
export function concatRows(parts: readonly BlockQuantized[]): BlockQuantized {
  const [first] = parts;
  if (!first) throw new Error('quantize: no weights to concatenate');
  for (const p of parts) {
    if (p.bits !== first.bits || p.blockSize !== first.blockSize || p.cols !== first.cols) throw new Error('quantize: concatenated weights differ in bits, block size or columns');
  }
  if (parts.length === 1) return first;
  const packed = new Uint8Array(parts.reduce((n, p) => n + p.packed.length, 0));
  const scales = new Float32Array(parts.reduce((n, p) => n + p.scales.length, 0));
  let bytes = 0;
  let blocks = 0;
  for (const p of parts) {
    packed.set(p.packed, bytes);
    scales.set(p.scales, blocks);
    bytes += p.packed.length;
    blocks += p.scales.length;
  }
  return { ...first, rows: parts.reduce((n, p) => n + p.rows, 0), packed, scales };
}

/** GGML block types that are MatMulNBits blocks as they are (block 32, symmetric): their bits. */
const GGML_BLOCKS: Record<string, QuantBits> = { Q8_0: 8, Q4_0: 4 };
export const GGML_BLOCK_SIZE = 32;

/** The storage bits a GGML block type repacks into without requantizing; undefined for the other types. */
export const ggmlBlockBits = (type: string): QuantBits | undefined => GGML_BLOCKS[type];

/**
 * GGUF Q8_0 / Q4_0 rows ([rows, cols], each row cols/32 blocks of an f16 scale and the codes) as MatMulNBits
 * blocks: Q8_0's signed codes shift by 128; Q4_0 keeps its codes (value = (q − 8) × scale) but GGUF pairs
 * elements j and j+16 in a byte where MatMulNBits pairs 2i and 2i+1.
 */
export function repackGgmlBlocks(type: string, rows: number, cols: number, bytes: Uint8Array): BlockQuantized {
  const bits = ggmlBlockBits(type);
  if (bits === undefined) throw new Error(`quantize: GGML type ${type} is not repacked; dequantize it`);
  if (cols % GGML_BLOCK_SIZE !== 0) throw new Error(`quantize: ${type} row of ${cols} values is not whole blocks of ${GGML_BLOCK_SIZE}`);
  const blocks = rows * (cols / GGML_BLOCK_SIZE);
  const codeBytes = bytesPerBlock(bits, GGML_BLOCK_SIZE);
  const stride = 2 + codeBytes;
  if (bytes.length !== blocks * stride) throw new Error(`quantize: ${type} [${rows}, ${cols}] needs ${blocks * stride} bytes, got ${bytes.length}`);
  const packed = new Uint8Array(blocks * codeBytes);
  const scales = new Float32Array(blocks);
  const halves = halfToFloat32Table();
  for (let b = 0; b < blocks; b++) {
    const at = b * stride;
    scales[b] = halves[bytes[at]! | (bytes[at + 1]! << 8)]!;
    const codes = bytes.subarray(at + 2, at + stride);
    const out = b * codeBytes;
    if (bits === 8) {
      for (let i = 0; i < codeBytes; i++) packed[out + i] = codes[i]! ^ 0x80;
    } else {
      // element e's code: GGUF keeps e < 16 in the low nibble of byte e, e ≥ 16 in the high nibble of byte e−16
      const code = (e: number) => (e < 16 ? codes[e]! & 15 : codes[e - 16]! >> 4);
      for (let i = 0; i < codeBytes; i++) packed[out + i] = code(2 * i) | (code(2 * i + 1) << 4);
    }
  }
  return { bits, blockSize: GGML_BLOCK_SIZE, rows, cols, packed, scales };
}
