/** Messages between the engine worker thread and its client. */
import type { CompletionRequest, EngineOptions, EngineStartup } from './engine.ts';
import type { SampleResult } from './sampler.ts';

export type ToWorker =
  | { type: 'open'; options: EngineOptions }
  | { type: 'complete'; id: number; request: CompletionRequest }
  | { type: 'cancel'; id: number }
  | { type: 'close' };

export type FromWorker =
  | { type: 'opened'; startup: EngineStartup }
  | { type: 'text'; id: number; index: number; text: string }
  | { type: 'result'; id: number; result: SampleResult }
  | { type: 'error'; id: number | null; message: string }
  | { type: 'closed' };
