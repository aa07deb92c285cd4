import * as vscode from 'vscode';
import {
  type CandidateInput,
  IMPLICIT_CONFIDENCE,
  offeredFeedback,
  type PromptInput,
} from '../store/store.ts';
import { insertedAt, promptAt } from './compare/slot.ts';
import type { CompletionSources } from './compare/sources.ts';
import type { Services } from './services.ts';

export { IMPLICIT_CONFIDENCE };
const ACCEPTED = 'prefer._inlineAccepted';
/** The source of inline mode's completions judged on their own. */
const FEEDBACK_SOURCE = 'inline';

interface Offer {
  prompt: PromptInput;
  candidates: CandidateInput[];
}

/** The candidate as inserted; the sampler's log-prob and token count describe other text when it was changed. */
function inserted(candidate: CandidateInput, text: string): CandidateInput {
  return text === candidate.text
    ? candidate
    : { ...candidate, text, logprob: undefined, tokenCount: undefined };
}

/** Whether the prompt at a new request is the offer's with part of its first ghost text typed: the user typed along. */
function typedAlong(offer: Offer, prompt: PromptInput): boolean {
  const before = offer.prompt.prefix;
  const first = offer.candidates[0]?.text ?? '';
  return (
    prompt.filePath === offer.prompt.filePath &&
    prompt.prefix.startsWith(before) &&
    first.startsWith(prompt.prefix.slice(before.length))
  );
}

/**
 * Inline mode (prefer.inlineMode): the sampled candidates as ghost text, cycled with the usual keys
 * (Alt+] / Alt+[). Accepting candidate k stores it as chosen over candidates 0..k−1, the ones cycled past
 * before it (VS Code does not report which ghost texts were seen, and cycling starts at the first). Each is
 * also stored on its own: the accepted one desirable, those cycled past undesirable; an offer left for a new
 * request (typing on, Escape, moving away) marks its first ghost text, the one shown, dismissed.
 */
export function registerInlineMode(
  { context, store, log, onChanged }: Services,
  sources: CompletionSources,
): void {
  let registration: vscode.Disposable | undefined;
  /** The last offer shown and not yet accepted or dismissed. */
  let pending: Offer | undefined;
  const recordFeedback = (offer: Offer, acceptedIndex: number | undefined) => {
    try {
      store
        .get()
        .recordFeedback(offeredFeedback(offer.prompt, offer.candidates, acceptedIndex, FEEDBACK_SOURCE));
    } catch (e) {
      log.warn(`inline: could not store feedback: ${(e as Error).message}`);
    }
  };
  const settle = (prompt: PromptInput) => {
    if (pending && !typedAlong(pending, prompt)) {
      recordFeedback(pending, undefined);
      pending = undefined;
    }
  };
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
      settle(prompt);
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
        // Each ghost text is offered, and stored, as the editor inserts it.
        const asInserted = insertedAt(
          document,
          position,
          vscode.window.visibleTextEditors.find((e) => e.document === document),
        );
        const offer: Offer = {
          prompt,
          candidates: candidates
            .filter((c) => c.text.trim() !== '')
            .map((c) => inserted(c, asInserted(c.text))),
        };
        log.debug(`inline: offering ${offer.candidates.length} candidates`);
        if (token.isCancellationRequested || offer.candidates.length === 0) return undefined;
        pending = offer;
        return offer.candidates.map((c, index) => {
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
      // The command's arguments may come back as copies: the offer is the pending one when its prompt is.
      if (pending?.prompt.prefix === offer.prompt.prefix && pending.prompt.filePath === offer.prompt.filePath)
        pending = undefined;
      recordFeedback(offer, index);
      onChanged();
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
