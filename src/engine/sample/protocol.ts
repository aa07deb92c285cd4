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
  /** `name` keeps an error's kind across the thread boundary (InputError: the user's input, not a failure) */
  | { type: 'error'; id: number | null; message: string; name: string }
  | { type: 'closed' };
