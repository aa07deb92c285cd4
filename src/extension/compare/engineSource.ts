import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Device } from '../../engine/runtime/providers.ts';
import type { WeightChoice } from '../../engine/sample/engine.ts';
import { EngineWorker } from '../../engine/sample/workerClient.ts';
import type { CandidateInput } from '../../store/store.ts';
import type { CompletionRequest, CompletionSource, CompletionStream } from './completionSource.ts';

export interface EngineSettings {
  modelDir: string;
  /** The active adapter, merged into the base weights at load; undefined samples the base model. */
  adapter: { id: number; version: number; dir: string } | undefined;
  device: Device;
  weights: WeightChoice;
  seed: number | undefined;
}

/**
 * Candidates from the local model: the engine runs in a worker thread (dist/engine-worker.cjs), so sampling
 * never blocks the extension host. The worker starts on first use and is kept for the next prompts.
 */
export class EngineSource implements CompletionSource, vscode.Disposable {
  readonly label: string;
  readonly settings: EngineSettings;
  private worker: Promise<EngineWorker> | undefined;
  private readonly log: vscode.LogOutputChannel;

  constructor(settings: EngineSettings, log: vscode.LogOutputChannel) {
    this.settings = settings;
    this.log = log;
    this.label =
      path.basename(settings.modelDir) + (settings.adapter ? ` + adapter v${settings.adapter.version}` : '');
  }

  private start(): Promise<EngineWorker> {
    this.worker ??= Promise.resolve(
      vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: `Prefer: loading ${this.label}` },
        () =>
          EngineWorker.start({
            modelDir: this.settings.modelDir,
            device: this.settings.device,
            weights: this.settings.weights,
            ...(this.settings.adapter ? { adapterDir: this.settings.adapter.dir } : {}),
          }),
      ),
    ).then(
      (worker) => {
        const s = worker.startup;
        this.log.info(
          `model ${this.settings.modelDir} on ${s.device}, weights ${s.weights}: ${s.compiled ? `compiled in ${Math.round(s.compile_ms)} ms` : 'compiled graph from cache'}, ready in ${Math.round(s.total_ms)} ms`,
        );
        if (s.fallback) {
          this.log.warn(s.fallback);
          void vscode.window.showWarningMessage(`Prefer: ${s.fallback}`);
        }
        return worker;
      },
      (e: unknown) => {
        this.worker = undefined;
        throw new Error(`could not load the model in ${this.settings.modelDir}: ${(e as Error).message}`);
      },
    );
    return this.worker;
  }

  async sample(
    request: CompletionRequest,
    stream: CompletionStream,
    token: vscode.CancellationToken,
  ): Promise<CandidateInput[]> {
    const worker = await this.start();
    const controller = new AbortController();
    const cancel = token.onCancellationRequested(() => controller.abort());
    const seed = this.settings.seed ?? Math.floor(Math.random() * 2 ** 31);
    const { prompt } = request;
    try {
      const result = await worker.complete(
        {
          prefix: prompt.prefix,
          suffix: prompt.suffix ?? '',
          n: request.n,
          maxTokens: request.maxTokens,
          temperature: request.temperature,
          seed,
        },
        { onText: (i, text) => stream.onDelta(i, text), signal: controller.signal },
      );
      if (result.cancelled) throw new Error('generation cancelled');
      result.candidates.forEach((_, i) => stream.onDone(i));
      const t = result.timing;
      this.log.info(
        `sampled ${request.n} × ≤${request.maxTokens} tokens: prefill ${Math.round(t.prefill_ms)} ms, first token ${Math.round(t.first_token_ms)} ms, ${t.decode_tok_s.toFixed(1)} tok/s`,
      );
      return result.candidates.map((c) => ({
        text: c.text,
        modelId: path.basename(this.settings.modelDir),
        adapterId: this.settings.adapter?.id,
        tokenCount: c.tokens,
        logprob: c.logprob,
        seed,
        samplingParams: {
          temperature: request.temperature,
          maxTokens: request.maxTokens,
          device: this.settings.device,
          finish: c.finish,
        },
      }));
    } finally {
      cancel.dispose();
    }
  }

  dispose(): void {
    void this.worker?.then(
      (w) => w.close(),
      () => undefined,
    );
    this.worker = undefined;
  }
}
