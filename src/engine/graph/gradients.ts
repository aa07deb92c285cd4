/**
 * The gradient rules: one entry per op, each a small function of the output gradient `g`, the node's inputs
 * `x`, its output `y` and the node. A rule returns, per input, a thunk building that input's gradient (called
 * only when the input lies on a path from the trainable values) or null where no gradient exists (indices,
 * shapes, axes). A gradient may keep the output's broadcast shape: the walker (autodiff.ts) sums it back to
 * the input's shape.
 */
import { type Node, type Value, elementCount } from './ir.ts';
import * as op from './ops.ts';
import { equal, greater, padZeros, reciprocal, scatterElementsAdd, scatterNDAdd, zeros } from './trainingOps.ts';

/** A node's inputs by position; a rule names only the ones its op has. */
export type Inputs = readonly [Value, Value, Value, Value, Value];
export type InputGradient = (() => Value) | null;
export type GradientRule = (g: Value, x: Inputs, y: Value, node: Node) => InputGradient[];
export type GradientRules = Readonly<Record<string, GradientRule>>;

// ── helpers the rules read with ─────────────────────────────────────────────────────────────────────────

function intAttr(node: Node, name: string, fallback?: number): number {
  const a = node.attributes[name];
  if (a?.kind === 'int') return a.value;
  if (fallback !== undefined) return fallback;
  throw new Error(`${node.opType} ${node.name}: missing int attribute ${name}`);
}

function intsAttr(node: Node, name: string): number[] {
  const a = node.attributes[name];
  if (a?.kind !== 'ints') throw new Error(`${node.opType} ${node.name}: missing ints attribute ${name}`);
  return a.value;
}

function floatAttr(node: Node, name: string): number {
  const a = node.attributes[name];
  if (a?.kind !== 'float') throw new Error(`${node.opType} ${node.name}: missing float attribute ${name}`);
  return a.value;
}

/** The numbers of a constant int64 input (axes, shapes, starts/ends). */
function constInts(v: Value, node: Node): number[] {
  const init = v.graph.initializers.get(v);
  if (!init || init.tensor.dtype !== 'int64') throw new Error(`${node.opType} ${node.name}: ${v.name} must be a constant int64 tensor`);
  return Array.from(init.tensor.data as BigInt64Array, Number);
}

function staticShape(v: Value, node: Node): number[] {
  if (v.shape.some((d) => typeof d !== 'number')) {
    throw new Error(`${node.opType} ${node.name}: gradient needs static shapes, ${v.name} is [${v.shape.join(', ')}]`);
  }
  return v.shape as number[];
}

const axisOf = (node: Node, rank: number) => {
  const a = intAttr(node, 'axis', -1);
  return a < 0 ? a + rank : a;
};

/** 1 − v */
const oneMinus = (v: Value) => op.add(op.neg(v), 1);

/** Swaps the last two axes (the transpose in a matmul's gradient). */
function swapLast(v: Value): Value {
  const perm = v.shape.map((_, i) => i);
  perm[v.rank - 1] = v.rank - 2;
  perm[v.rank - 2] = v.rank - 1;
  return op.transpose(v, perm);
}

/** A reduction's output gradient spread back over the input's shape. */
function unreduce(g: Value, x: Value, node: Node): Value {
  const keep = intAttr(node, 'keepdims', 1) === 1;
  const spread = keep ? g : op.unsqueeze(g, constInts(node.inputs[1]!, node));
  return op.expand(spread, staticShape(x, node));
}

function reducedCount(x: Value, node: Node): number {
  const shape = staticShape(x, node);
  return elementCount(constInts(node.inputs[1]!, node).map((a) => shape[a]!));
}

/** Builds a value once, on first use, for the rules whose input gradients share a term. */
function shared(build: () => Value): () => Value {
  let v: Value | undefined;
  return () => (v ??= build());
}

/** x / sqrt(mean(x², −1) + ε) and its inverse root: what both norm rules reuse. */
function normalized(centered: Value, epsilon: number) {
  const invRoot = reciprocal(op.sqrt(op.add(op.reduceMean(op.mul(centered, centered), [-1]), epsilon)));
  return { invRoot, n: op.mul(centered, invRoot) };
}

// ── the rules ───────────────────────────────────────────────────────────────────────────────────────────

export const gradientRules: GradientRules = {
  Identity: (g) => [() => g],
  Add: (g) => [() => g, () => g],
  Sub: (g) => [() => g, () => op.neg(g)],
  Mul: (g, [a, b]) => [() => op.mul(g, b), () => op.mul(g, a)],
  Div: (g, [, b], y) => [() => op.div(g, b), () => op.neg(op.div(op.mul(g, y), b))],
  Neg: (g) => [() => op.neg(g)],
  Pow: (g, [a, b], y) => [() => op.mul(g, op.mul(b, op.pow(a, op.sub(b, 1)))), () => op.mul(g, op.mul(y, op.log(a)))],
  Sqrt: (g, _x, y) => [() => op.div(g, op.mul(y, 2))],
  Reciprocal: (g, _x, y) => [() => op.neg(op.mul(g, op.mul(y, y)))],
  Exp: (g, _x, y) => [() => op.mul(g, y)],
  Log: (g, [x]) => [() => op.div(g, x)],
  Tanh: (g, _x, y) => [() => op.mul(g, oneMinus(op.mul(y, y)))],
  Sigmoid: (g, _x, y) => [() => op.mul(g, op.mul(y, oneMinus(y)))],
  Erf: (g, [x]) => [() => op.mul(g, op.mul(op.exp(op.neg(op.mul(x, x))), 2 / Math.sqrt(Math.PI)))],
  Relu: (g, [x]) => [() => op.where(greater(x, 0), g, x.graph.scalar(0, g.dtype))],
  Cast: (g, [x]) => [() => op.cast(g, x.dtype)],
  Where: (g, [c]) => [null, () => op.where(c, g, g.graph.scalar(0, g.dtype)), () => op.where(c, g.graph.scalar(0, g.dtype), g)],

  MatMul: (g, [a, b]) => [() => op.matmul(g, swapLast(b)), () => (b.rank === 2 ? weightGradient(a, g) : op.matmul(swapLast(a), g))],
  Gemm: (g, [a, b], _y, node) => {
    if (intAttr(node, 'transB', 0) !== 1 || intAttr(node, 'transA', 0) !== 0 || node.inputs.length > 2) {
      throw new Error(`Gemm ${node.name}: gradient covers only a × bᵀ (transB=1, no C)`);
    }
    return [() => op.matmul(g, b), () => op.matmul(swapLast(g), a)];
  },

  ReduceSum: (g, [x], _y, node) => [() => unreduce(g, x, node), null],
  ReduceMean: (g, [x], _y, node) => [() => op.div(unreduce(g, x, node), reducedCount(x, node)), null],
  // ties share the gradient equally
  ReduceMax: (g, [x], y, node) => [
    () => {
      const isMax = op.cast(equal(x, unreduce(y, x, node)), x.dtype);
      return op.div(op.mul(isMax, unreduce(g, x, node)), unreduce(op.reduceSum(isMax, constInts(node.inputs[1]!, node), intAttr(node, 'keepdims', 1) === 1), x, node));
    },
    null,
  ],
  Softmax: (g, _x, y, node) => [() => op.mul(y, op.sub(g, op.reduceSum(op.mul(g, y), [axisOf(node, y.rank)])))],
  LogSoftmax: (g, _x, y, node) => [() => op.sub(g, op.mul(op.exp(y), op.reduceSum(g, [axisOf(node, y.rank)])))],

  Reshape: (g, [x], _y, node) => [() => op.reshape(g, staticShape(x, node)), null],
  Expand: (g) => [() => g, null],
  Transpose: (g, _x, _y, node) => {
    const perm = intsAttr(node, 'perm');
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [() => op.transpose(g, inverse)];
  },
  Unsqueeze: (g, [, axes], _y, node) => [() => op.squeeze(g, constInts(axes, node)), null],
  Squeeze: (g, [, axes], _y, node) => [() => op.unsqueeze(g, constInts(axes, node)), null],
  Concat: (g, _x, y, node) => {
    const axis = axisOf(node, y.rank);
    let offset = 0;
    return node.inputs.map((v) => {
      const start = offset;
      offset += staticShape(v!, node)[axis]!;
      return () => op.slice(g, [start], [start + (v!.shape[axis] as number)], [axis]);
    });
  },
  Slice: (g, [x, starts, ends, axes], _y, node) => [
    () => {
      const shape = staticShape(x, node);
      const before = shape.map(() => 0);
      const after = shape.map(() => 0);
      const ax = constInts(axes, node);
      const [s, e] = [constInts(starts, node), constInts(ends, node)];
      ax.forEach((a0, i) => {
        const a = a0 < 0 ? a0 + x.rank : a0;
        const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + shape[a]! : v, 0), shape[a]!);
        before[a] = clamp(s[i]!);
        after[a] = shape[a]! - Math.max(clamp(e[i]!), before[a]!);
      });
      return padZeros(g, before, after);
    },
    null,
    null,
    null,
    null,
  ],
  Gather: (g, [data, indices], _y, node) => {
    if (intAttr(node, 'axis', 0) !== 0) throw new Error(`Gather ${node.name}: gradient covers axis 0 (row lookups) only`);
    return [() => scatterNDAdd(zeros(data, staticShape(data, node)), op.unsqueeze(indices, [-1]), g), null];
  },
  GatherElements: (g, [data, indices], _y, node) => [
    () => scatterElementsAdd(zeros(data, staticShape(data, node)), indices, g, axisOf(node, data.rank)),
    null,
  ],

  // ── Prefer composites (ops.ts gives their forward math) ──
  RmsNorm: (g, [x, w], _y, node) => {
    const { invRoot, n } = normalized(x, floatAttr(node, 'epsilon'));
    const gw = shared(() => op.mul(g, w));
    return [() => op.mul(invRoot, op.sub(gw(), op.mul(n, op.reduceMean(op.mul(gw(), n), [-1])))), () => op.mul(g, n)];
  },
  LayerNorm: (g, [x, w], _y, node) => {
    const { invRoot, n } = normalized(op.sub(x, op.reduceMean(x, [-1])), floatAttr(node, 'epsilon'));
    const gw = shared(() => op.mul(g, w));
    return [
      () => op.mul(invRoot, op.sub(op.sub(gw(), op.reduceMean(gw(), [-1])), op.mul(n, op.reduceMean(op.mul(gw(), n), [-1])))),
      () => op.mul(g, n),
      () => g,
    ];
  },
  // the inverse rotation: rotate by −θ
  Rotary: (g, [, cos, sin]) => [() => op.rotary(g, cos, op.neg(sin)), null, null],
  GeluTanh: (g, [x]) => [
    () => {
      const t = op.tanh(op.mul(op.add(x, op.mul(op.mul(op.mul(x, x), x), op.GELU_C)), op.GELU_K));
      const dInner = op.mul(op.add(op.mul(op.mul(x, x), 3 * op.GELU_C), 1), op.GELU_K);
      const dy = op.add(op.mul(op.add(t, 1), 0.5), op.mul(op.mul(op.mul(x, 0.5), oneMinus(op.mul(t, t))), dInner));
      return op.mul(g, dy);
    },
  ],
  // the frozen base, stored block-quantized: a constant (input gradients flow through the product that reads it)
  DequantizeBlocks: () => [null, null],
  // an embedding looked up from blocks: a constant table, integer indices
  GatherBlocks: () => [null, null, null],
  // y = x·Wᵀ over block-quantized W: dx = g·W, W dequantized again for it; the blocks themselves are constants
  MatMulBlocks: (g, [, packed, scales], _y, node) => [
    () => op.matmul(g, op.dequantizeBlocks(packed!, scales!, intAttr(node, 'bits'), intAttr(node, 'block_size'), intAttr(node, 'K'))),
    null,
    null,
  ],
  TokenLogProbs: (g, [logits, targets]) => [() => logitsGradient(logits, targets, g), null],
  // log p = h·head[t] − logsumexp(h·headᵀ): the softmax part block by block, recomputing each block's logits so
  // that one block's [rows, vocab] tensors are alive at a time; the target part as row gathers and scatters
  HeadTokenLogProbs: (g, [hidden, head, targets], _y, node) => {
    const gCol = op.unsqueeze(g, [-1]);
    const blocks = op.rowBlocks(hidden.shape[0] as number, intAttr(node, 'chunks', 1)).map(([start, end]) => {
      const h = op.slice(hidden, [start], [end], [0]);
      return { h, dLogits: shared(() => op.mul(op.softmax(op.gemmTransB(h, head)), op.neg(op.slice(gCol, [start], [end], [0])))) };
    });
    return [
      () => op.add(op.concat(blocks.map((b) => op.matmul(b.dLogits(), head)), 0), op.mul(op.gather(head, targets), gCol)),
      () => {
        const softmaxPart = blocks.map((b) => op.matmul(swapLast(b.dLogits()), b.h)).reduce((sum, d) => op.add(sum, d));
        return scatterNDAdd(softmaxPart, op.unsqueeze(targets, [-1]), op.mul(hidden, gCol));
      },
      null,
    ];
  },
  // log p = h·W[t] − logsumexp(h·Wᵀ) over a frozen head: d/dh = W[t] − E_p[W], E_p[W] the node's second output
  FrozenHeadTokenLogProbs: (g, [hidden, targets, ...head], _y, node) => [
    () => op.mul(op.unsqueeze(g, [-1]), op.sub(op.frozenHeadRows(op.frozenHeadOf(node), targets!, hidden.shape[1] as number), node.outputs[1]!)),
    null,
    ...head.map(() => null),
  ],
};

/**
 * dW of y = a·W for a 2-D W [K, N]: aᵀ·g with a's batch dims folded into rows (not summed per-batch products).
 * With N < K (a LoRA down-projection, N = rank) it is computed as (gᵀ·a)ᵀ: transposing the narrow operand and
 * the small result instead of the wide activations (measured ~2× faster on CPU for K = 1536, N = 16).
 */
function weightGradient(a: Value, g: Value): Value {
  const K = a.shape[a.rank - 1] as number;
  const N = g.shape[g.rank - 1] as number;
  const rows = (v: Value, d: number) => (v.rank === 2 ? v : op.reshape(v, [-1, d]));
  return N < K ? swapLast(op.matmul(swapLast(rows(g, N)), rows(a, K))) : op.matmul(swapLast(rows(a, K)), rows(g, N));
}

/** d log p(target) / d logits, times g: g · (onehot(target) − softmax(logits)), the one-hot part scattered in. */
function logitsGradient(logits: Value, targets: Value, g: Value): Value {
  const gCol = op.unsqueeze(g, [-1]);
  return scatterElementsAdd(op.mul(op.softmax(logits), op.neg(gCol)), op.unsqueeze(targets, [-1]), gCol, logits.rank - 1);
}
