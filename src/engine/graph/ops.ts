/**
 * Op builders: one function per op, each computing its output dtype and shape (numpy broadcasting) and
 * rejecting bad inputs with a message naming the op. These are ALL the ops the model families emit; an
 * autodiff rule is needed for each one on a path from trainable values to the loss.
 *
 * Standard ONNX (opset 21):
 *   elementwise  Add Sub Mul Div Neg Sqrt Exp Log Tanh Sigmoid Pow Where Cast Identity
 *   linear       MatMul, Gemm (2-D, transB=1 only: the LM head against the [vocab, hidden] embedding)
 *   reductions   ReduceSum ReduceMean ReduceMax (axes always non-empty, as an int64 input)
 *   softmax      Softmax LogSoftmax (axis −1)
 *   layout       Reshape Transpose Concat Slice Gather GatherElements Unsqueeze Squeeze Expand
 * Prefer composites (domain ai.prefer; lower.ts expands them, autodiff may give them their own rules):
 *   RmsNorm(x, weight; epsilon)            x / sqrt(mean(x², −1) + ε) · weight
 *   LayerNorm(x, weight, bias; epsilon)    (x − mean) / sqrt(var + ε) · weight + bias
 *   Rotary(x, cos, sin)                    rotate-half RoPE: [x1·cos − x2·sin, x2·cos + x1·sin] on the last axis
 *   GeluTanh(x)                            0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
 *   TokenLogProbs(logits, targets)         log_softmax(logits)[…, target]: drops the vocabulary axis
 *   HeadTokenLogProbs(hidden, head, targets; chunks)
 *                                          TokenLogProbs(hidden·headᵀ, targets), `chunks` row blocks at a time:
 *                                          training never holds all [rows, vocab] logits at once
 *   MatMulBlocks(x, packed, scales; K, N, bits, block_size)
 *                                          x·Wᵀ for a block-quantized W (inference: MatMulNBits)
 *   DequantizeBlocks(packed, scales; K, bits, block_size)
 *                                          the float W [N, K] itself (training: a frozen base layer at a time)
 *   GatherBlocks(packed, scales, indices; K, bits, block_size)
 *                                          rows of a block-quantized W as floats (the token embedding of an
 *                                          int8/int4 inference graph: GatherBlockQuantized)
 * Lowering with { fused: true } (float32 CPU inference graphs only, never differentiated) also emits
 * SimplifiedLayerNormalization, LayerNormalization, Gelu and com.microsoft RotaryEmbedding.
 */
import { type Attribute, type DType, type Dim, type Node, type Shape, type Value, PREFER_DOMAIN, attr, isFloat } from './ir.ts';

function fail(op: string, message: string): never {
  throw new Error(`${op}: ${message}`);
}

function fmt(v: Value): string {
  return `${v.name} ${v.dtype}[${v.shape.join(', ')}]`;
}

function sameGraph(op: string, values: readonly Value[]): void {
  const g = values[0]!.graph;
  for (const v of values) if (v.graph !== g) fail(op, `${v.name} belongs to another graph`);
}

function sameDtype(op: string, values: readonly Value[]): DType {
  const dtype = values[0]!.dtype;
  for (const v of values) if (v.dtype !== dtype) fail(op, `dtype mismatch: ${values.map(fmt).join(' vs ')}`);
  return dtype;
}

function requireFloat(op: string, v: Value): void {
  if (!isFloat(v.dtype)) fail(op, `${fmt(v)} must be a float tensor`);
}

function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(op, `axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** numpy broadcasting over static and symbolic dims. */
export function broadcastShapes(op: string, ...shapes: Shape[]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const e = s[s.length - rank + i] ?? 1;
      if (e === 1) continue;
      if (d === 1) d = e;
      else if (d !== e) fail(op, `cannot broadcast [${shapes.map((x) => x.join(', ')).join('] with [')}]`);
    }
    out.push(d);
  }
  return out;
}

function elementwise(op: string, a: Value, b: Value): Value {
  sameGraph(op, [a, b]);
  const dtype = sameDtype(op, [a, b]);
  return a.graph.addNode(op, [a, b], [{ dtype, shape: broadcastShapes(op, a.shape, b.shape) }])[0]!;
}

/** A number operand becomes a scalar constant of the other operand's dtype. */
function operand(a: Value, b: Value | number): Value {
  return typeof b === 'number' ? a.graph.scalar(b, a.dtype) : b;
}

export const add = (a: Value, b: Value | number) => elementwise('Add', a, operand(a, b));
export const sub = (a: Value, b: Value | number) => elementwise('Sub', a, operand(a, b));
export const mul = (a: Value, b: Value | number) => elementwise('Mul', a, operand(a, b));
export const div = (a: Value, b: Value | number) => elementwise('Div', a, operand(a, b));
export const pow = (a: Value, b: Value | number) => elementwise('Pow', a, operand(a, b));

function unary(op: string, x: Value, float = true): Value {
  if (float) requireFloat(op, x);
  return x.graph.addNode(op, [x], [{ dtype: x.dtype, shape: x.shape }])[0]!;
}

export const neg = (x: Value) => unary('Neg', x, false);
export const sqrt = (x: Value) => unary('Sqrt', x);
export const exp = (x: Value) => unary('Exp', x);
export const log = (x: Value) => unary('Log', x);
export const tanh = (x: Value) => unary('Tanh', x);
export const sigmoid = (x: Value) => unary('Sigmoid', x);
export const identity = (x: Value) => unary('Identity', x, false);

export function where(condition: Value, a: Value, b: Value): Value {
  sameGraph('Where', [condition, a, b]);
  if (condition.dtype !== 'bool') fail('Where', `condition ${fmt(condition)} must be bool`);
  const dtype = sameDtype('Where', [a, b]);
  const shape = broadcastShapes('Where', condition.shape, a.shape, b.shape);
  return a.graph.addNode('Where', [condition, a, b], [{ dtype, shape }])[0]!;
}

const ONNX_DTYPE_CODE: Record<DType, number> = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11 };

export function cast(x: Value, to: DType): Value {
  if (x.dtype === to) return x;
  return x.graph.addNode('Cast', [x], [{ dtype: to, shape: x.shape }], { to: attr.int(ONNX_DTYPE_CODE[to]) })[0]!;
}

/** numpy matmul: [..., m, k] × [..., k, n] with broadcast batch dims (1-D operands are not used by the families). */
export function matmul(a: Value, b: Value): Value {
  sameGraph('MatMul', [a, b]);
  const dtype = sameDtype('MatMul', [a, b]);
  requireFloat('MatMul', a);
  if (a.rank < 2 || b.rank < 2) fail('MatMul', `operands must have rank >= 2: ${fmt(a)}, ${fmt(b)}`);
  const k1 = a.shape[a.rank - 1]!;
  const k2 = b.shape[b.rank - 2]!;
  if (k1 !== k2) fail('MatMul', `inner dimensions differ: ${fmt(a)} × ${fmt(b)}`);
  const batch = broadcastShapes('MatMul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, a.shape[a.rank - 2]!, b.shape[b.rank - 1]!];
  return a.graph.addNode('MatMul', [a, b], [{ dtype, shape }])[0]!;
}

/** a [m, k] × bᵀ where b is [n, k]: the tied LM head reads the embedding table without a transposed copy. */
export function gemmTransB(a: Value, b: Value): Value {
  sameGraph('Gemm', [a, b]);
  const dtype = sameDtype('Gemm', [a, b]);
  requireFloat('Gemm', a);
  if (a.rank !== 2 || b.rank !== 2) fail('Gemm', `operands must be 2-D: ${fmt(a)}, ${fmt(b)}`);
  if (a.shape[1] !== b.shape[1]) fail('Gemm', `inner dimensions differ: ${fmt(a)} × ${fmt(b)}ᵀ`);
  return a.graph.addNode('Gemm', [a, b], [{ dtype, shape: [a.shape[0]!, b.shape[0]!] }], { transB: attr.int(1) })[0]!;
}

function reduce(op: string, x: Value, axes: number[], keepdims: boolean): Value {
  if (axes.length === 0) fail(op, 'axes must not be empty (empty axes would mean all or none, depending on a flag)');
  const norm = [...new Set(axes.map((a) => normAxis(op, a, x.rank)))].sort((p, q) => p - q);
  const shape = keepdims ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
  return x.graph.addNode(op, [x, x.graph.int64s(norm)], [{ dtype: x.dtype, shape }], { keepdims: attr.int(keepdims ? 1 : 0) })[0]!;
}

export const reduceSum = (x: Value, axes: number[], keepdims = true) => reduce('ReduceSum', x, axes, keepdims);
export const reduceMean = (x: Value, axes: number[], keepdims = true) => reduce('ReduceMean', x, axes, keepdims);
export const reduceMax = (x: Value, axes: number[], keepdims = true) => reduce('ReduceMax', x, axes, keepdims);

export function softmax(x: Value, axis = -1): Value {
  requireFloat('Softmax', x);
  return x.graph.addNode('Softmax', [x], [{ dtype: x.dtype, shape: x.shape }], { axis: attr.int(normAxis('Softmax', axis, x.rank)) })[0]!;
}

export function logSoftmax(x: Value, axis = -1): Value {
  requireFloat('LogSoftmax', x);
  return x.graph.addNode('LogSoftmax', [x], [{ dtype: x.dtype, shape: x.shape }], { axis: attr.int(normAxis('LogSoftmax', axis, x.rank)) })[0]!;
}

/**
 * Reshape with ONNX semantics: 0 copies the input's dim at that index, −1 is inferred. A symbolic input dim
 * can only pass through as 0 or as the −1 of a reshape that keeps every other factor static.
 */
export function reshape(x: Value, target: readonly number[]): Value {
  const out: Dim[] = target.map((d, i) => {
    if (d === 0) {
      const e = x.shape[i];
      if (e === undefined) fail('Reshape', `0 at index ${i} but ${fmt(x)} has rank ${x.rank}`);
      return e;
    }
    if (d < -1) fail('Reshape', `bad target dim ${d}`);
    return d;
  });
  const inferAt = target.indexOf(-1);
  if (target.lastIndexOf(-1) !== inferAt) fail('Reshape', 'at most one -1');
  const known = (s: readonly Dim[]) => s.filter((d): d is number => typeof d === 'number' && d !== -1).reduce((p, q) => p * q, 1);
  const symIn = x.shape.filter((d) => typeof d === 'string');
  const symOut = out.filter((d) => typeof d === 'string');
  if (inferAt >= 0) {
    const leftover = symIn.filter((sym) => !symOut.includes(sym));
    if (leftover.length > 1) fail('Reshape', `cannot infer -1 from symbolic dims of ${fmt(x)}`);
    const ratio = known(x.shape) / known(out);
    if (leftover.length === 1) {
      const scaled = scaleSymbol(leftover[0] as string, ratio);
      if (scaled === null) fail('Reshape', `cannot infer -1 for ${fmt(x)} → [${target.join(', ')}]`);
      out[inferAt] = scaled;
    } else {
      if (!Number.isInteger(ratio)) fail('Reshape', `${fmt(x)} cannot be reshaped to [${target.join(', ')}]`);
      out[inferAt] = ratio;
    }
  } else if (symIn.length === 0 && known(x.shape) !== known(out)) {
    fail('Reshape', `${fmt(x)} has ${known(x.shape)} elements, target [${target.join(', ')}] has ${known(out)}`);
  }
  return x.graph.addNode('Reshape', [x, x.graph.int64s(target)], [{ dtype: x.dtype, shape: out }])[0]!;
}

export function transpose(x: Value, perm: readonly number[]): Value {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    fail('Transpose', `perm [${perm.join(', ')}] is not a permutation of rank ${x.rank}`);
  }
  return x.graph.addNode('Transpose', [x], [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]!) }], { perm: attr.ints([...perm]) })[0]!;
}

/** A symbolic dim times a factor: "seq"·3 = "3*seq", "3*seq"·⅓ = "seq"; null when not a whole multiple. */
export function scaleSymbol(sym: string, factor: number): string | null {
  const m = /^(\d+)\*(.+)$/.exec(sym);
  const k = (m ? Number(m[1]) : 1) * factor;
  const name = m ? m[2]! : sym;
  if (!Number.isInteger(k) || k < 1) return null;
  return k === 1 ? name : `${k}*${name}`;
}

/** Sum of dims along the concat axis; symbolic parts make a symbolic sum like "past+1", equal ones a multiple. */
function addDims(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (typeof a === 'string' && typeof b === 'string') {
    const base = /^(\d+)\*(.+)$/.exec(a);
    if (a === b) return scaleSymbol(a, 2)!;
    if (base && base[2] === b) return `${Number(base[1]) + 1}*${b}`;
  }
  return `${a}+${b}`;
}

export function concat(xs: readonly Value[], axis: number): Value {
  if (xs.length === 0) fail('Concat', 'no inputs');
  sameGraph('Concat', xs);
  const dtype = sameDtype('Concat', xs);
  const first = xs[0]!;
  const a = normAxis('Concat', axis, first.rank);
  for (const x of xs) {
    if (x.rank !== first.rank || x.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      fail('Concat', `shapes differ off axis ${axis}: ${xs.map(fmt).join(', ')}`);
    }
  }
  const shape = [...first.shape];
  shape[a] = xs.slice(1).reduce<Dim>((s, x) => addDims(s, x.shape[a]!), first.shape[a]!);
  return first.graph.addNode('Concat', xs, [{ dtype, shape }], { axis: attr.int(a) })[0]!;
}

/** Slice with static starts/ends (clamped like ONNX; ends may be large to mean "to the end"). */
export function slice(x: Value, starts: number[], ends: number[], axes: number[], steps?: number[]): Value {
  if (starts.length !== ends.length || starts.length !== axes.length) fail('Slice', 'starts, ends and axes differ in length');
  const shape = [...x.shape];
  axes.forEach((ax, i) => {
    const a = normAxis('Slice', ax, x.rank);
    const d = x.shape[a]!;
    const step = steps?.[i] ?? 1;
    if (step !== 1) fail('Slice', 'only step 1 is supported');
    if (typeof d === 'string') {
      const toEnd = ends[i]! >= Number.MAX_SAFE_INTEGER;
      if (toEnd && starts[i] === 0) return;
      // the last k positions of a run-time length: a static size
      if (toEnd && starts[i]! < 0) shape[a] = -starts[i]!;
      else fail('Slice', `cannot slice symbolic dim ${d} statically`);
      return;
    }
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    shape[a] = Math.max(0, clamp(ends[i]!) - clamp(starts[i]!));
  });
  const g = x.graph;
  return g.addNode('Slice', [x, g.int64s(starts), g.int64s(ends), g.int64s(axes)], [{ dtype: x.dtype, shape }])[0]!;
}

/** Gather along `axis` with integer indices: output = data.shape[:axis] + indices.shape + data.shape[axis+1:]. */
export function gather(data: Value, indices: Value, axis = 0): Value {
  sameGraph('Gather', [data, indices]);
  if (indices.dtype !== 'int64' && indices.dtype !== 'int32') fail('Gather', `indices ${fmt(indices)} must be int64 or int32`);
  const a = normAxis('Gather', axis, data.rank);
  const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
  return data.graph.addNode('Gather', [data, indices], [{ dtype: data.dtype, shape }], { axis: attr.int(a) })[0]!;
}

export function gatherElements(data: Value, indices: Value, axis: number): Value {
  sameGraph('GatherElements', [data, indices]);
  if (indices.dtype !== 'int64') fail('GatherElements', `indices ${fmt(indices)} must be int64`);
  if (indices.rank !== data.rank) fail('GatherElements', `ranks differ: ${fmt(data)}, ${fmt(indices)}`);
  const a = normAxis('GatherElements', axis, data.rank);
  return data.graph.addNode('GatherElements', [data, indices], [{ dtype: data.dtype, shape: indices.shape }], { axis: attr.int(a) })[0]!;
}

export function unsqueeze(x: Value, axes: number[]): Value {
  const rank = x.rank + axes.length;
  const norm = axes.map((a) => normAxis('Unsqueeze', a, rank)).sort((p, q) => p - q);
  const shape: Dim[] = [];
  let src = 0;
  for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.shape[src++]!);
  return x.graph.addNode('Unsqueeze', [x, x.graph.int64s(norm)], [{ dtype: x.dtype, shape }])[0]!;
}

export function squeeze(x: Value, axes: number[]): Value {
  if (axes.length === 0) fail('Squeeze', 'axes must be explicit');
  const norm = axes.map((a) => normAxis('Squeeze', a, x.rank));
  for (const a of norm) if (x.shape[a] !== 1) fail('Squeeze', `axis ${a} of ${fmt(x)} is not 1`);
  return x.graph.addNode('Squeeze', [x, x.graph.int64s(norm)], [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !norm.includes(i)) }])[0]!;
}

export function expand(x: Value, shape: readonly number[]): Value {
  const out = broadcastShapes('Expand', x.shape, shape);
  return x.graph.addNode('Expand', [x, x.graph.int64s(shape)], [{ dtype: x.dtype, shape: out }])[0]!;
}

// ── Prefer composites ────────────────────────────────────────────────────────────────────────────────────

export function rmsNorm(x: Value, weight: Value, epsilon: number): Value {
  requireFloat('RmsNorm', x);
  sameDtype('RmsNorm', [x, weight]);
  if (weight.rank !== 1 || weight.shape[0] !== x.shape[x.rank - 1]) fail('RmsNorm', `weight ${fmt(weight)} does not match ${fmt(x)}`);
  return x.graph.addNode('RmsNorm', [x, weight], [{ dtype: x.dtype, shape: x.shape }], { epsilon: attr.float(epsilon) }, PREFER_DOMAIN)[0]!;
}

export function layerNorm(x: Value, weight: Value, bias: Value, epsilon: number): Value {
  requireFloat('LayerNorm', x);
  sameDtype('LayerNorm', [x, weight, bias]);
  const d = x.shape[x.rank - 1];
  if (weight.rank !== 1 || weight.shape[0] !== d || bias.rank !== 1 || bias.shape[0] !== d) {
    fail('LayerNorm', `weight ${fmt(weight)} / bias ${fmt(bias)} do not match ${fmt(x)}`);
  }
  return x.graph.addNode('LayerNorm', [x, weight, bias], [{ dtype: x.dtype, shape: x.shape }], { epsilon: attr.float(epsilon) }, PREFER_DOMAIN)[0]!;
}

/** x: [..., T, D]; cos/sin: broadcastable to [..., T, D/2]. */
export function rotary(x: Value, cos: Value, sin: Value): Value {
  requireFloat('Rotary', x);
  sameDtype('Rotary', [x, cos, sin]);
  const d = x.shape[x.rank - 1];
  if (typeof d !== 'number' || d % 2 !== 0) fail('Rotary', `last dim of ${fmt(x)} must be even and static`);
  const half = [...x.shape.slice(0, -1), d / 2];
  broadcastShapes('Rotary', half, cos.shape);
  broadcastShapes('Rotary', half, sin.shape);
  return x.graph.addNode('Rotary', [x, cos, sin], [{ dtype: x.dtype, shape: x.shape }], {}, PREFER_DOMAIN)[0]!;
}

/** GeluTanh's constants, √(2/π) and the cubic term's 0.044715: its lowering and its gradient rule read them here. */
export const GELU_K = Math.sqrt(2 / Math.PI);
export const GELU_C = 0.044715;

export function geluTanh(x: Value): Value {
  requireFloat('GeluTanh', x);
  return x.graph.addNode('GeluTanh', [x], [{ dtype: x.dtype, shape: x.shape }], {}, PREFER_DOMAIN)[0]!;
}

/** logits [..., V], targets int64 [...] → log p(target) [...]. */
export function tokenLogProbs(logits: Value, targets: Value): Value {
  requireFloat('TokenLogProbs', logits);
  if (targets.dtype !== 'int64') fail('TokenLogProbs', `targets ${fmt(targets)} must be int64`);
  const lead = logits.shape.slice(0, -1);
  if (lead.length !== targets.rank || lead.some((d, i) => d !== targets.shape[i])) {
    fail('TokenLogProbs', `targets ${fmt(targets)} do not match logits ${fmt(logits)}`);
  }
  return logits.graph.addNode('TokenLogProbs', [logits, targets], [{ dtype: logits.dtype, shape: targets.shape }], {}, PREFER_DOMAIN)[0]!;
}

/** hidden [M, C], head [V, C], targets int64 [M] → log p(target) [M], computed in `chunks` blocks of rows. */
export function headTokenLogProbs(hidden: Value, head: Value, targets: Value, chunks = 1): Value {
  requireFloat('HeadTokenLogProbs', hidden);
  sameDtype('HeadTokenLogProbs', [hidden, head]);
  if (hidden.rank !== 2 || head.rank !== 2 || hidden.shape[1] !== head.shape[1]) fail('HeadTokenLogProbs', `${fmt(hidden)} × ${fmt(head)}ᵀ: inner dimensions differ`);
  requireTargets('HeadTokenLogProbs', hidden, targets);
  const rows = hidden.shape[0];
  if (typeof rows !== 'number' || !Number.isInteger(chunks) || chunks < 1 || chunks > rows) fail('HeadTokenLogProbs', `cannot split ${fmt(hidden)} into ${chunks} row blocks`);
  return hidden.graph.addNode('HeadTokenLogProbs', [hidden, head, targets], [{ dtype: hidden.dtype, shape: [rows] }], { chunks: attr.int(chunks) }, PREFER_DOMAIN)[0]!;
}

function requireTargets(opType: string, hidden: Value, targets: Value): void {
  if (targets.dtype !== 'int64' || targets.rank !== 1 || targets.shape[0] !== hidden.shape[0]) fail(opType, `targets ${fmt(targets)} do not match ${fmt(hidden)}`);
}

/**
 * A frozen [V, K] LM head cut into vocabulary blocks: a float table and its row blocks, or a table stored
 * block-quantized (quantize.ts: packed [V, blocks, blockBytes], scales [V·blocks]) and each row block's packed and
 * scales. The blocks are inputs of their own over the table's memory: a block is read without a Slice, which the
 * runtime would fuse into one Split that copies the whole table.
 */
export type FrozenHead =
  | { table: Value; blocks: readonly Value[] }
  | { packed: Value; scales: Value; bits: number; blockSize: number; blocks: readonly { packed: Value; scales: Value }[] };

/**
 * log p(target) [M] of hidden [M, K] under a frozen head, and E_p[W] [M, K], each row's head rows averaged under
 * its softmax, computed one vocabulary block at a time: a block's logits are reduced to a running logsumexp and a
 * weighted sum of its rows before the next block, so no [M, V] logits (and with a quantized head no float table)
 * ever exist. The gradient wrt hidden is then g·(W[t] − E_p[W]): the backward never reads the head again.
 */
export function frozenHeadTokenLogProbs(hidden: Value, targets: Value, head: FrozenHead): [logps: Value, expectedRow: Value] {
  const opType = 'FrozenHeadTokenLogProbs';
  const inputs = 'table' in head ? [head.table, ...head.blocks] : [head.packed, head.scales, ...head.blocks.flatMap((b) => [b.packed, b.scales])];
  sameGraph(opType, [hidden, targets, ...inputs]);
  requireFloat(opType, hidden);
  requireTargets(opType, hidden, targets);
  const k = hidden.shape[1];
  if (hidden.rank !== 2 || typeof k !== 'number') fail(opType, `hidden ${fmt(hidden)} is not [rows, features]`);
  let vocab: number;
  let attributes: Record<string, Attribute> = {};
  if ('table' in head) {
    sameDtype(opType, [hidden, head.table, ...head.blocks]);
    const bad = [head.table, ...head.blocks].find((w) => w.rank !== 2 || w.shape[1] !== k);
    if (bad) fail(opType, `${fmt(bad)} is not rows of ${k} features`);
    vocab = head.blocks.reduce((n, w) => n + (w.shape[0] as number), 0);
  } else {
    const { packed, scales, bits, blockSize, blocks } = head;
    sameDtype(opType, [hidden, scales, ...blocks.map((b) => b.scales)]);
    const isBlocksOf = (p: Value, s: Value) => {
      const [rows, perRow, blockBytes] = p.shape;
      return p.dtype === 'uint8' && p.rank === 3 && perRow === Math.ceil(k / blockSize) && blockBytes === (blockSize * bits) / 8 && s.rank === 1 && s.shape[0] === (rows as number) * perRow;
    };
    const bad = [{ packed, scales }, ...blocks].find((b) => !isBlocksOf(b.packed, b.scales));
    if (bad) fail(opType, `${fmt(bad.packed)}, ${fmt(bad.scales)} are not ${bits}-bit blocks of ${blockSize} over ${k} features`);
    vocab = blocks.reduce((n, b) => n + (b.packed.shape[0] as number), 0);
    attributes = { bits: attr.int(bits), block_size: attr.int(blockSize) };
  }
  const tableRows = 'table' in head ? head.table.shape[0] : head.packed.shape[0];
  if (head.blocks.length === 0 || vocab !== tableRows) fail(opType, `vocabulary blocks of ${vocab} rows in all for a head of ${tableRows}`);
  const [logps, expectedRow] = hidden.graph.addNode(opType, [hidden, targets, ...inputs], [{ dtype: hidden.dtype, shape: [hidden.shape[0]!] }, { dtype: hidden.dtype, shape: hidden.shape }], { K: attr.int(k), ...attributes }, PREFER_DOMAIN);
  return [logps!, expectedRow!];
}

/** The head a FrozenHeadTokenLogProbs node reads (its inputs after hidden and targets), as `inputs` map them. */
export function frozenHeadOf(node: Node, inputs: readonly (Value | null)[] = node.inputs): FrozenHead {
  const [, , first, ...rest] = inputs as Value[];
  const bits = node.attributes.bits;
  const blockSize = node.attributes.block_size;
  if (bits?.kind !== 'int' || blockSize?.kind !== 'int') return { table: first!, blocks: rest };
  const [scales, ...parts] = rest;
  const blocks = Array.from({ length: parts.length / 2 }, (_, i) => ({ packed: parts[2 * i]!, scales: parts[2 * i + 1]! }));
  return { packed: first!, scales: scales!, bits: bits.value, blockSize: blockSize.value, blocks };
}

/** A frozen head's rows `indices` as floats: gathered from the float table, or looked up from the blocks. */
export function frozenHeadRows(head: FrozenHead, indices: Value, k: number): Value {
  if ('table' in head) return gather(head.table, indices);
  const { packed, scales, bits, blockSize } = head;
  return gatherBlocks(packed, reshape(scales, [packed.shape[0] as number, packed.shape[1] as number, 1]), indices, bits, blockSize, k);
}

/**
 * x [..., K] × Wᵀ → [..., N] for a block-quantized W [N, K] (quantize.ts): packed uint8 [N, blocks, blockBytes],
 * scales [N·blocks]. Lowering picks the kernel per device (ONNX Runtime's MatMulNBits).
 */
export function matmulBlocks(x: Value, packed: Value, scales: Value, bits: number, blockSize: number): Value {
  sameGraph('MatMulBlocks', [x, packed, scales]);
  requireFloat('MatMulBlocks', x);
  sameDtype('MatMulBlocks', [x, scales]);
  const [n, blocks, blockBytes] = packed.shape;
  const k = x.shape[x.rank - 1];
  if (packed.dtype !== 'uint8' || packed.rank !== 3 || typeof k !== 'number' || blocks !== Math.ceil(k / blockSize) || blockBytes !== (blockSize * bits) / 8) {
    fail('MatMulBlocks', `packed ${fmt(packed)} is not ${bits}-bit blocks of ${blockSize} over ${fmt(x)}`);
  }
  if (scales.rank !== 1 || scales.shape[0] !== (n as number) * (blocks as number)) fail('MatMulBlocks', `scales ${fmt(scales)} do not match ${fmt(packed)}`);
  const attributes = { K: attr.int(k), N: attr.int(n as number), bits: attr.int(bits), block_size: attr.int(blockSize) };
  return x.graph.addNode('MatMulBlocks', [x, packed, scales], [{ dtype: x.dtype, shape: [...x.shape.slice(0, -1), n!] }], attributes, PREFER_DOMAIN)[0]!;
}

/**
 * The float weight [N, K] of block-quantized packed codes (quantize.ts): (code − 2^(bits−1)) × scale. Training
 * graphs read a frozen base layer through it, so only the layer being computed holds float weights.
 */
export function dequantizeBlocks(packed: Value, scales: Value, bits: number, blockSize: number, k: number): Value {
  sameGraph('DequantizeBlocks', [packed, scales]);
  requireFloat('DequantizeBlocks', scales);
  const [n, blocks, blockBytes] = packed.shape;
  if (packed.dtype !== 'uint8' || packed.rank !== 3 || typeof n !== 'number' || blocks !== Math.ceil(k / blockSize) || blockBytes !== (blockSize * bits) / 8) {
    fail('DequantizeBlocks', `packed ${fmt(packed)} is not ${bits}-bit blocks of ${blockSize} over ${k} columns`);
  }
  if (scales.rank !== 1 || scales.shape[0] !== n * blocks) fail('DequantizeBlocks', `scales ${fmt(scales)} do not match ${fmt(packed)}`);
  const attributes = { K: attr.int(k), bits: attr.int(bits), block_size: attr.int(blockSize) };
  return packed.graph.addNode('DequantizeBlocks', [packed, scales], [{ dtype: scales.dtype, shape: [n, k] }], attributes, PREFER_DOMAIN)[0]!;
}

/**
 * Rows `indices` of a block-quantized W [N, K] (quantize.ts) as floats: [...indices, K], (code − 2^(bits−1)) × scale,
 * with packed [N, blocks, blockBytes] and scales [N, blocks, 1] (GatherBlockQuantized's layout: one scale per block
 * of the last axis). An int8/int4 inference graph looks its token embedding up this way: no float table exists.
 */
export function gatherBlocks(packed: Value, scales: Value, indices: Value, bits: number, blockSize: number, k: number): Value {
  sameGraph('GatherBlocks', [packed, scales, indices]);
  requireFloat('GatherBlocks', scales);
  const [n, blocks, blockBytes] = packed.shape;
  if (packed.dtype !== 'uint8' || packed.rank !== 3 || typeof n !== 'number' || blocks !== Math.ceil(k / blockSize) || blockBytes !== (blockSize * bits) / 8) {
    fail('GatherBlocks', `packed ${fmt(packed)} is not ${bits}-bit blocks of ${blockSize} over ${k} columns`);
  }
  if (scales.rank !== 3 || scales.shape[0] !== n || scales.shape[1] !== blocks || scales.shape[2] !== 1) fail('GatherBlocks', `scales ${fmt(scales)} are not [${n}, ${blocks}, 1]`);
  if (indices.dtype !== 'int64' && indices.dtype !== 'int32') fail('GatherBlocks', `indices ${fmt(indices)} are not integers`);
  const attributes = { K: attr.int(k), bits: attr.int(bits), block_size: attr.int(blockSize) };
  return packed.graph.addNode('GatherBlocks', [packed, scales, indices], [{ dtype: scales.dtype, shape: [...indices.shape, k] }], attributes, PREFER_DOMAIN)[0]!;
}

/**
 * 0 × one element of `v`: added to a value, it makes what reads the sum wait for `v` (an order the runtime must
 * keep), and makes two copies of one expression differ (the runtime cannot merge them); it changes nothing else
 * while `v` is finite.
 */
export function zeroOf(v: Value): Value {
  return mul(slice(reshape(v, [-1]), [0], [1], [0]), 0);
}

/** [start, end) of each of `chunks` near-equal blocks of `rows`. */
export function rowBlocks(rows: number, chunks: number): [number, number][] {
  return Array.from({ length: chunks }, (_, i) => [Math.floor((i * rows) / chunks), Math.floor(((i + 1) * rows) / chunks)]);
}
