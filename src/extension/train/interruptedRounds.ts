/** The editor's offer to resume a round that was interrupted (src/rounds/resume.ts finds them). */
import * as vscode from 'vscode';
import { type InterruptedRound, discardRound } from '../../rounds/resume.ts';
import type { Store } from '../../store/store.ts';

export type ResumeChoice = { kind: 'resume'; round: InterruptedRound } | { kind: 'new' };

/**
 * Offers the interrupted rounds of `modelDir` before a new round is set up: resume one, start a new round, or
 * discard them (then a new round is set up). Undefined when the user dismisses the pick.
 */
export async function offerInterruptedRounds(
  rounds: readonly InterruptedRound[],
  store: Store,
  log: vscode.LogOutputChannel,
): Promise<ResumeChoice | undefined> {
  if (rounds.length === 0) return { kind: 'new' };
  type Item = vscode.QuickPickItem & { choice: 'resume' | 'new' | 'discard'; round?: InterruptedRound };
  const items: Item[] = [
    ...rounds.map((round) => ({
      label: `$(debug-continue) Resume round ${round.runId} (step ${round.step} of ${round.record.totalSteps ?? '?'})`,
      description: `${round.record.pairIds?.length ?? '?'} pairs · started ${new Date(round.record.startedAt).toLocaleString()}`,
      choice: 'resume' as const,
      round,
    })),
    { label: '$(play) Start a new round', choice: 'new' },
    {
      label:
        rounds.length === 1
          ? '$(trash) Discard the interrupted round'
          : `$(trash) Discard the ${rounds.length} interrupted rounds`,
      description: 'removes the checkpoint; the adapters saved so far stay',
      choice: 'discard',
    },
  ];
  const picked = await vscode.window.showQuickPick(items, {
    title: 'Prefer: Train DPO Round — a round was interrupted',
  });
  if (!picked) return undefined;
  if (picked.choice === 'resume') return { kind: 'resume', round: picked.round! };
  if (picked.choice === 'discard') {
    for (const round of rounds) discardRound(store, round);
    log.info(`training: discarded interrupted rounds ${rounds.map((r) => r.runId).join(', ')}`);
  }
  return { kind: 'new' };
}
