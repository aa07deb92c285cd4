/**
 * ONNX Runtime sessions over training graphs (DPO steps, pretraining steps, the AdamW update): the session
 * options they share, opening one from a graph, and the feeds and fetches every trainer writes.
 */
import * as ort from 'onnxruntime-node';
import type { Graph } from '../engine/graph/ir.ts';
import { lower } from '../engine/graph/lower.ts';
import { serialize, writeModel } from '../engine/graph/onnx.ts';

export type TrainDevice = 'cpu' | 'webgpu';

/** Execution provider and threads of a training session. */
export function sessionOptions(device: TrainDevice, threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [device],
    intraOpNumThreads: threads,
    // a node the WebGPU provider cannot run must fail, not fall back to CPU silently
    ...(device === 'webgpu' ? { extra: { session: { disable_cpu_ep_fallback: '1' } } } : {}),
  };
}

/**
 * Options for sessions over training graphs: no memory pattern. With it, the runtime lays out every
 * intermediate tensor of a run in one planned block from the second run on; measured on the step graph at
 * length 512 (SmolLM2-135M shapes, CPU, bench:train), that raised the peak from 2.0 to 2.9 GB for no faster step.
 */
export const trainingSessionOptions = { enableMemPattern: false } as const;

/**
 * A session over `graph` lowered for the device, its weights fed as inputs; written to `file` when given
 * (to be looked at or reused), else handed over in memory.
 */
export async function openGraphSession(graph: Graph, options: { device: TrainDevice; threads: number; file?: string }): Promise<ort.InferenceSession> {
  const lowered = lower(graph, options.device);
  const { model } = options.file ? writeModel(lowered, options.file, 'inputs') : serialize(lowered, 'inputs');
  return ort.InferenceSession.create(model, { ...sessionOptions(options.device, options.threads), ...trainingSessionOptions });
}

export const float32Feed = (data: Float32Array, shape: readonly number[]) => new ort.Tensor('float32', data, shape);
export const scalarFeed = (value: number) => new ort.Tensor('float32', Float32Array.of(value), []);
/** The value of a one-element output. */
export const scalarOf = (t: ort.Tensor | undefined) => Number((t!.data as Float32Array)[0]);
