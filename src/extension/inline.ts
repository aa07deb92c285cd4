import * as vscode from 'vscode';
import type { CandidateInput, PromptInput } from '../store/store.ts';
import { promptAt } from './compare/slot.ts';
import type { CompletionSources } from './compare/sources.ts';
import type { Services } from './services.ts';

/** Confidence of a judgment inferred from what the user accepted, below an explicit pick's 1.0. */
export const IMPLICIT_CONFIDENCE = 0.5;
const ACCEPTED = 'prefer._inlineAccepted';

interface Offer {
  prompt: PromptInput;
  candidates: CandidateInput[];
}

/**
 * Inline mode (prefer.inlineMode): the sampled candidates as ghost text, cycled with the usual keys
 * (Alt+] / Alt+[). Accepting candidate k stores it as chosen over candidates 0..k−1, the ones cycled past
 * before it (VS Code does not report which ghost texts were seen, and cycling starts at the first).
 */
export function registerInlineMode(
  { context, store, log, onChanged }: Services,
  sources: CompletionSources,
): void {
  let registration: vscode.Disposable | undefined;
  const provider: vscode.InlineCompletionItemProvider = {
    async provideInlineCompletionItems(document, position, context_, token) {
      // Typing triggers automatically: wait for a pause before sampling.
      if (context_.triggerKind === vscode.InlineCompletionTriggerKind.Automatic) {
        await new Promise((r) => setTimeout(r, 400));
        if (token.isCancellationRequested) return undefined;
      }
      const source = sources.get();
      if (!source) return undefined;
      const { prompt } = promptAt(document, position, position);
      const config = vscode.workspace.getConfiguration('prefer');
      try {
        const candidates = await source.sample(
          {
            prompt,
            n: config.get<number>('numCandidates', 4),
            temperature: config.get<number>('temperature', 0.9),
            maxTokens: config.get<number>('maxTokens', 64),
          },
          { onDelta: () => undefined, onDone: () => undefined },
          token,
        );
        const offer: Offer = { prompt, candidates };
        log.debug(`inline: offering ${candidates.length} candidates`);
        return candidates
          .filter((c) => c.text.trim() !== '')
          .map((c, index) => {
            const item = new vscode.InlineCompletionItem(c.text, new vscode.Range(position, position));
            item.command = {
              command: ACCEPTED,
              title: 'Prefer: remember this choice',
              arguments: [offer, index],
            };
            return item;
          });
      } catch (e) {
        if (!token.isCancellationRequested) log.warn(`inline completion failed: ${(e as Error).message}`);
        return undefined;
      }
    },
  };

  const update = () => {
    const on = vscode.workspace.getConfiguration('prefer').get<boolean>('inlineMode', false);
    if (on && !registration)
      registration = vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, provider);
    if (!on && registration) {
      registration.dispose();
      registration = undefined;
    }
  };
  update();
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('prefer.inlineMode') && update()),
    { dispose: () => registration?.dispose() },
    vscode.commands.registerCommand(ACCEPTED, (offer: Offer, index: number) => {
      if (index < 1) return undefined; // nothing was cycled past
      const candidates = offer.candidates.slice(0, index + 1);
      const result = store.get().recordJudgment({
        prompt: offer.prompt,
        candidates,
        outcome: { kind: 'pick', chosenIndex: index },
        source: 'implicit',
        confidence: IMPLICIT_CONFIDENCE,
      });
      log.info(`inline: accepted candidate ${index + 1}; ${result.pairsAdded} implicit pairs`);
      onChanged();
      return result;
    }),
  );
}
