/**
 * Lowering: rewrites a graph into one with only ops the target execution provider runs well. Prefer
 * composites are expanded into standard ONNX ops; per provider, ops that would silently fall back to the CPU
 * are rebuilt from basic ops (WebGPU runs LogSoftmax on the CPU, so it becomes max/exp/sum/log).
 */
import { type Node, type Value, Graph, MS_DOMAIN, PREFER_DOMAIN, attr } from './ir.ts';
import * as op from './ops.ts';

export type Target = 'cpu' | 'webgpu' | 'cuda';

/** `lowered` maps a value of the source graph to its lowered counterpart (for rules that look through producers). */
type Rule = (inputs: Value[], node: Node, target: Target, lowered: (v: Value) => Value) => Value[];

export interface LowerOptions {
  /**
   * Inference graphs on CPU: norms, GELU and rotary embedding become single fused kernels
   * (SimplifiedLayerNormalization, LayerNormalization, Gelu, com.microsoft RotaryEmbedding), cutting the ops per decode step, whose
   * fixed per-op cost shows at one token per step. float32 only; training graphs keep plain ops.
   */
  fused?: boolean;
}

function floatAttr(node: Node, name: string): number {
  const a = node.attributes[name];
  if (!a || a.kind !== 'float') throw new Error(`${node.opType}: missing float attribute ${name}`);
  return a.value;
}

function intAttr(node: Node, name: string): number {
  const a = node.attributes[name];
  if (!a || a.kind !== 'int') throw new Error(`${node.opType}: missing int attribute ${name}`);
  return a.value;
}

function logSoftmaxFromBasicOps(x: Value, axis: number): Value {
  const shifted = op.sub(x, op.reduceMax(x, [axis]));
  return op.sub(shifted, op.log(op.reduceSum(op.exp(shifted), [axis])));
}

function logSoftmaxFor(target: Target, x: Value, axis = -1): Value {
  return target === 'webgpu' ? logSoftmaxFromBasicOps(x, axis) : op.logSoftmax(x, axis);
}

/** Composite expansions, and provider rewrites of standard ops (keyed `domain:opType`). */
const rules: Record<string, Rule> = {
  [`${PREFER_DOMAIN}:RmsNorm`]: ([x, w], node) => {
    const meanSquare = op.reduceMean(op.mul(x!, x!), [-1]);
    return [op.mul(op.div(x!, op.sqrt(op.add(meanSquare, floatAttr(node, 'epsilon')))), w!)];
  },
  [`${PREFER_DOMAIN}:LayerNorm`]: ([x, w, b], node) => {
    const centered = op.sub(x!, op.reduceMean(x!, [-1]));
    const variance = op.reduceMean(op.mul(centered, centered), [-1]);
    return [op.add(op.mul(op.div(centered, op.sqrt(op.add(variance, floatAttr(node, 'epsilon')))), w!), b!)];
  },
  [`${PREFER_DOMAIN}:Rotary`]: ([x, cos, sin]) => {
    const d = x!.shape[x!.rank - 1] as number;
    const x1 = op.slice(x!, [0], [d / 2], [-1]);
    const x2 = op.slice(x!, [d / 2], [d], [-1]);
    return [op.concat([op.sub(op.mul(x1, cos!), op.mul(x2, sin!)), op.add(op.mul(x2, cos!), op.mul(x1, sin!))], -1)];
  },
  [`${PREFER_DOMAIN}:GeluTanh`]: ([x]) => {
    const inner = op.mul(op.add(x!, op.mul(op.mul(op.mul(x!, x!), x!), op.GELU_C)), op.GELU_K);
    return [op.mul(op.mul(x!, 0.5), op.add(op.tanh(inner), 1))];
  },
  [`${PREFER_DOMAIN}:TokenLogProbs`]: ([logits, targets], _node, target) => {
    const logp = logSoftmaxFor(target, logits!);
    return [op.squeeze(op.gatherElements(logp, op.unsqueeze(targets!, [-1]), -1), [-1])];
  },
  // logit of the target (a row gather of the head, no int64 tensor ops: WebGPU runs none) − logsumexp per row block
  [`${PREFER_DOMAIN}:HeadTokenLogProbs`]: ([hidden, head, targets], node) => {
    const chunks = node.attributes.chunks?.kind === 'int' ? node.attributes.chunks.value : 1;
    const targetLogits = op.reduceSum(op.mul(hidden!, op.gather(head!, targets!)), [-1], false);
    const blocks = op.rowBlocks(hidden!.shape[0] as number, chunks).map(([start, end]) => {
      const logits = op.gemmTransB(op.slice(hidden!, [start], [end], [0]), head!);
      const max = op.reduceMax(logits, [-1]);
      return op.reshape(op.add(op.log(op.reduceSum(op.exp(op.sub(logits, max)), [-1])), max), [end - start]);
    });
    return [op.sub(targetLogits, blocks.length === 1 ? blocks[0]! : op.concat(blocks, 0))];
  },
  // int8 activations (accuracy level 4) on CPU: level 0 runs int8 weights ~25× slower than fp32 MatMul there
  [`${PREFER_DOMAIN}:MatMulBlocks`]: ([x, packed, scales], node, target) =>
    x!.graph.addNode('MatMulNBits', [x!, packed!, scales!], [{ dtype: x!.dtype, shape: node.outputs[0]!.shape }], { ...node.attributes, accuracy_level: attr.int(target === 'webgpu' ? 0 : 4) }, MS_DOMAIN),
  [`${PREFER_DOMAIN}:DequantizeBlocks`]: ([packed, scales], node) => [dequantizeLinearBlocks(packed!, scales!, blockAttributes(node))],
  // log p = h·W[t] − logsumexp(h·Wᵀ) and E_p[W], one vocabulary block at a time: each block's logits give its max m,
  // its Σ exp(logits − m) and its rows weighed by exp(logits − m); the blocks are combined at the end
  [`${PREFER_DOMAIN}:FrozenHeadTokenLogProbs`]: (inputs, node) => {
    const [hidden, targets] = inputs as [Value, Value];
    const head = op.frozenHeadOf(node, inputs);
    let gate = op.zeroOf(hidden);
    const parts = frozenHeadBlocks(head, intAttr(node, 'K')).map((weightsOf) => {
      const weights = weightsOf(gate);
      const logits = op.gemmTransB(op.add(hidden, gate), weights);
      const max = op.reduceMax(logits, [-1]);
      const e = op.exp(op.sub(logits, max));
      const part = { max, sum: op.reduceSum(e, [-1]), rows: op.matmul(e, weights) };
      // the next block waits for both of this block's reductions of e, so e is freed before the next is made
      gate = op.add(op.zeroOf(part.rows), op.zeroOf(part.sum));
      return part;
    });
    const max = op.reduceMax(op.concat(parts.map((p) => p.max), -1), [-1]);
    const scaled = parts.map((p) => op.exp(op.sub(p.max, max)));
    const sum = parts.map((p, i) => op.mul(p.sum, scaled[i]!)).reduce((a, b) => op.add(a, b));
    const rows = parts.map((p, i) => op.mul(p.rows, scaled[i]!)).reduce((a, b) => op.add(a, b));
    const logsumexp = op.squeeze(op.add(op.log(sum), max), [-1]);
    const targetRows =
      'table' in head
        ? op.gather(head.table, targets)
        : gatherBlockRows(head.packed, op.reshape(head.scales, [head.packed.shape[0] as number, head.packed.shape[1] as number, 1]), targets, { k: intAttr(node, 'K'), bits: head.bits, blockSize: head.blockSize });
    const targetLogits = op.reduceSum(op.mul(hidden, targetRows), [-1], false);
    return [op.sub(targetLogits, logsumexp), op.div(rows, sum)];
  },
  [`${PREFER_DOMAIN}:GatherBlocks`]: ([packed, scales, indices], node) => [gatherBlockRows(packed!, scales!, indices!, blockAttributes(node))],
  ':LogSoftmax': ([x], node, target) => {
    const a = node.attributes.axis;
    const axis = a?.kind === 'int' ? a.value : -1;
    return [logSoftmaxFor(target, x!, axis)];
  },
};

interface BlockAttributes {
  k: number;
  bits: number;
  blockSize: number;
}

const blockAttributes = (node: Node): BlockAttributes => ({ k: intAttr(node, 'K'), bits: intAttr(node, 'bits'), blockSize: intAttr(node, 'block_size') });

/**
 * Block-quantized codes [N, blocks, bytes] as float [N, K] through DequantizeLinear with a block size (opset 21):
 * int4 codes are first split out of their bytes (element 2i in the low nibble, 2i+1 in the high one); the zero
 * point 2^(bits−1) is broadcast from one scalar, so the graph holds no per-block constant.
 */
function dequantizeLinearBlocks(packed: Value, scales: Value, { k, bits, blockSize }: BlockAttributes): Value {
  const g = packed.graph;
  const [n, blocks] = packed.shape as [number, number];
  let codes = packed;
  if (bits === 4) {
    // the nibbles are split from the bytes as selected by a test on the scales (true unless a scale is NaN): a
    // recomputed layer's scales are gated (recompute.ts), so its unpacking waits for them too, and is not merged
    // with the forward's (the runtime would otherwise keep every layer's unpacked codes from the forward on)
    const first = op.slice(op.reshape(scales, [-1]), [0], [1], [0]);
    const [sameScale] = g.addNode('Equal', [first, first], [{ dtype: 'bool', shape: [1] }]);
    const [bytes] = g.addNode('Where', [op.reshape(sameScale!, [1, 1, 1]), packed, packed], [{ dtype: 'uint8', shape: packed.shape }]);
    const nibble = (opType: string, operand: number, attributes = {}) => g.addNode(opType, [bytes!, g.scalar(operand, 'uint8')], [{ dtype: 'uint8', shape: packed.shape }], attributes)[0]!;
    codes = op.concat([op.unsqueeze(nibble('BitwiseAnd', 15), [-1]), op.unsqueeze(nibble('BitShift', 4, { direction: attr.string('RIGHT') }), [-1])], -1);
  }
  const zero = op.expand(g.scalar(1 << (bits - 1), 'uint8'), [n, blocks]);
  const [w] = g.addNode('DequantizeLinear', [op.reshape(codes, [n, blocks * blockSize]), op.reshape(scales, [n, blocks]), zero], [{ dtype: scales.dtype, shape: [n, blocks * blockSize] }], {
    axis: attr.int(1),
    block_size: attr.int(blockSize),
  });
  // a row that is not whole blocks ends in zero padding
  return k === blocks * blockSize ? w! : op.slice(w!, [0], [k], [1]);
}

/**
 * Each vocabulary block's float rows of a frozen head, made from a gate (zeroOf the previous block's result): a
 * quantized block is dequantized from its scales plus the gate, so the runtime dequantizes one block at a time, when
 * it is needed, instead of all of them as soon as the table is fed. (The rows each block multiplies are gated too:
 * the runtime finishes a block before it starts the next.)
 */
function frozenHeadBlocks(head: op.FrozenHead, k: number): ((gate: Value) => Value)[] {
  if ('table' in head) return head.blocks.map((w) => () => w);
  const attributes = { k, bits: head.bits, blockSize: head.blockSize };
  return head.blocks.map((b) => (gate: Value) => dequantizeLinearBlocks(b.packed, op.add(b.scales, gate), attributes));
}

/**
 * Rows of block-quantized codes [N, blocks, bytes] as floats through com.microsoft GatherBlockQuantized (CPU and
 * WebGPU): gathered along axis 0 and dequantized along the last (one block's bytes, one scale each), with the
 * default zero point 2^(bits−1), so MatMulNBits' blocks serve as they are.
 */
function gatherBlockRows(packed: Value, scales: Value, indices: Value, { k, bits, blockSize }: BlockAttributes): Value {
  const blocks = packed.shape[1] as number;
  const attributes = { gather_axis: attr.int(0), quantize_axis: attr.int(2), block_size: attr.int(blockSize), bits: attr.int(bits) };
  const [rows] = packed.graph.addNode('GatherBlockQuantized', [packed, indices, scales], [{ dtype: scales.dtype, shape: [...indices.shape, blocks, blockSize] }], attributes, MS_DOMAIN);
  const flat = op.reshape(rows!, [...indices.shape.map(() => 0), blocks * blockSize]);
  // a row that is not whole blocks ends in zero padding
  return k === blocks * blockSize ? flat : op.slice(flat, [0], [k], [-1]);
}

/** `Unsqueeze(Gather(table, positions), [1])`: the rotary angles of the families, as [table, positions]; else null. */
function rotaryTableAndPositions(angles: Value): [Value, Value] | null {
  const unsqueeze = angles.producer;
  const gather = unsqueeze?.opType === 'Unsqueeze' ? unsqueeze.inputs[0]?.producer : null;
  if (!gather || gather.opType !== 'Gather') return null;
  const [table, positions] = gather.inputs;
  return table && positions && table.role === 'initializer' && positions.dtype === 'int64' ? [table, positions] : null;
}

const fusedRules: Record<string, Rule> = {
  [`${PREFER_DOMAIN}:RmsNorm`]: ([x, w], node) =>
    x!.graph.addNode('SimplifiedLayerNormalization', [x!, w!], [{ dtype: x!.dtype, shape: x!.shape }], {
      axis: attr.int(-1),
      epsilon: attr.float(floatAttr(node, 'epsilon')),
      stash_type: attr.int(1),
    }),
  [`${PREFER_DOMAIN}:LayerNorm`]: ([x, w, b], node) =>
    x!.graph.addNode('LayerNormalization', [x!, w!, b!], [{ dtype: x!.dtype, shape: x!.shape }], {
      axis: attr.int(-1),
      epsilon: attr.float(floatAttr(node, 'epsilon')),
    }),
  [`${PREFER_DOMAIN}:GeluTanh`]: ([x]) => x!.graph.addNode('Gelu', [x!], [{ dtype: x!.dtype, shape: x!.shape }], { approximate: attr.string('tanh') }),
  [`${PREFER_DOMAIN}:Rotary`]: (inputs, node, target, lowered) => {
    const [x] = inputs;
    const cos = rotaryTableAndPositions(node.inputs[1]!);
    const sin = rotaryTableAndPositions(node.inputs[2]!);
    if (!cos || !sin || cos[1] !== sin[1] || x!.rank !== 4) return rules[`${PREFER_DOMAIN}:Rotary`]!(inputs, node, target, lowered);
    // [B, H, T, D] with per-token positions and [maxPositions, D/2] tables: rotate-half (interleaved = 0)
    return x!.graph.addNode('RotaryEmbedding', [x!, lowered(cos[1]), lowered(cos[0]), lowered(sin[0])], [{ dtype: x!.dtype, shape: x!.shape }], { interleaved: attr.int(0) }, MS_DOMAIN);
  },
};

/** A new graph with every composite expanded for `target`; input and output names are kept. */
export function lower(source: Graph, target: Target = 'cpu', options: LowerOptions = {}): Graph {
  const g = new Graph(source.name);
  const map = new Map<Value, Value>();
  const mapped = (v: Value): Value => {
    const m = map.get(v);
    if (!m) throw new Error(`lower: ${v.name} used before it is defined`);
    return m;
  };
  for (const v of source.inputs) map.set(v, g.input(v.name, v.dtype, v.shape));
  for (const [v, init] of source.initializers) map.set(v, g.initializer(v.name, init.tensor, { weight: init.weight }));
  for (const node of source.nodes) {
    const inputs = node.inputs.map((v) => (v ? mapped(v) : null));
    const key = `${node.domain}:${node.opType}`;
    const fused = options.fused && target === 'cpu' && node.outputs[0]?.dtype === 'float32' ? fusedRules[key] : undefined;
    const rule = fused ?? rules[key];
    let outs: Value[];
    if (rule && (node.domain === PREFER_DOMAIN || target !== 'cpu')) {
      outs = rule(inputs as Value[], node, target, mapped);
    } else if (node.domain === PREFER_DOMAIN) {
      throw new Error(`lower: no expansion for composite ${node.opType}`);
    } else {
      outs = g.addNode(node.opType, inputs, node.outputs.map((o) => ({ dtype: o.dtype, shape: o.shape })), node.attributes, node.domain);
    }
    node.outputs.forEach((o, i) => map.set(o, outs[i]!));
  }
  for (const v of source.outputs) g.output(mapped(v), v.name);
  return g;
}
