/**
 * Activation recompute (gradient checkpointing) for a graph whose backward pass has just been appended.
 * The forward is cut into segments at boundary values (for a decoder: the residual stream entering each layer
 * and leaving the last). Backward nodes that read a value computed inside a segment read a recomputed copy
 * instead, computed from the segment's input only once the gradient of the segment's output exists. So
 * ONNX Runtime frees a segment's forward activations during the forward pass, keeps only the boundaries until
 * the backward, and holds one segment's activations at a time while it differentiates that segment.
 *
 * The copy starts from `input + 0·s` (and reads kept values as `kept + 0·s`), s the sum of one element of the segment output's gradient and of each
 * gradient of the parameters read in the segment after it: data dependencies that make the runtime schedule
 * the copy late (it would otherwise run it as soon as the input exists, which saves nothing) and finish the
 * segment after first (ONNX Runtime's order otherwise defers the small parameter-gradient products to the end
 * and keeps every layer's inputs to them alive), and that its common-subexpression pass cannot merge with the
 * original forward. The sum equals the input exactly unless a gradient element is not finite, in which case
 * the step is lost anyway. A block-quantized base layer's float weights (DequantizeBlocks) belong to its segment
 * too (and a half-precision base layer's cast): the backward dequantizes the layer again, from its scales read
 * gated, instead of keeping every layer's.
 */
import { type Graph, type Node, type Value, isFloat } from './ir.ts';
import * as op from './ops.ts';

export interface RecomputeReport {
  /** Nodes added to the backward pass: the copies of forward nodes and each segment's start. */
  addedNodes: number;
  /** Segments whose values the backward reads through copies. */
  segments: number;
}

/**
 * Rewrites the nodes from `backwardStart` on (the backward pass, and whatever follows it) to read
 * recomputed segment values. `boundaries` are in forward order; `gradientOf` maps forward values to their
 * gradients (autodiff's map). Node order stays topological.
 */
export interface RecomputeOptions {
  /**
   * Keep the outputs of products with frozen model weights (q/k/v/o, gate/up projections: most of a layer's
   * FLOPs for a few [tokens, features] tensors) and of products no larger than an operand (the attention
   * context, LoRA's rank-r projections) instead of recomputing them. Attention scores, larger than both
   * operands, are still recomputed.
   */
  keepProducts?: boolean;
}

export function recomputeSegments(
  graph: Graph,
  backwardStart: number,
  boundaries: readonly Value[],
  gradientOf: ReadonlyMap<Value, Value>,
  parameters: readonly Value[],
  options: RecomputeOptions = {},
): RecomputeReport {
  const index = new Map<Node, number>();
  graph.nodes.slice(0, backwardStart).forEach((n, i) => index.set(n, i));
  const positionOf = (v: Value) => (v.producer ? (index.get(v.producer) ?? Infinity) : -1);

  // values inside segment k that depend on its input (the rest — shared tables, adapter transposes — stay as computed)
  const segmentOf = new Map<Value, number>();
  // values of segment k read as computed in the forward pass (kept products): copies read them gated too
  const keptOf = new Map<Value, number>();
  const boundarySet = new Set(boundaries);
  const isParameter = new Set(parameters);
  const parametersOf: Value[][] = [];
  for (let k = 0; k + 1 < boundaries.length; k++) {
    const from = positionOf(boundaries[k]!);
    const to = positionOf(boundaries[k + 1]!);
    if (!(from < to) || to === Infinity) throw new Error(`recompute: boundary ${boundaries[k + 1]!.name} is not computed after ${boundaries[k]!.name} in the forward pass`);
    const depends = new Set<Value>([boundaries[k]!]);
    const read = new Set<Value>();
    for (let i = from + 1; i <= to; i++) {
      const node = graph.nodes[i]!;
      for (const v of node.inputs) if (v && isParameter.has(v)) read.add(v);
      if (isWeightExpansion(node)) {
        // a layer's dequantized base weights are recomputed too, from gated scales: never alive for every layer at once
        for (const o of node.outputs) segmentOf.set(o, k);
        for (const v of node.inputs) if (v && isFloat(v.dtype) && v.role === 'initializer') keptOf.set(v, k);
        continue;
      }
      if (!node.inputs.some((v) => v && depends.has(v))) continue;
      const kept = options.keepProducts === true && isKeptProduct(graph, node);
      for (const o of node.outputs) {
        depends.add(o);
        if (!boundarySet.has(o)) (kept ? keptOf : segmentOf).set(o, k);
      }
    }
    parametersOf.push([...read]);
  }

  const backward = graph.nodes.splice(backwardStart);
  const emitted = new Set<Node>();
  const ready = (v: Value) => !v.producer || index.has(v.producer) || emitted.has(v.producer);
  const copies = new Map<Value, Value>();
  const segmentsUsed = new Set<number>();
  const before = graph.nodes.length;

  const first = (v: Value) => op.slice(op.reshape(v, [-1]), [0], [1], [0]);
  const zeros = new Map<number, Value>();
  /** 0·s for segment k (see the module comment). */
  const gateOf = (k: number, trigger: Value): Value => {
    let zero = zeros.get(k);
    if (!zero) {
      // a parameter also read below this segment has no final gradient yet: it cannot gate the copy
      const above = (parametersOf[k + 1] ?? []).map((p) => gradientOf.get(p)).filter((d): d is Value => d !== undefined && ready(d));
      const gates = [trigger, ...above].map(first);
      zero = op.mul(gates.length === 1 ? gates[0]! : op.reduceSum(op.concat(gates, 0), [0]), 0);
      zeros.set(k, zero);
    }
    return zero;
  };
  /** The segment's input or a kept value, as the copies read it: gated, so that no copy can run early. */
  const gated = (u: Value, k: number, trigger: Value): Value => {
    let g = copies.get(u);
    if (!g) {
      const gate = gateOf(k, trigger);
      copies.set(u, (g = op.add(u, gate.dtype === u.dtype ? gate : op.cast(gate, u.dtype))));
    }
    return g;
  };

  const recomputed = (v: Value, k: number, trigger: Value): Value => {
    const found = copies.get(v);
    if (found) return found;
    const node = v.producer!;
    const copyOf = (u: Value) => (u === boundaries[k] || keptOf.get(u) === k ? gated(u, k, trigger) : segmentOf.get(u) === k ? recomputed(u, k, trigger) : u);
    const inputs = node.inputs.map((u) => u && copyOf(u));
    const outs = graph.addNode(node.opType, inputs, node.outputs.map((o) => ({ dtype: o.dtype, shape: o.shape })), node.attributes, node.domain);
    node.outputs.forEach((o, i) => copies.set(o, outs[i]!));
    return copies.get(v)!;
  };

  /** The value a backward node should read in place of `v`. */
  const replacement = (v: Value): Value => {
    const k = segmentOf.get(v);
    if (k === undefined) return v;
    // the segment's output gradient; a read before it exists (none in a layered model) keeps the original
    const trigger = gradientOf.get(boundaries[k + 1]!);
    if (!trigger || !ready(trigger)) return v;
    segmentsUsed.add(k);
    return recomputed(v, k, trigger);
  };

  for (const node of backward) {
    const inputs = node.inputs.map((v) => v && replacement(v));
    if (inputs.every((v, i) => v === node.inputs[i])) {
      graph.nodes.push(node);
      emitted.add(node);
      continue;
    }
    const rewired: Node = { ...node, inputs };
    for (const o of rewired.outputs) o.producer = rewired;
    graph.nodes.push(rewired);
    emitted.add(rewired);
  }
  const added = graph.nodes.length - before - backward.length;
  return { addedNodes: added, segments: segmentsUsed.size };
}

/** A node that expands stored base weights into the float weight a product reads (a block-quantized or half-precision layer). */
const isWeightExpansion = (node: Node): boolean =>
  node.opType === 'DequantizeBlocks' || (node.opType === 'Cast' && node.inputs[0]?.role === 'initializer' && node.inputs[0].dtype === 'float16');

/** A product with a frozen model weight, or one no larger than an operand (recomputing it costs FLOPs, keeping it little memory). */
function isKeptProduct(graph: Graph, node: Node): boolean {
  if (node.opType !== 'MatMul' && node.opType !== 'Gemm') return false;
  if (node.inputs.some((v) => v !== null && (graph.initializers.get(v)?.weight === true || (v.producer !== null && isWeightExpansion(v.producer))))) return true;
  const size = (v: Value) => v.shape.reduce<number>((n, d) => n * (typeof d === 'number' ? d : Infinity), 1);
  return size(node.outputs[0]!) <= Math.max(...node.inputs.map((v) => (v ? size(v) : 0)));
}
