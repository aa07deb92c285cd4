/**
 * The GGUF reader on hand-built files (every metadata value type, nested arrays, version 2, a custom alignment)
 * and the dequantization of each tensor type on hand-built blocks whose values are worked out here from the
 * block layouts. (test/unit/models/gguf.test.ts checks every type against llama.cpp itself.)
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { InputError } from '../../../src/inputError.ts';
import { GgufFile, GgufMetadata, type GgufValue } from '../../../src/engine/hf/gguf.ts';
import { dequantize } from '../../../src/engine/hf/ggufQuants.ts';
import { ggufTokenizerFiles } from '../../../src/engine/hf/ggufTokenizer.ts';
import { rotateHalfRows } from '../../../src/engine/hf/ggufWeights.ts';
import { float32ToHalfBits } from '../../../src/engine/hf/halfPrecision.ts';
import { rotateHalfToInterleaved } from '../../reference/gguf.ts';
import { tempDir } from './temp-dir.ts';

/** Little-endian pieces of a hand-built file. */
const u32 = (v: number) => Buffer.from(new Uint32Array([v]).buffer);
const u64 = (v: number | bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
};
const str = (s: string) => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);
const half = (v: number) => Buffer.from(new Uint16Array([float32ToHalfBits(v)]).buffer);

function gguf(version: number, kvs: Buffer[], tensors: { name: string; dims: number[]; type: number; offset: number }[], data: Buffer, alignment = 32): Buffer {
  const header = Buffer.concat([
    u32(0x46554747),
    u32(version),
    u64(tensors.length),
    u64(kvs.length),
    ...kvs,
    ...tensors.map((t) => Buffer.concat([str(t.name), u32(t.dims.length), ...t.dims.map(u64), u32(t.type), u64(t.offset)])),
  ]);
  const padded = Math.ceil(header.length / alignment) * alignment;
  return Buffer.concat([header, Buffer.alloc(padded - header.length), data]);
}

test('reads every metadata value type, nested arrays, version 2 and general.alignment', async () => {
  const dir = await tempDir('gguf');
  const path = join(dir, 'all.gguf');
  const f32 = Buffer.alloc(4);
  f32.writeFloatLE(1.5);
  const f64 = Buffer.alloc(8);
  f64.writeDoubleLE(-2.25);
  const i64 = Buffer.alloc(8);
  i64.writeBigInt64LE(-5n);
  const kvs = [
    Buffer.concat([str('u8'), u32(0), Buffer.from([200])]),
    Buffer.concat([str('i8'), u32(1), Buffer.from([0xff])]),
    Buffer.concat([str('u16'), u32(2), Buffer.from([0x34, 0x12])]),
    Buffer.concat([str('i16'), u32(3), Buffer.from([0xfe, 0xff])]),
    Buffer.concat([str('u32'), u32(4), u32(4_000_000_000)]),
    Buffer.concat([str('i32'), u32(5), Buffer.from(new Int32Array([-7]).buffer)]),
    Buffer.concat([str('f32'), u32(6), f32]),
    Buffer.concat([str('bool'), u32(7), Buffer.from([1])]),
    Buffer.concat([str('string'), u32(8), str('naïve')]),
    Buffer.concat([str('u64'), u32(10), u64(1n << 60n)]),
    Buffer.concat([str('i64'), u32(11), i64]),
    Buffer.concat([str('f64'), u32(12), f64]),
    Buffer.concat([str('strings'), u32(9), u32(8), u64(2), str('a b'), str('')]),
    Buffer.concat([str('nested'), u32(9), u32(9), u64(2), u32(4), u64(1), u32(3), u32(4), u64(0)]),
    Buffer.concat([str('general.alignment'), u32(4), u32(64)]),
  ];
  const data = Buffer.alloc(64 + 16);
  data.writeFloatLE(3.5, 64);
  writeFileSync(path, gguf(2, kvs, [{ name: 'w', dims: [4], type: 0, offset: 64 }], data, 64));
  const file = GgufFile.open(path);
  assert.equal(file.version, 2);
  assert.equal(file.alignment, 64);
  assert.equal(file.dataOffset % 64, 0);
  assert.deepEqual(Object.fromEntries(file.metadata), {
    u8: 200,
    i8: -1,
    u16: 0x1234,
    i16: -2,
    u32: 4_000_000_000,
    i32: -7,
    f32: 1.5,
    bool: true,
    string: 'naïve',
    u64: 1n << 60n,
    i64: -5,
    f64: -2.25,
    strings: ['a b', ''],
    nested: [[3], []],
    'general.alignment': 64,
  });
  const info = file.tensors.get('w')!;
  assert.equal(info.offset, file.dataOffset + 64);
  assert.deepEqual([...dequantize('F32', file.read(info), 4)], [3.5, 0, 0, 0]);

  const metadata = new GgufMetadata(file.metadata, path);
  assert.equal(metadata.positiveInt('u32'), 4_000_000_000);
  assert.throws(() => metadata.positiveInt('i32'), /all\.gguf: metadata i32 must be a positive integer, got -7$/);
  assert.throws(() => metadata.string('missing'), /all\.gguf: missing metadata missing$/);
  assert.throws(() => metadata.strings('nested'), /metadata nested must be an array of strings, got an array of 2$/);
});

test('refuses a tensor whose row is not whole blocks, and one placed off the alignment', async () => {
  const dir = await tempDir('gguf-bad');
  const path = join(dir, 'bad.gguf');
  writeFileSync(path, gguf(3, [], [{ name: 'q', dims: [48, 2], type: 8, offset: 0 }], Buffer.alloc(256)));
  assert.throws(() => GgufFile.open(path), (e: Error) => e instanceof InputError && /tensor q of type Q8_0 has a row of 48 elements, not a multiple of its block of 32/.test(e.message));
  writeFileSync(path, gguf(3, [], [{ name: 'f', dims: [4], type: 0, offset: 8 }], Buffer.alloc(64)));
  assert.throws(() => GgufFile.open(path), /tensor f offset 8 is not a multiple of the alignment 32/);
});

test('Q8_0, Q4_0, Q4_1: values from the block layouts', () => {
  const q8 = Buffer.concat([half(0.5), Buffer.from(Int8Array.from({ length: 32 }, (_, j) => j * 8 - 128).buffer)]);
  assert.deepEqual([...dequantize('Q8_0', q8, 32)], Array.from({ length: 32 }, (_, j) => (j * 8 - 128) * 0.5));

  const nibbles = Buffer.from(Array.from({ length: 16 }, (_, j) => j | ((15 - j) << 4)));
  const low = Array.from({ length: 16 }, (_, j) => j);
  const high = Array.from({ length: 16 }, (_, j) => 15 - j);
  assert.deepEqual([...dequantize('Q4_0', Buffer.concat([half(2), nibbles]), 32)], [...low, ...high].map((q) => (q - 8) * 2));
  assert.deepEqual([...dequantize('Q4_1', Buffer.concat([half(0.25), half(-1), nibbles]), 32)], [...low, ...high].map((q) => q * 0.25 - 1));
});

test('Q4_K and Q5_K: 6-bit scales and mins packed in 12 bytes, fifth bits in qh', () => {
  // sub-blocks 0–3: scale = byte j & 63, min = byte j+4 & 63; 4–7: low nibble of byte j+4 plus the top bits of byte j−4 (scale) / j (min)
  const scales = Buffer.from([1 | (1 << 6), 2, 3, 4, 5 | (2 << 6), 6, 7, 8, 0x21, 0x43, 0x65, 0x87]);
  const expectedScale = [1, 2, 3, 4, 1 | (1 << 4), 3, 5, 7];
  const expectedMin = [5, 6, 7, 8, 2 | (2 << 4), 4, 6, 8];
  const qs = Buffer.from(Array.from({ length: 128 }, (_, i) => (i % 16) | ((15 - (i % 16)) << 4)));
  const q4k = dequantize('Q4_K', Buffer.concat([half(0.5), half(0.25), scales, qs]), 256);
  const qh = Buffer.from(Array.from({ length: 32 }, (_, l) => (l % 2 ? 0xff : 0)));
  const q5k = dequantize('Q5_K', Buffer.concat([half(0.5), half(0.25), scales, qh, qs]), 256);
  for (let sub = 0; sub < 8; sub++) {
    for (let l = 0; l < 32; l++) {
      const byte = qs[(sub >> 1) * 32 + l]!;
      const q = sub % 2 ? byte >> 4 : byte & 0xf;
      const at = sub * 32 + l;
      assert.equal(q4k[at], 0.5 * expectedScale[sub]! * q - 0.25 * expectedMin[sub]!, `Q4_K ${at}`);
      assert.equal(q5k[at], 0.5 * expectedScale[sub]! * (q + (l % 2 ? 16 : 0)) - 0.25 * expectedMin[sub]!, `Q5_K ${at}`);
    }
  }
});

test('Q6_K: 4 low bits in ql, 2 high bits in qh, int8 scale per 16 values, minus 32', () => {
  const ql = Buffer.from(Array.from({ length: 128 }, (_, i) => i & 0xff));
  const qh = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff));
  const sc = Buffer.from(Int8Array.from({ length: 16 }, (_, i) => i - 8).buffer);
  const values = dequantize('Q6_K', Buffer.concat([ql, qh, sc, half(0.125)]), 256);
  for (let n = 0; n < 2; n++) {
    for (let l = 0; l < 32; l++) {
      const lowA = ql[n * 64 + l]!;
      const lowB = ql[n * 64 + l + 32]!;
      const high = qh[n * 32 + l]!;
      const quads = [(lowA & 15) | ((high & 3) << 4), (lowB & 15) | (((high >> 2) & 3) << 4), (lowA >> 4) | (((high >> 4) & 3) << 4), (lowB >> 4) | (((high >> 6) & 3) << 4)];
      for (let k = 0; k < 4; k++) {
        const scale = n * 8 + (l >> 4) + 2 * k - 8;
        assert.equal(values[n * 128 + k * 32 + l], 0.125 * scale * (quads[k]! - 32));
      }
    }
  }
});

test("undoes llama.cpp's interleaving of q/k rows for arch llama, on float rows and on rows of blocks", () => {
  const heads = 2;
  const rows = 8;
  const hf = Float32Array.from({ length: rows * 3 }, (_, i) => i);
  const interleaved = rotateHalfToInterleaved(hf, [rows, 3], heads);
  assert.notDeepEqual(interleaved, hf);
  const back = rotateHalfRows(new Uint8Array(interleaved.buffer), rows, heads, 'x.gguf', 'attn_q');
  assert.deepEqual(new Float32Array(back.buffer), hf);
});

test('tokenizers: SentencePiece and unknown pre-tokenizers refused in one line naming the file', () => {
  const metadata = (entries: Record<string, GgufValue>) => new GgufMetadata(new Map(Object.entries(entries)), '/m/x.gguf');
  const vocabulary = { 'tokenizer.ggml.tokens': ['a', 'b'], 'tokenizer.ggml.merges': ['a b'] };
  assert.throws(() => ggufTokenizerFiles(metadata({ ...vocabulary, 'tokenizer.ggml.model': 'llama' })), /^InputError: \/m\/x\.gguf: SentencePiece vocabularies \(tokenizer\.ggml\.model "llama"\) are not supported/);
  assert.throws(() => ggufTokenizerFiles(metadata({ ...vocabulary, 'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.pre': 'chatglm-bpe' })), /\/m\/x\.gguf: tokenizer\.ggml\.pre "chatglm-bpe" is not supported \(supported: default, gpt-2/);
  const files = ggufTokenizerFiles(metadata({ ...vocabulary, 'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.pre': 'llama-bpe', 'tokenizer.ggml.bos_token_id': 1, 'tokenizer.ggml.add_bos_token': true }));
  assert.equal(files.config['bos_token'], 'b');
  assert.equal((files.tokenizer['model'] as Record<string, unknown>)['ignore_merges'], true);
});
