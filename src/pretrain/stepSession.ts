/**
 * A session over the pretraining graph (lossGraph.ts), written with the weights as graph inputs: the trainer
 * feeds its current Float32Arrays (zero-copy) and gets the loss and, for a training session, one gradient per
 * weight.
 */
import * as ort from 'onnxruntime-node';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig, WeightSource } from '../engine/hf/types.ts';
import { type TrainDevice, float32Feed, openGraphSession, scalarOf } from '../train/session.ts';
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

  static async open(config: ModelConfig, source: WeightSource, options: LossGraphOptions, workDir: string, threads = 0, device: TrainDevice = 'cpu'): Promise<StepSession> {
    const built = lossGraph(config, source, options);
    mkdirSync(workDir, { recursive: true });
    const file = join(workDir, `${built.graph.name}-b${options.batch}-t${options.seq}-${device}.onnx`);
    return new StepSession(await openGraphSession(built.graph, { device, threads, file }), built.weights, options);
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
      feeds[w.name] = float32Feed(value, w.shape);
    }
    const out = await this.session.run(feeds);
    const grads = new Map<string, Float32Array>();
    if (this.options.withGradients) for (const w of this.weights) grads.set(w.name, out[gradientName(w.name)]!.data as Float32Array);
    return { loss: scalarOf(out.loss), grads };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
