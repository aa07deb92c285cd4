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

/**
 * Blind A/B: the first ⌈n/2⌉ candidates from one source (the base model), the rest from the other (the
 * active adapter). The panel shuffles them together, so the user cannot tell which is which.
 */
export class MixedSource implements CompletionSource {
  readonly label: string;
  private readonly a: CompletionSource;
  private readonly b: CompletionSource;

  constructor(a: CompletionSource, b: CompletionSource) {
    this.a = a;
    this.b = b;
    this.label = `${a.label} vs ${b.label}`;
  }

  async sample(
    request: CompletionRequest,
    stream: CompletionStream,
    token: vscode.CancellationToken,
  ): Promise<CandidateInput[]> {
    const first = Math.ceil(request.n / 2);
    const fromA = await this.a.sample({ ...request, n: first }, stream, token);
    const shifted: CompletionStream = {
      onDelta: (i, text) => stream.onDelta(first + i, text),
      onDone: (i) => stream.onDone(first + i),
    };
    const fromB = await this.b.sample({ ...request, n: request.n - first }, shifted, token);
    return [...fromA, ...fromB];
  }
}
