/** Compiling a family's inference graph in memory and opening it, for the model tests. */
import * as ort from 'onnxruntime-node';
import type { ModelConfig, WeightSource } from '../../../src/engine/hf/types.ts';
import { lower } from '../../../src/engine/graph/lower.ts';
import { serialize } from '../../../src/engine/graph/onnx.ts';
import { inferenceGraph } from '../../../src/engine/models/inference.ts';
import { KvDecoder } from '../../../src/engine/runtime/session.ts';

export async function openDecoder(config: ModelConfig, weights: WeightSource, dtype: 'float32' | 'float64' = 'float32'): Promise<KvDecoder> {
  const { model } = serialize(lower(inferenceGraph(config, weights, dtype)), 'embedded');
  // float64: ORT's extended fusions (x·sigmoid(x) → QuickGelu) have float-only kernels
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, graphOptimizationLevel: dtype === 'float64' ? 'basic' : 'all' });
  return new KvDecoder(session, config, dtype);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
