/**
 * Real model shapes for the sampling benchmark, as GGUF files of random weights written tensor by tensor (a 1.5B
 * model in F32 is 6 GB, a 7B one in Q4_0 4 GB: neither is ever whole in memory). Quantized tensors are random
 * blocks (codes and one f16 scale per tensor), so Prefer (repacking Q8_0/Q4_0 blocks) and llama.cpp run the
 * very same weights from the very same file. The tokenizer is the fixtures' small BPE, padded with unused
 * placeholders to the shape's vocabulary.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { makeCheckpoint } from '../scripts/fixtures/make-checkpoints.ts';
import { loadCheckpoint } from '../src/engine/hf/checkpoint.ts';
import { llamaConfig } from '../src/engine/models/random.ts';
import { float32ToHalfBits } from '../src/engine/hf/halfPrecision.ts';
import type { Checkpoint, ModelConfig, Weight, WeightSource } from '../src/engine/hf/types.ts';
import { writeGguf, type GgufTensorType, type StreamedTensor } from '../test/reference/gguf.ts';
import type { LlamaShape } from '../scripts/fixtures/make-checkpoints.ts';

/** Sizes of a real model: the fixtures' llama shape, the bias and q/k norms following from the family. */
export type ModelShape = Omit<LlamaShape, 'qkvBias' | 'qkNorm'>;

/** Qwen2.5-Coder shapes (q/k/v bias, rope θ 1e6); the family llama.cpp calls qwen2. */
export const QWEN_SHAPES = {
  'qwen2.5-0.5b': { hidden: 896, layers: 24, heads: 14, kvHeads: 2, headDim: 64, intermediate: 4864, vocab: 151936, tied: true },
  'qwen2.5-1.5b': { hidden: 1536, layers: 28, heads: 12, kvHeads: 2, headDim: 128, intermediate: 8960, vocab: 151936, tied: true },
  'qwen2.5-7b': { hidden: 3584, layers: 28, heads: 28, kvHeads: 4, headDim: 128, intermediate: 18944, vocab: 152064, tied: false },
} as const satisfies Record<string, ModelShape>;
export type QwenShapeName = keyof typeof QWEN_SHAPES;

/** Bytes per chunk written: bounds the writer's memory whatever the tensor's size. */
const CHUNK_BYTES = 32 << 20;

/**
 * The GGUF (written once into `dir`, reused after) of random weights in this shape with matrices stored as
 * `type`; returns its path.
 */
export async function randomShapeGguf(name: QwenShapeName, type: GgufTensorType, dir: string): Promise<string> {
  const path = join(dir, `${name}-${type.toLowerCase()}.gguf`);
  if (existsSync(path)) return path;
  await mkdir(dir, { recursive: true });
  const tokenizerDir = join(dir, 'tokenizer-qwen2');
  if (!existsSync(join(tokenizerDir, 'config.json'))) await makeCheckpoint('qwen2', tokenizerDir);
  const tokenizerSource = await loadCheckpoint(tokenizerDir);
  const config = shapeConfig(tokenizerSource.config, QWEN_SHAPES[name]);
  const checkpoint: Checkpoint = { ...tokenizerSource, config, weights: shapesOnly(config) };
  const partial = `${path}.${process.pid}.partial`;
  try {
    await writeGguf(checkpoint, partial, { type, chunks: randomChunks });
    await rename(partial, path);
  } finally {
    await rm(partial, { force: true });
  }
  return path;
}

/** A shape's config on its own (no tokenizer, no file): what the training benchmark builds its graph from. */
export function shapeModelConfig(name: QwenShapeName): ModelConfig {
  return shapeConfig(llamaConfig({ architecture: 'Qwen2ForCausalLM', modelType: 'qwen2' }), QWEN_SHAPES[name]);
}

function shapeConfig(base: ModelConfig, s: ModelShape): ModelConfig {
  return {
    ...base,
    vocabSize: s.vocab,
    hiddenSize: s.hidden,
    numLayers: s.layers,
    numHeads: s.heads,
    numKvHeads: s.kvHeads,
    headDim: s.headDim,
    intermediateSize: s.intermediate,
    maxPositions: 32768,
    ropeTheta: 1e6,
    tieWordEmbeddings: s.tied,
    attentionBias: true,
    qkNorm: false,
  };
}

/** The HF tensors of a qwen2 model of this config, by shape only: their bytes come from randomChunks. */
function shapesOnly(c: ModelConfig): WeightSource {
  const C = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const shapes = new Map<string, number[]>([['model.embed_tokens.weight', [c.vocabSize, C]], ['model.norm.weight', [C]]]);
  if (!c.tieWordEmbeddings) shapes.set('lm_head.weight', [c.vocabSize, C]);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}`;
    for (const [n, shape] of [
      ['input_layernorm.weight', [C]],
      ['post_attention_layernorm.weight', [C]],
      ['self_attn.q_proj.weight', [q, C]],
      ['self_attn.k_proj.weight', [kv, C]],
      ['self_attn.v_proj.weight', [kv, C]],
      ['self_attn.q_proj.bias', [q]],
      ['self_attn.k_proj.bias', [kv]],
      ['self_attn.v_proj.bias', [kv]],
      ['self_attn.o_proj.weight', [C, q]],
      ['mlp.gate_proj.weight', [c.intermediateSize, C]],
      ['mlp.up_proj.weight', [c.intermediateSize, C]],
      ['mlp.down_proj.weight', [C, c.intermediateSize]],
    ] as const) {
      shapes.set(`${p}.${n}`, [...shape]);
    }
  }
  const shapeOf = (name: string): number[] => {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`random shape: no tensor ${name}`);
    return shape;
  };
  return {
    names: () => [...shapes.keys()],
    has: (name: string) => shapes.has(name),
    get: (name: string): Weight => ({
      name,
      shape: shapeOf(name),
      storedDtype: 'F32',
      get data(): Float32Array {
        throw new Error(`random shape: ${name} is written from random chunks, never materialized`);
      },
    }),
  };
}

/** xorshift32: fast, seeded, good enough for weights nobody reads. */
function fillRandom(words: Uint32Array, seed: number): number {
  let x = seed || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return x;
}

/**
 * Encoded random bytes of a tensor: norms 1, biases and matrices uniform with std 1/√in (activations stay O(1)).
 * Q8_0 / Q4_0 blocks: random codes under one f16 scale giving that std.
 */
function* randomChunks(tensor: StreamedTensor): Iterable<Uint8Array> {
  const elements = tensor.shape.reduce((n, d) => n * d, 1);
  if (tensor.name.endsWith('norm.weight')) {
    yield new Uint8Array(new Float32Array(elements).fill(1).buffer);
    return;
  }
  const fanIn = tensor.shape.length === 2 ? tensor.shape[1]! : tensor.shape[0]!;
  const std = 1 / Math.sqrt(fanIn);
  let seed = [...tensor.name].reduce((h, ch) => (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0, 2166136261);
  if (tensor.type === 'F32' || tensor.type === 'F16') {
    if (tensor.type === 'F16') throw new Error('random shape: F16 is not generated');
    const per = CHUNK_BYTES / 4;
    for (let start = 0; start < elements; start += per) {
      const n = Math.min(per, elements - start);
      const words = new Uint32Array(n);
      seed = fillRandom(words, seed);
      const values = new Float32Array(n);
      // uniform on [−√3·std, √3·std]
      const scale = (2 * Math.sqrt(3) * std) / 2 ** 32;
      const offset = Math.sqrt(3) * std;
      for (let i = 0; i < n; i++) values[i] = words[i]! * scale - offset;
      yield new Uint8Array(values.buffer);
    }
    return;
  }
  const blockBytes = tensor.type === 'Q8_0' ? 34 : 18;
  // uniform codes: int8 on [−128, 127] has std ≈ 73.9, Q4_0's (q − 8) on [−8, 7] std ≈ 4.61
  const scaleBits = float32ToHalfBits(std / (tensor.type === 'Q8_0' ? 73.9 : 4.61));
  const blocksPerChunk = Math.floor(CHUNK_BYTES / blockBytes);
  const blocks = elements / 32;
  for (let start = 0; start < blocks; start += blocksPerChunk) {
    const n = Math.min(blocksPerChunk, blocks - start);
    const words = new Uint32Array(Math.ceil((n * blockBytes) / 4));
    seed = fillRandom(words, seed);
    const bytes = new Uint8Array(words.buffer, 0, n * blockBytes);
    for (let b = 0; b < n; b++) {
      bytes[b * blockBytes] = scaleBits & 0xff;
      bytes[b * blockBytes + 1] = scaleBits >> 8;
    }
    yield bytes;
  }
}
