/**
 * Runs a DPO round in a worker thread. The worker script is dist/train-worker.cjs beside the running bundle,
 * or src/rounds/trainWorker.ts from the sources (tests, Node 24); $PREFER_TRAIN_WORKER overrides both.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { disableOrtTelemetry } from '../engine/runtime/telemetry.ts';
import type { RoundOptions, RoundResult } from './round.ts';
import type { FromTrainWorker, ToTrainWorker, TrainPhase } from './trainProtocol.ts';
import type { StepMetrics, TrainPlan } from '../dpo/trainer.ts';

export function defaultTrainWorkerScript(): string {
  if (process.env.PREFER_TRAIN_WORKER) return process.env.PREFER_TRAIN_WORKER;
  if (typeof __dirname === 'string') {
    const bundled = join(__dirname, 'train-worker.cjs');
    if (existsSync(bundled)) return bundled;
  }
  return resolve('src/rounds/trainWorker.ts');
}

export interface RoundCallbacks {
  /** The store run the round records into. */
  onRun?(runId: number): void;
  onStep?(metrics: StepMetrics): void;
  onPhase?(phase: TrainPhase): void;
  onPlan?(plan: TrainPlan): void;
  /** Cancels politely: the round stops between steps, checkpoints, and saves what it trained. */
  signal?: AbortSignal;
  /**
   * Tests only: the worker dies at its next step boundary — no cancel, no final checkpoint, the store run left
   * 'running' — as a killed process would. (Terminating the thread mid-step aborts the whole process: ONNX
   * Runtime calls back into the torn-down thread.)
   */
  crash?: AbortSignal;
}

export async function runRoundInWorker(
  options: RoundOptions,
  callbacks: RoundCallbacks = {},
  script = defaultTrainWorkerScript(),
): Promise<RoundResult> {
  if (!existsSync(script)) throw new Error(`training worker script not found: ${script}`);
  // the worker's ONNX Runtime reads the real environment, which only this thread can set
  disableOrtTelemetry();
  const worker = new Worker(script);
  const cancel = () => worker.postMessage({ type: 'cancel' } satisfies ToTrainWorker);
  const crash = () => worker.postMessage({ type: 'crash' } satisfies ToTrainWorker);
  try {
    return await new Promise<RoundResult>((resolvePromise, reject) => {
      worker.on('message', (m: FromTrainWorker) => {
        if (m.type === 'run') callbacks.onRun?.(m.runId);
        else if (m.type === 'step') callbacks.onStep?.(m.metrics);
        else if (m.type === 'phase') callbacks.onPhase?.(m.phase);
        else if (m.type === 'plan') callbacks.onPlan?.(m.plan);
        else if (m.type === 'done') resolvePromise(m.result);
        else reject(new Error(m.message));
      });
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`training worker exited (${code}) before finishing`)));
      if (callbacks.signal?.aborted) cancel();
      callbacks.signal?.addEventListener('abort', cancel, { once: true });
      callbacks.crash?.addEventListener('abort', crash, { once: true });
      worker.postMessage({ type: 'start', options } satisfies ToTrainWorker);
    });
  } finally {
    callbacks.signal?.removeEventListener('abort', cancel);
    callbacks.crash?.removeEventListener('abort', crash);
    await worker.terminate();
  }
}
