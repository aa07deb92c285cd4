/**
 * Reverse-mode autodiff over the graph IR: appends the backward nodes to the same graph and returns the
 * gradient of a scalar loss for each requested value. Only nodes on a path from `wrt` to the loss are
 * differentiated; gradients of broadcast operands are summed back to the operand's shape; a value used
 * several times gets the sum of its gradients. The rules live in gradients.ts.
 */
import { type Graph, type Node, type Value, isFloat } from './ir.ts';
import * as op from './ops.ts';
import { type GradientRules, type Inputs, gradientRules } from './gradients.ts';
import { recomputeSegments } from './recompute.ts';

export interface GradientOptions {
  /**
   * Boundaries of forward segments to recompute in the backward pass instead of keeping their activations
   * (recompute.ts): for a decoder, the residual stream entering each layer and leaving the last.
   */
  recompute?: readonly Value[];
  /** With `recompute`: keep products with frozen model weights and those no larger than an operand rather than recomputing them (recompute.ts). */
  keepProducts?: boolean;
}

/** Sums a gradient over the axes its operand was broadcast along (explicit axes, then Reshape back). */
function sumToShape(grad: Value, x: Value, node: Node): Value {
  const lead = grad.rank - x.rank;
  const axes: number[] = [];
  for (let i = 0; i < grad.rank; i++) {
    if (i < lead || (x.shape[i - lead] === 1 && grad.shape[i] !== 1)) axes.push(i);
  }
  let out = grad;
  if (axes.length > 0) {
    if (x.shape.some((d) => typeof d !== 'number')) throw new Error(`autodiff: ${node.opType} ${node.name}: ${x.name} needs a static shape`);
    out = op.reshape(op.reduceSum(grad, axes, true), x.shape as number[]);
  }
  if (out.rank !== x.rank || out.shape.some((d, i) => d !== x.shape[i]) || out.dtype !== x.dtype) {
    throw new Error(`autodiff: ${node.opType} rule gave ${out.dtype}[${out.shape.join(', ')}] for ${x}`);
  }
  return out;
}

export function gradients(graph: Graph, loss: Value, wrt: readonly Value[], rules: GradientRules = gradientRules, options: GradientOptions = {}): Map<Value, Value> {
  if (loss.graph !== graph || wrt.some((v) => v.graph !== graph)) throw new Error('autodiff: loss and wrt must belong to the graph');
  if (!isFloat(loss.dtype) || loss.shape.some((d) => d !== 1)) throw new Error(`autodiff: loss ${loss} must be a float scalar`);
  const end = loss.producer ? graph.nodes.indexOf(loss.producer) : -1;
  const forward = graph.nodes.slice(0, end + 1);

  // float values that depend on a trainable value (comparisons and indices carry no gradient)
  const onPath = new Set<Value>(wrt);
  for (const node of forward) {
    if (node.inputs.some((v) => v && onPath.has(v))) for (const o of node.outputs) if (isFloat(o.dtype)) onPath.add(o);
  }
  const unreached = wrt.filter((v) => !onPath.has(loss) || (v !== loss && !reaches(forward, v, loss)));
  if (unreached.length > 0) throw new Error(`autodiff: the loss does not depend on ${unreached.map((v) => v.name).join(', ')}`);

  const backwardStart = graph.nodes.length;
  const one = graph.scalar(1, loss.dtype);
  const grads = new Map<Value, Value>([[loss, loss.rank === 0 ? one : op.expand(one, loss.shape as number[])]]);
  for (const node of forward.reverse()) {
    const g = grads.get(node.outputs[0]!);
    if (!g || !node.inputs.some((v) => v && onPath.has(v))) continue;
    // a node's further outputs are side results its own rule reads (none may lie on the loss's path)
    if (node.outputs.slice(1).some((o) => grads.has(o))) throw new Error(`autodiff: ${node.opType} ${node.name}: only its first output can carry a gradient`);
    const rule = rules[node.opType];
    if (!rule) throw new Error(`autodiff: no gradient rule for ${node.opType} (node ${node.name})`);
    const local = rule(g, node.inputs as unknown as Inputs, node.outputs[0]!, node);
    node.inputs.forEach((x, i) => {
      if (!x || !onPath.has(x)) return;
      const build = local[i];
      if (!build) throw new Error(`autodiff: ${node.opType} ${node.name} has no gradient for input ${i} (${x.name})`);
      const grad = sumToShape(build(), x, node);
      const previous = grads.get(x);
      grads.set(x, previous ? op.add(previous, grad) : grad);
    });
  }
  if (options.recompute) recomputeSegments(graph, backwardStart, options.recompute, grads, wrt, { keepProducts: options.keepProducts });
  return new Map(wrt.map((v) => [v, grads.get(v)!]));
}

/** Whether `to` is computed from `from` within `nodes`. */
function reaches(nodes: readonly Node[], from: Value, to: Value): boolean {
  const seen = new Set<Value>([from]);
  for (const node of nodes) if (node.inputs.some((v) => v && seen.has(v))) for (const o of node.outputs) seen.add(o);
  return seen.has(to);
}
