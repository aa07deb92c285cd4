/**
 * GGML tensor data → float32, type by type, following llama.cpp's dequantize_row_* (ggml-quants.c) operation
 * for operation, with float32 rounding at each step as the C code has it. Quantized types are blocks along each
 * row: Q8_0/Q4_0/Q4_1 blocks of 32 with an f16 scale (and min); the K-quants super-blocks of 256 with 6-bit
 * (Q4_K, Q5_K) or 8-bit (Q6_K) sub-block scales.
 */
import { bfloat16ToFloat32, halfToFloat32, halfToFloat32Table } from './weights.ts';

/** The types get() converts; the rest are refused by name. */
export const DEQUANTIZABLE = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q4_K', 'Q5_K', 'Q6_K'] as const;

/** `count` elements of type `type` stored in `raw` → float32. */
export function dequantize(type: string, raw: Uint8Array, count: number): Float32Array {
  if (type === 'F32') return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + count * 4));
  if (type === 'F16') return halfToFloat32(raw, count);
  if (type === 'BF16') return bfloat16ToFloat32(raw, count);
  const layout = BLOCK_LAYOUTS[type];
  if (!layout) throw new Error(`no dequantization for GGML type ${type}`);
  const [blockSize, blockBytes, decode] = layout;
  const out = new Float32Array(count);
  for (let b = 0; b < count / blockSize; b++) decode(raw, b * blockBytes, out, b * blockSize);
  return out;
}

type BlockDecoder = (raw: Uint8Array, at: number, out: Float32Array, to: number) => void;

/** Per type: values per block, bytes per block, the block's decoder (ggml's block_* structs). */
const BLOCK_LAYOUTS: Record<string, [number, number, BlockDecoder]> = {
  Q8_0: [32, 34, dequantizeQ8_0],
  Q4_0: [32, 18, dequantizeQ4_0],
  Q4_1: [32, 20, dequantizeQ4_1],
  Q4_K: [256, 144, dequantizeQ4_K],
  Q5_K: [256, 176, dequantizeQ5_K],
  Q6_K: [256, 210, dequantizeQ6_K],
};

const f32 = Math.fround;

function half(raw: Uint8Array, at: number): number {
  return halfToFloat32Table()[(raw[at] as number) | ((raw[at + 1] as number) << 8)] as number;
}

/** f16 d, 32 × int8: d·q */
function dequantizeQ8_0(raw: Uint8Array, at: number, out: Float32Array, to: number): void {
  const d = half(raw, at);
  for (let j = 0; j < 32; j++) out[to + j] = (((raw[at + 2 + j] as number) << 24) >> 24) * d;
}

/** f16 d, 16 bytes: value j in the low nibble of byte j, value j+16 in its high nibble; (q − 8)·d */
function dequantizeQ4_0(raw: Uint8Array, at: number, out: Float32Array, to: number): void {
  const d = half(raw, at);
  for (let j = 0; j < 16; j++) {
    const q = raw[at + 2 + j] as number;
    out[to + j] = ((q & 0xf) - 8) * d;
    out[to + j + 16] = ((q >> 4) - 8) * d;
  }
}

/** f16 d, f16 m, 16 bytes of nibbles as Q4_0: q·d + m */
function dequantizeQ4_1(raw: Uint8Array, at: number, out: Float32Array, to: number): void {
  const d = half(raw, at);
  const m = half(raw, at + 2);
  for (let j = 0; j < 16; j++) {
    const q = raw[at + 4 + j] as number;
    out[to + j] = f32(f32((q & 0xf) * d) + m);
    out[to + j + 16] = f32(f32((q >> 4) * d) + m);
  }
}

/** Sub-block j's 6-bit scale and min from the 12 packed bytes at `at` (llama.cpp's get_scale_min_k4). */
function scaleMinK4(raw: Uint8Array, at: number, j: number): [number, number] {
  const q = (i: number) => raw[at + i] as number;
  if (j < 4) return [q(j) & 63, q(j + 4) & 63];
  return [(q(j + 4) & 0xf) | ((q(j - 4) >> 6) << 4), (q(j + 4) >> 4) | ((q(j) >> 6) << 4)];
}

/** f16 d, f16 dmin, 12 bytes of scales/mins, 128 bytes of nibbles: 8 sub-blocks of 32, d·sc·q − dmin·m */
function dequantizeQ4_K(raw: Uint8Array, at: number, out: Float32Array, to: number): void {
  dequantizeScaledNibbles(raw, at, at + 16, null, out, to);
}

/** Q4_K plus 32 bytes qh holding each value's fifth bit (before the nibbles). */
function dequantizeQ5_K(raw: Uint8Array, at: number, out: Float32Array, to: number): void {
  dequantizeScaledNibbles(raw, at, at + 48, at + 16, out, to);
}

/** Q4_K's and Q5_K's shared layout: nibbles at `ql`, with the fifth bits at `qh` (Q5_K) or none (Q4_K). */
function dequantizeScaledNibbles(raw: Uint8Array, at: number, ql: number, qh: number | null, out: Float32Array, to: number): void {
  const d = half(raw, at);
  const dmin = half(raw, at + 2);
  const scales = at + 4;
  // the fifth bit of value l in sub-block s is bit s of qh[l]
  const fifth = (l: number, sub: number) => (qh !== null && (raw[qh + l] as number) & (1 << sub) ? 16 : 0);
  for (let sub = 0; sub < 8; sub++) {
    const [sc, m] = scaleMinK4(raw, scales, sub);
    const scale = f32(d * sc);
    const min = f32(dmin * m);
    // sub-blocks 2k and 2k+1 share 32 bytes: low nibbles, then high nibbles
    const bytes = ql + (sub >> 1) * 32;
    const shift = sub % 2 ? 4 : 0;
    for (let l = 0; l < 32; l++) out[to + sub * 32 + l] = f32(f32(scale * ((((raw[bytes + l] as number) >> shift) & 0xf) + fifth(l, sub))) - min);
  }
}

/** 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16 int8 scales, f16 d: d·sc·(q − 32) */
function dequantizeQ6_K(raw: Uint8Array, at: number, out: Float32Array, to: number): void {
  const d = half(raw, at + 208);
  let ql = at;
  let qh = at + 128;
  let sc = at + 192;
  const scale = (i: number) => f32(d * (((raw[sc + i] as number) << 24) >> 24));
  for (let n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8) {
    for (let l = 0; l < 32; l++) {
      const is = l >> 4;
      const low0 = raw[ql + l] as number;
      const low32 = raw[ql + l + 32] as number;
      const high = raw[qh + l] as number;
      const q1 = ((low0 & 0xf) | ((high & 3) << 4)) - 32;
      const q2 = ((low32 & 0xf) | (((high >> 2) & 3) << 4)) - 32;
      const q3 = ((low0 >> 4) | (((high >> 4) & 3) << 4)) - 32;
      const q4 = ((low32 >> 4) | (((high >> 6) & 3) << 4)) - 32;
      out[to + n + l] = scale(is) * q1;
      out[to + n + l + 32] = scale(is + 2) * q2;
      out[to + n + l + 64] = scale(is + 4) * q3;
      out[to + n + l + 96] = scale(is + 6) * q4;
    }
  }
}
