/**
 * What every run of a round shares: examples grouped into batches of one bucket length (static shapes), the
 * sessions compiled once per (graph, batch shape) and fed the same base weights, and a packed batch's feeds.
 */
import * as ort from 'onnxruntime-node';
import type { Graph } from '../engine/graph/ir.ts';
import { lower } from '../engine/graph/lower.ts';
import { serialize } from '../engine/graph/onnx.ts';
import { trainingSessionOptions } from '../train/session.ts';
import type { DeviceState } from './deviceState.ts';
import type { PackedBatch } from './examples.ts';
import type { ExampleUnit } from './losses.ts';
import type { GraphKind, TrainHooks, TrainOptions } from './trainer.ts';
import type { BucketShape } from './trainingGraph.ts';

export interface Batch {
  indices: number[];
  length: number;
}

/** What batching examples into (examples, length) buckets takes of the round's options. */
export type BucketOptions = Pick<TrainOptions, 'pairsPerStep' | 'lengthStep' | 'maxLength' | 'headChunks' | 'baseWeights' | 'recompute'>;

/** The graph shape of a batch whose examples take `rowsPerExample` rows each (a pair two, an unpaired example one). */
export function bucketShape(b: Batch, options: BucketOptions, rowsPerExample: number): BucketShape {
  const rows = rowsPerExample * b.indices.length;
  return {
    rows,
    length: b.length,
    headChunks: Math.min(options.headChunks ?? 1, rows * b.length),
    ...(options.baseWeights ? { baseWeights: options.baseWeights } : {}),
    ...(options.recompute === 'layers' ? { keepProducts: false } : {}),
  };
}

/** Batches of up to `pairsPerStep` examples of one bucket length each. */
export function batchesOf(indices: readonly number[], options: BucketOptions, lengthOf: (i: number) => number): Batch[] {
  const buckets = new Map<number, number[]>();
  for (const i of indices) {
    const len = lengthOf(i);
    buckets.set(len, [...(buckets.get(len) ?? []), i]);
  }
  const batches: Batch[] = [];
  for (const [length, members] of [...buckets].sort((a, b) => a[0] - b[0])) {
    for (let k = 0; k < members.length; k += options.pairsPerStep) batches.push({ indices: members.slice(k, k + options.pairsPerStep), length });
  }
  return batches;
}

/** Sessions per (graph kind, pairs, length), all fed the same base weight tensors (device.baseFeeds). */
export class SessionCache {
  private readonly sessions = new Map<string, ort.InferenceSession>();
  private readonly device: DeviceState;
  private readonly hooks: TrainHooks;
  private readonly unit: ExampleUnit;

  constructor(device: DeviceState, hooks: TrainHooks, unit: ExampleUnit = 'pair') {
    this.device = device;
    this.hooks = hooks;
    this.unit = unit;
  }

  async get(kind: GraphKind, b: Batch, build: () => Graph): Promise<ort.InferenceSession> {
    const key = `${kind}:${b.indices.length}x${b.length}`;
    const found = this.sessions.get(key);
    if (found) return found;
    this.hooks.onPhase?.({ kind: 'compile', graph: kind, pairs: b.indices.length, tokens: b.length, unit: this.unit });
    const graph = lower(build(), this.device.device);
    const { model, fedWeights } = serialize(graph, 'inputs');
    await this.device.addBaseWeights(fedWeights);
    // no memory pattern: it keeps every run at its largest layout (trainingSessionOptions)
    const session = await ort.InferenceSession.create(model, { ...this.device.sessionOptions(graph.outputs.map((v) => v.name)), ...trainingSessionOptions });
    this.sessions.set(key, session);
    return session;
  }

  /** Releases the sessions of one kind (a phase that is over), and with them the memory their runs held. */
  async releaseKind(kind: GraphKind): Promise<void> {
    for (const [key, s] of this.sessions) {
      if (!key.startsWith(`${kind}:`)) continue;
      await s.release();
      this.sessions.delete(key);
    }
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await s.release();
    this.sessions.clear();
  }
}

/** The token inputs of a packed batch, with as many rows as it packed. */
export function batchFeeds(batch: PackedBatch): Record<string, ort.Tensor> {
  const rows = batch.inputIds.length / batch.length;
  return {
    input_ids: new ort.Tensor('int64', batch.inputIds, [rows, batch.length]),
    targets: new ort.Tensor('int64', batch.targets, [rows * batch.length]),
    completion_mask: new ort.Tensor('float32', batch.completionMask, [rows, batch.length]),
  };
}

