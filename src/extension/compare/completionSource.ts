import type * as vscode from 'vscode';
import { placeholderCandidates } from '../../engine/sample/placeholder.ts';
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

/** Where candidates come from: the engine's sampler, or the walking skeleton's placeholder. */
export interface CompletionSource {
  readonly label: string;
  sample(request: CompletionRequest, stream: CompletionStream, token: vscode.CancellationToken): Promise<CandidateInput[]>;
}

/** Fixed texts until the engine's sampler is wired in; they arrive whole, not streamed. */
export class PlaceholderSource implements CompletionSource {
  readonly label = 'placeholder';

  async sample(request: CompletionRequest, stream: CompletionStream): Promise<CandidateInput[]> {
    const candidates = placeholderCandidates(request.n);
    candidates.forEach((c, i) => {
      stream.onDelta(i, c.text);
      stream.onDone(i);
    });
    return candidates;
  }
}
