/**
 * The caller's side of the engine worker. The worker script is a parameter because the engine runs from two
 * layouts: TypeScript sources under Node 24 (tests, `node src/cli/cli.ts`) and esbuild's CommonJS bundles
 * (dist/extension.cjs, dist/cli.cjs), where the worker is dist/engine-worker.cjs beside them. Default:
 * $PREFER_ENGINE_WORKER, else engine-worker.cjs next to the running bundle, else
 * src/engine/sample/worker.ts under the current directory.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { disableOrtTelemetry } from '../runtime/telemetry.ts';
import type { CompletionRequest, EngineOptions, EngineStartup } from './engine.ts';
import type { FromWorker, ToWorker } from './protocol.ts';
import type { SampleCallbacks, SampleResult } from './sampler.ts';

export function defaultWorkerScript(): string {
  const fromEnv = process.env.PREFER_ENGINE_WORKER;
  if (fromEnv) return fromEnv;
  // __dirname only exists inside the CommonJS bundles
  if (typeof __dirname === 'string') {
    const bundled = join(__dirname, 'engine-worker.cjs');
    if (existsSync(bundled)) return bundled;
  }
  return resolve('src/engine/sample/worker.ts');
}

/** The worker's error as an Error of the same name, so isInputError still tells the user's input from a failure. */
function workerError(m: { message: string; name: string }): Error {
  const error = new Error(m.message);
  error.name = m.name;
  return error;
}

interface Pending {
  resolve(r: SampleResult): void;
  reject(e: Error): void;
  onText?: SampleCallbacks['onText'];
}

export class EngineWorker {
  readonly startup: EngineStartup;
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  private constructor(worker: Worker, startup: EngineStartup) {
    this.worker = worker;
    this.startup = startup;
    worker.on('message', (m: FromWorker) => this.receive(m));
    worker.on('error', (e) => this.failAll(e));
    worker.on('exit', () => this.failAll(new Error('engine worker exited')));
  }

  static async start(options: EngineOptions, workerScript = defaultWorkerScript()): Promise<EngineWorker> {
    if (!existsSync(workerScript)) throw new Error(`engine worker script not found: ${workerScript} (pass its path or set PREFER_ENGINE_WORKER)`);
    disableOrtTelemetry();
    const worker = new Worker(workerScript);
    const startup = await new Promise<EngineStartup>((ok, fail) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === 'opened') ok(m.startup);
        else if (m.type === 'error') fail(workerError(m));
        else return;
        worker.off('message', onMessage);
      };
      worker.on('message', onMessage);
      worker.once('error', fail);
      worker.postMessage({ type: 'open', options } satisfies ToWorker);
    }).catch(async (e: unknown) => {
      await worker.terminate();
      throw e;
    });
    return new EngineWorker(worker, startup);
  }

  complete(request: CompletionRequest, callbacks: SampleCallbacks = {}): Promise<SampleResult> {
    if (this.closed) return Promise.reject(new Error('engine worker is closed'));
    const id = this.nextId++;
    return new Promise<SampleResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onText: callbacks.onText });
      const signal = callbacks.signal;
      if (signal) {
        const cancel = () => this.worker.postMessage({ type: 'cancel', id } satisfies ToWorker);
        if (signal.aborted) cancel();
        else signal.addEventListener('abort', cancel, { once: true });
      }
      this.worker.postMessage({ type: 'complete', id, request } satisfies ToWorker);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = new Promise<void>((ok) => this.worker.once('exit', () => ok()));
    this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    // a worker stuck in a long step is not waited for beyond a few seconds
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }

  private receive(m: FromWorker): void {
    if (m.type === 'text') this.pending.get(m.id)?.onText?.(m.index, m.text);
    else if (m.type === 'result') this.settle(m.id)?.resolve(m.result);
    else if (m.type === 'error' && m.id !== null) this.settle(m.id)?.reject(workerError(m));
  }

  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    this.pending.delete(id);
    return p;
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}
