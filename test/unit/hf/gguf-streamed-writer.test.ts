/**
 * The reference GGUF writer's streamed tensors (`chunks`, used for benchmark models too large for memory): the
 * bytes of each tensor are the chunks made for it, in order, wherever the file puts it; a source that makes the
 * wrong number of bytes is refused instead of shifting every later tensor.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';
import { loadCheckpoint } from '../../../src/engine/hf/checkpoint.ts';
import { GgufFile } from '../../../src/engine/hf/gguf.ts';
import { type StreamedTensor, writeGguf } from '../../reference/gguf.ts';
import { tempDir } from './temp-dir.ts';

/** Two chunks per tensor whose bytes encode the tensor's name and their position, so any mix-up shows. */
function* namedChunks(tensor: StreamedTensor): Iterable<Uint8Array> {
  const elements = tensor.shape.reduce((n, d) => n * d, 1);
  const bytes = tensor.type === 'Q4_0' ? (elements / 32) * 18 : elements * 4;
  const first = Math.floor(bytes / 3);
  const seed = [...tensor.name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) & 0xff, 7);
  const fill = (length: number, from: number) => Uint8Array.from({ length }, (_, i) => (seed + from + i) & 0xff);
  yield fill(first, 0);
  yield fill(bytes - first, first);
}

test('streamed chunks land as each tensor’s bytes, in order', async () => {
  const dir = await tempDir('gguf-streamed');
  const checkpoint = await loadCheckpoint(await makeCheckpoint('qwen2', join(dir, 'qwen2')));
  const path = join(dir, 'streamed.gguf');
  await writeGguf(checkpoint, path, { type: 'Q4_0', chunks: namedChunks });
  const file = GgufFile.open(path);
  const q = file.tensors.get('blk.1.attn_q.weight')!;
  assert.equal(q.type?.name, 'Q4_0');
  const expected = Buffer.concat([...namedChunks({ name: q.name, shape: [...q.dims].reverse(), type: 'Q4_0' })]);
  assert.deepEqual(Buffer.from(file.read(q)), expected);
  const norm = file.tensors.get('blk.0.attn_norm.weight')!;
  assert.equal(norm.type?.name, 'F32');
  assert.deepEqual(Buffer.from(file.read(norm)), Buffer.concat([...namedChunks({ name: norm.name, shape: [...norm.dims].reverse(), type: 'F32' })]));
});

test('a chunk source making the wrong number of bytes is refused', async () => {
  const dir = await tempDir('gguf-streamed-short');
  const checkpoint = await loadCheckpoint(await makeCheckpoint('qwen2', join(dir, 'qwen2')));
  const short = function* (tensor: StreamedTensor): Iterable<Uint8Array> {
    yield new Uint8Array(tensor.shape.reduce((n, d) => n * d, 1) / 2);
  };
  await assert.rejects(writeGguf(checkpoint, join(dir, 'short.gguf'), { type: 'Q4_0', chunks: short }), /token_embd\.weight got \d+ bytes, expected \d+/);
});
