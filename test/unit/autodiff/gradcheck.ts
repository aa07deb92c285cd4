/**
 * Gradient check through real ONNX Runtime sessions: build a forward graph, autodiff it, lower and serialize
 * it, run it once for the analytic gradients, then compare every element against central finite differences
 * of the same session's loss. The loss is Σ y·R with a fixed random R, so each output element carries a
 * different upstream gradient.
 */
import * as ort from 'onnxruntime-node';
import { gradients } from '../../../src/engine/graph/autodiff.ts';
import type { GradientRules } from '../../../src/engine/graph/gradients.ts';
import { type DType, type Value, Graph } from '../../../src/engine/graph/ir.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import * as op from '../../../src/engine/graph/ops.ts';

export type FloatType = 'float32' | 'float64';

export interface CheckInput {
  shape: number[];
  /** Float data, or int64 indices, or booleans. */
  data: ArrayLike<number> | bigint[] | boolean[];
  dtype?: DType;
}

export interface GradientCase {
  inputs: Record<string, CheckInput>;
  /** Inputs to differentiate and perturb. */
  wrt: string[];
  build(inputs: Record<string, Value>, graph: Graph): Value;
  /** float64 unless the op has no float64 CPU kernel. */
  dtype?: FloatType;
  step?: number;
  rules?: GradientRules;
}

export interface GradientReport {
  maxRelError: number;
  worst: string;
  checked: number;
}

/** A deterministic uniform sample in [lo, hi). */
export function uniform(n: number, seed: number, lo = -1, hi = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (hi - lo) * (s / 2 ** 32);
  });
}

function toOrt(input: CheckInput, floatType: FloatType, values?: Float64Array): ort.Tensor {
  const dtype = input.dtype ?? floatType;
  if (dtype === 'int64') return new ort.Tensor('int64', BigInt64Array.from(input.data as bigint[]), input.shape);
  if (dtype === 'bool') return new ort.Tensor('bool', Uint8Array.from(input.data as boolean[], (b) => (b ? 1 : 0)), input.shape);
  const data = values ?? Float64Array.from(input.data as ArrayLike<number>);
  return new ort.Tensor(dtype as FloatType, dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data), input.shape);
}

/** |fd − analytic| / max(|fd|, |analytic|, 1e-3): relative, with near-zero gradients compared at 1e-9 absolute. */
export function relativeError(fd: number, analytic: number): number {
  return Math.abs(fd - analytic) / Math.max(Math.abs(fd), Math.abs(analytic), 1e-3);
}

export async function gradientCheck(c: GradientCase): Promise<GradientReport> {
  const floatType = c.dtype ?? 'float64';
  const graph = new Graph('gradcheck');
  const values: Record<string, Value> = {};
  for (const [name, input] of Object.entries(c.inputs)) values[name] = graph.input(name, input.dtype ?? floatType, input.shape);
  const y = c.build(values, graph);
  const count = y.shape.reduce<number>((p, d) => p * (d as number), 1);
  const weights = graph.constant({ dtype: y.dtype, shape: y.shape as number[], data: (y.dtype === 'float32' ? Float32Array : Float64Array).from(uniform(count, 99, 0.5, 1.5)) });
  const weighted = op.mul(y, weights);
  const loss = y.rank === 0 ? weighted : op.reduceSum(weighted, y.shape.map((_, i) => i), false);
  return checkGraphGradients(graph, loss, c.wrt, c.inputs, { floatType, step: c.step, rules: c.rules });
}

export interface GraphCheckOptions {
  floatType?: FloatType;
  step?: number;
  rules?: GradientRules;
  /** Check at most this many elements per wrt tensor (spread evenly); all when absent. */
  samplesPerTensor?: number;
}

/** Differentiates `loss` of an already built graph wrt the named inputs and checks against finite differences. */
export async function checkGraphGradients(
  graph: Graph,
  scalarLoss: Value,
  wrtNames: string[],
  inputs: Record<string, CheckInput>,
  options: GraphCheckOptions = {},
): Promise<GradientReport> {
  const floatType = options.floatType ?? 'float64';
  const loss = scalarLoss.dtype === floatType ? scalarLoss : op.cast(scalarLoss, floatType);
  const wrt = wrtNames.map((n) => {
    const v = graph.inputs.find((i) => i.name === n);
    if (!v) throw new Error(`gradient check: no graph input ${n}`);
    return v;
  });
  const grads = gradients(graph, loss, wrt, options.rules);
  if (!graph.outputs.includes(loss)) graph.output(loss, 'loss');
  wrtNames.forEach((n, i) => graph.output(grads.get(wrt[i]!)!, `grad_${n}`));

  // float64: ORT's extended fusions (x·sigmoid(x) → QuickGelu) have float-only kernels
  const session = await ort.InferenceSession.create(serialize(lower(graph, 'cpu'), 'embedded').model, {
    graphOptimizationLevel: floatType === 'float64' ? 'basic' : 'all',
  });
  try {
    const feeds = (override?: [string, Float64Array]): Record<string, ort.Tensor> =>
      Object.fromEntries(Object.entries(inputs).map(([n, input]) => [n, toOrt(input, floatType, override?.[0] === n ? override[1] : undefined)]));
    const base = await session.run(feeds());
    const lossAt = async (name: string, data: Float64Array) => Number((await session.run(feeds([name, data])))[loss.name]!.data[0]);
    const h = options.step ?? (floatType === 'float64' ? 1e-5 : 1e-2);
    const report: GradientReport = { maxRelError: 0, worst: '', checked: 0 };
    for (const name of wrtNames) {
      const analytic = base[`grad_${name}`]!.data as Float32Array | Float64Array;
      const x = Float64Array.from(inputs[name]!.data as ArrayLike<number>);
      const stride = Math.max(1, Math.floor(x.length / (options.samplesPerTensor ?? x.length)));
      for (let i = 0; i < x.length; i += stride) {
        const saved = x[i]!;
        x[i] = saved + h;
        const plus = await lossAt(name, x);
        x[i] = saved - h;
        const minus = await lossAt(name, x);
        x[i] = saved;
        const fd = (plus - minus) / (2 * h);
        const err = relativeError(fd, analytic[i]!);
        report.checked++;
        if (!(err <= report.maxRelError)) {
          report.maxRelError = Number.isNaN(err) ? Infinity : err;
          report.worst = `${name}[${i}]: finite difference ${fd}, autodiff ${analytic[i]}`;
        }
      }
    }
    return report;
  } finally {
    await session.release();
  }
}
