/**
 * An ONNX Runtime session over the pretraining graph (lossGraph.ts), lowered for the CPU and written with
 * the weights as graph inputs: the trainer feeds its current Float32Arrays (zero-copy) and gets the loss and,
 * for a training session, one gradient per weight.
 */
import * as ort from 'onnxruntime-node';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig, WeightSource } from '../hf/types.ts';
import { lower } from '../graph/lower.ts';
import { writeModel } from '../graph/onnx.ts';
import { type LossGraphOptions, type TrainableWeight, gradientName, lossGraph } from './lossGraph.ts';
import type { Batch } from './batches.ts';

export interface StepResult {
  loss: number;
  /** by weight name; empty for a loss-only session */
  grads: Map<string, Float32Array>;
}

export class StepSession {
  readonly weights: TrainableWeight[];
  readonly options: LossGraphOptions;
  private readonly session: ort.InferenceSession;

  private constructor(session: ort.InferenceSession, weights: TrainableWeight[], options: LossGraphOptions) {
    this.session = session;
    this.weights = weights;
    this.options = options;
  }

  static async open(config: ModelConfig, source: WeightSource, options: LossGraphOptions, workDir: string, threads = 0, device: 'cpu' | 'webgpu' = 'cpu'): Promise<StepSession> {
    const built = lossGraph(config, source, options);
    mkdirSync(workDir, { recursive: true });
    const path = join(workDir, `${built.graph.name}-b${options.batch}-t${options.seq}-${device}.onnx`);
    writeModel(lower(built.graph, device), path, 'inputs');
    const session = await ort.InferenceSession.create(path, {
      executionProviders: [device],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
    return new StepSession(session, built.weights, options);
  }

  /** Runs one batch with the given weight values (by name, graph layout). */
  async run(batch: Batch, values: ReadonlyMap<string, Float32Array>): Promise<StepResult> {
    const { batch: B, seq: T } = this.options;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', batch.inputIds, [B, T]),
      targets: new ort.Tensor('int64', batch.targets, [B * T]),
    };
    for (const w of this.weights) {
      const value = values.get(w.name);
      if (!value) throw new Error(`step session: no value for weight ${w.name}`);
      feeds[w.name] = new ort.Tensor('float32', value, w.shape);
    }
    const out = await this.session.run(feeds);
    const grads = new Map<string, Float32Array>();
    if (this.options.withGradients) for (const w of this.weights) grads.set(w.name, out[gradientName(w.name)]!.data as Float32Array);
    return { loss: (out.loss!.data as Float32Array)[0]!, grads };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
