import type * as vscode from 'vscode';
import type { CandidateInput, PromptInput } from '../../store/store.ts';

export interface CompletionRequest {
  prompt: PromptInput;
  n: number;
  temperature: number;
  maxTokens: number;
}

/** Streams text as it is generated: `onDelta(i, text)` appends to candidate i, `onDone(i)` closes it. */
export interface CompletionStream {
  onDelta(index: number, text: string): void;
  onDone(index: number): void;
}

/** Where candidates come from (the engine's sampler in a worker thread; see engineSource.ts). */
export interface CompletionSource {
  readonly label: string;
  sample(
    request: CompletionRequest,
    stream: CompletionStream,
    token: vscode.CancellationToken,
  ): Promise<CandidateInput[]>;
}
