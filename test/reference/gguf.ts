/**
 * Writes a GGUF v3 file from a loaded checkpoint so llama.cpp can run the same weights as an independent
 * reference. Supports the llama-like families as llama.cpp names them: arch `llama` (Llama, Mistral,
 * SmolLM), `qwen2`, `qwen3`; the file itself is written by the product's GGUF writer (src/engine/hf/ggufWrite.ts).
 *
 * Details that matter for agreement with HF:
 * - dims are written innermost first, so an HF [out, in] matrix is GGUF (in, out) with the same bytes;
 * - arch `llama` applies RoPE to interleaved pairs while HF rotates halves, so q/k rows are permuted per
 *   head exactly as llama.cpp's converter does; qwen2/qwen3 use the rotate-half (NEOX) form: no permutation;
 * - a vocabulary smaller than vocab_size (padded embeddings) is completed with unused placeholder tokens,
 *   because llama.cpp requires one token per embedding row.
 */
import type { Checkpoint, ModelConfig } from '../../src/engine/hf/types.ts';
import { float32ToHalfBits } from '../../src/engine/hf/halfPrecision.ts';
import { type GgufValue, rotateHalfToInterleaved, writeGgufFile } from '../../src/engine/hf/ggufWrite.ts';

export { rotateHalfToInterleaved };

export type GgufArch = 'llama' | 'qwen2' | 'qwen3';
export type GgufTensorType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0';

const ALIGNMENT = 32;
const GGML_TYPE = { F32: 0, F16: 1, Q8_0: 8, Q4_0: 2 } as const;
/** general.file_type (llama_ftype) of a file whose matrices are all of one type */
const FILE_TYPE = { F32: 0, F16: 1, Q8_0: 7, Q4_0: 2 } as const;
const TOKEN_TYPE = { normal: 1, control: 3, unused: 5 } as const;

type MetaValue = GgufValue;

interface GgufTensor {
  name: string;
  /** HF shape (outermost first). */
  shape: number[];
  type: GgufTensorType;
  data: () => Float32Array;
  /** Bytes written as they are, under this GGML type id, instead of `data` encoded as `type`. */
  raw?: { typeId: number; bytes: Uint8Array };
}

export function ggufArch(config: ModelConfig): GgufArch {
  if (config.family !== 'llama') throw new Error(`GGUF reference: family ${config.family} is not supported (llama-like only)`);
  if (config.modelType === 'qwen2') return 'qwen2';
  if (config.modelType === 'qwen3') return 'qwen3';
  if (config.qkNorm || config.attentionBias) throw new Error(`GGUF reference: ${config.architecture} with q/k norm or attention bias needs arch qwen2/qwen3`);
  return 'llama';
}

export interface WriteGgufOptions {
  /** Matrices' storage type; norms and biases stay F32 as llama.cpp requires. Default F32. */
  type?: GgufTensorType;
  /** tokenizer.ggml.pre: llama.cpp's pre-tokenizer. Default 'default'. */
  pre?: string;
  /** token_embd.weight as these GGML blocks (any type llama.cpp reads, e.g. K-quants), to test a reader's dequantization. */
  embedding?: { typeId: number; bytes: Uint8Array };
  /**
   * Each tensor's encoded bytes as chunks made while the file is written, instead of the checkpoint's weights
   * (whose `get` then only needs the shape): models too large to hold in memory, written one chunk at a time.
   */
  chunks?: (tensor: StreamedTensor) => Iterable<Uint8Array>;
}

/** A tensor whose bytes a `chunks` source makes: its GGUF name, HF shape and storage type. */
export interface StreamedTensor {
  name: string;
  shape: number[];
  type: GgufTensorType;
}

export async function writeGguf(checkpoint: Checkpoint, path: string, options: WriteGgufOptions = {}): Promise<void> {
  const { config } = checkpoint;
  const arch = ggufArch(config);
  const metadata = new Map<string, MetaValue>([
    ['general.architecture', { type: 'string', value: arch }],
    ['general.name', { type: 'string', value: `prefer-reference-${config.modelType}` }],
    ['general.alignment', { type: 'u32', value: ALIGNMENT }],
    ['general.file_type', { type: 'u32', value: FILE_TYPE[options.type ?? 'F32'] }],
    [`${arch}.context_length`, { type: 'u32', value: config.maxPositions }],
    [`${arch}.embedding_length`, { type: 'u32', value: config.hiddenSize }],
    [`${arch}.block_count`, { type: 'u32', value: config.numLayers }],
    [`${arch}.feed_forward_length`, { type: 'u32', value: config.intermediateSize }],
    [`${arch}.attention.head_count`, { type: 'u32', value: config.numHeads }],
    [`${arch}.attention.head_count_kv`, { type: 'u32', value: config.numKvHeads }],
    [`${arch}.attention.key_length`, { type: 'u32', value: config.headDim }],
    [`${arch}.attention.value_length`, { type: 'u32', value: config.headDim }],
    [`${arch}.attention.layer_norm_rms_epsilon`, { type: 'f32', value: config.normEps }],
    [`${arch}.rope.freq_base`, { type: 'f32', value: config.ropeTheta }],
    [`${arch}.rope.dimension_count`, { type: 'u32', value: config.headDim }],
    [`${arch}.vocab_size`, { type: 'u32', value: config.vocabSize }],
    ...tokenizerMetadata(checkpoint, options.pre ?? 'default'),
  ]);
  const tensors = ggufTensors(checkpoint, arch, options.type ?? 'F32');
  const { embedding } = options;
  if (embedding) tensors.forEach((t) => t.name === 'token_embd.weight' && (t.raw = embedding));
  await writeFile(path, metadata, tensors, options.chunks);
}

function tokenizerMetadata(checkpoint: Checkpoint, pre: string): [string, MetaValue][] {
  const { tokenizer, config } = checkpoint;
  const tokens: string[] = [];
  const types: number[] = [];
  for (let id = 0; id < config.vocabSize; id++) {
    const text = id < tokenizer.vocabSize ? tokenizer.tokenText(id) : null;
    tokens.push(text ?? `<|placeholder_${id}|>`);
    types.push(text === null ? TOKEN_TYPE.unused : tokenizer.isSpecial(id) ? TOKEN_TYPE.control : TOKEN_TYPE.normal);
  }
  const entries: [string, MetaValue][] = [
    ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'string', value: pre }],
    ['tokenizer.ggml.tokens', { type: 'strings', value: tokens }],
    ['tokenizer.ggml.token_type', { type: 'i32s', value: types }],
    ['tokenizer.ggml.merges', { type: 'strings', value: bpeMerges(checkpoint) }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: false }],
  ];
  const eos = checkpoint.generation.eosTokenIds?.[0] ?? tokenizer.eosTokenIds[0];
  if (eos !== undefined) entries.push(['tokenizer.ggml.eos_token_id', { type: 'u32', value: eos }]);
  if (tokenizer.bosTokenId !== null) entries.push(['tokenizer.ggml.bos_token_id', { type: 'u32', value: tokenizer.bosTokenId }]);
  if (tokenizer.padTokenId !== null) entries.push(['tokenizer.ggml.padding_token_id', { type: 'u32', value: tokenizer.padTokenId }]);
  return entries;
}

/** llama.cpp's BPE vocabulary wants the merges as "left right" strings. */
function bpeMerges(checkpoint: Checkpoint): string[] {
  const merges = checkpoint.tokenizer.bpeMerges();
  if (merges === null) throw new Error(`${checkpoint.dir}: GGUF reference needs a BPE tokenizer`);
  return merges.map(([left, right]) => `${left} ${right}`);
}

function ggufTensors(checkpoint: Checkpoint, arch: GgufArch, matrixType: GgufTensorType): GgufTensor[] {
  const { config, weights } = checkpoint;
  const tensors: GgufTensor[] = [];
  const add = (ggufName: string, hfName: string, kind: 'matrix' | 'vector', transform?: (w: Float32Array, shape: number[]) => Float32Array): void => {
    if (!weights.has(hfName)) throw new Error(`${checkpoint.dir}: missing tensor ${hfName}`);
    const shape = weights.get(hfName).shape;
    tensors.push({
      name: ggufName,
      shape,
      type: kind === 'matrix' ? matrixType : 'F32',
      data: () => {
        const data = weights.get(hfName).data;
        return transform ? transform(data, shape) : data;
      },
    });
  };
  const permuteQ = arch === 'llama' ? (w: Float32Array, s: number[]) => rotateHalfToInterleaved(w, s, config.numHeads) : undefined;
  const permuteK = arch === 'llama' ? (w: Float32Array, s: number[]) => rotateHalfToInterleaved(w, s, config.numKvHeads) : undefined;

  add('token_embd.weight', 'model.embed_tokens.weight', 'matrix');
  for (let l = 0; l < config.numLayers; l++) {
    const hf = `model.layers.${l}`;
    const gg = `blk.${l}`;
    add(`${gg}.attn_norm.weight`, `${hf}.input_layernorm.weight`, 'vector');
    add(`${gg}.attn_q.weight`, `${hf}.self_attn.q_proj.weight`, 'matrix', permuteQ);
    add(`${gg}.attn_k.weight`, `${hf}.self_attn.k_proj.weight`, 'matrix', permuteK);
    add(`${gg}.attn_v.weight`, `${hf}.self_attn.v_proj.weight`, 'matrix');
    if (config.attentionBias) {
      add(`${gg}.attn_q.bias`, `${hf}.self_attn.q_proj.bias`, 'vector', permuteQ);
      add(`${gg}.attn_k.bias`, `${hf}.self_attn.k_proj.bias`, 'vector', permuteK);
      add(`${gg}.attn_v.bias`, `${hf}.self_attn.v_proj.bias`, 'vector');
    }
    if (config.qkNorm) {
      add(`${gg}.attn_q_norm.weight`, `${hf}.self_attn.q_norm.weight`, 'vector');
      add(`${gg}.attn_k_norm.weight`, `${hf}.self_attn.k_norm.weight`, 'vector');
    }
    add(`${gg}.attn_output.weight`, `${hf}.self_attn.o_proj.weight`, 'matrix');
    add(`${gg}.ffn_norm.weight`, `${hf}.post_attention_layernorm.weight`, 'vector');
    add(`${gg}.ffn_gate.weight`, `${hf}.mlp.gate_proj.weight`, 'matrix');
    add(`${gg}.ffn_up.weight`, `${hf}.mlp.up_proj.weight`, 'matrix');
    add(`${gg}.ffn_down.weight`, `${hf}.mlp.down_proj.weight`, 'matrix');
  }
  add('output_norm.weight', 'model.norm.weight', 'vector');
  // Tied embeddings: llama.cpp falls back to token_embd when output.weight is absent.
  if (!config.tieWordEmbeddings) add('output.weight', 'lm_head.weight', 'matrix');
  return tensors;
}

async function writeFile(path: string, metadata: Map<string, MetaValue>, tensors: GgufTensor[], chunks?: (tensor: StreamedTensor) => Iterable<Uint8Array>): Promise<void> {
  const toWrite = tensors.map((tensor) => ({
    name: tensor.name,
    shape: tensor.shape,
    typeId: tensor.raw?.typeId ?? GGML_TYPE[tensor.type],
    byteLength: tensor.raw?.bytes.byteLength ?? storedBytes(tensor.shape.reduce((n, d) => n * d, 1), tensor.type),
    chunks: () => (tensor.raw ? [tensor.raw.bytes] : chunks ? chunks(tensor) : [encode(tensor.data(), tensor.type)]),
  }));
  await writeGgufFile(path, metadata, toWrite, ALIGNMENT);
}

function encode(data: Float32Array, type: GgufTensorType): Uint8Array {
  if (type === 'F32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (type === 'Q8_0') return quantizeQ8_0(data);
  if (type === 'Q4_0') return quantizeQ4_0(data);
  const half = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) half[i] = float32ToHalfBits(data[i] as number);
  return new Uint8Array(half.buffer);
}

function storedBytes(elements: number, type: GgufTensorType): number {
  if (type === 'Q8_0') return (elements / 32) * 34;
  if (type === 'Q4_0') return (elements / 32) * 18;
  return elements * (type === 'F32' ? 4 : 2);
}

/** llama.cpp's quantize_row_q8_0_ref: per block of 32, d = max|x| / 127 as f16, q = round(x / d). */
export function quantizeQ8_0(data: Float32Array): Uint8Array {
  const out = new Uint8Array((data.length / 32) * 34);
  const view = new DataView(out.buffer);
  for (let b = 0; b < data.length / 32; b++) {
    const block = data.subarray(b * 32, b * 32 + 32);
    const amax = block.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    view.setUint16(b * 34, float32ToHalfBits(d), true);
    // roundf: halves away from zero
    for (let j = 0; j < 32; j++) view.setInt8(b * 34 + 2 + j, Math.sign(block[j]! * id) * Math.round(Math.abs(Math.fround(block[j]! * id))));
  }
  return out;
}

/** llama.cpp's quantize_row_q4_0_ref: d = (the value of largest magnitude) / −8 as f16, q = min(15, trunc(x / d + 8.5)); values j and j+16 share byte j. */
export function quantizeQ4_0(data: Float32Array): Uint8Array {
  const out = new Uint8Array((data.length / 32) * 18);
  const view = new DataView(out.buffer);
  for (let b = 0; b < data.length / 32; b++) {
    const block = data.subarray(b * 32, b * 32 + 32);
    const max = block.reduce((m, x) => (Math.abs(x) > Math.abs(m) ? x : m), 0);
    const d = Math.fround(max / -8);
    const id = d ? Math.fround(1 / d) : 0;
    view.setUint16(b * 18, float32ToHalfBits(d), true);
    const q = (x: number) => Math.min(15, Math.trunc(Math.fround(Math.fround(x * id) + 8.5)));
    for (let j = 0; j < 16; j++) out[b * 18 + 2 + j] = q(block[j]!) | (q(block[j + 16]!) << 4);
  }
  return out;
}
