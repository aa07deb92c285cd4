import * as vscode from 'vscode';
import type { DpoLossType } from '../../dpo/losses.ts';
import type { defaultTraining } from '../../dpo/round.ts';
import type { PairFilter } from '../../store/store.ts';
import type { StoreAccess } from '../storeAccess.ts';

/** What a round trains on and how; the palette asks for it, tests and keybindings may pass it. */
export interface RoundRequest {
  range: 'all' | 'since-adapter' | 'last-week';
  loss: DpoLossType;
  beta: number;
  epochs: number;
  /** Keep the base model active afterwards instead of the new adapter. */
  keepBase?: boolean;
  /** Overrides for the trainer (tests use small ranks and lengths). */
  training?: Partial<ReturnType<typeof defaultTraining>>;
  /**
   * Tests only: after this step the training worker dies (no final save, the run left running) as in a crash,
   * or the round is cancelled as from the progress notification.
   */
  simulate?: { crashAfterStep?: number; cancelAfterStep?: number };
}

export const DEFAULT_REQUEST: RoundRequest = { range: 'all', loss: 'sigmoid', beta: 0.1, epochs: 1 };

export function filterFor(range: RoundRequest['range'], store: StoreAccess): PairFilter {
  if (range === 'last-week') return { since: new Date(Date.now() - 7 * 86_400_000).toISOString() };
  if (range === 'since-adapter') {
    const active = store.get().activeAdapter();
    return active ? { since: active.createdAt } : {};
  }
  return {};
}

export async function askRequest(store: StoreAccess): Promise<RoundRequest | undefined> {
  const count = (range: RoundRequest['range']) => store.get().countPairs(filterFor(range, store));
  const quick = await vscode.window.showQuickPick(
    [
      {
        label: `$(play) Train with defaults`,
        description: `all ${count('all')} pairs · sigmoid loss · β 0.1 · 1 epoch`,
        custom: false,
      },
      { label: '$(settings) Choose data, loss, β and epochs…', custom: true },
    ],
    { title: 'Prefer: Train DPO Round' },
  );
  if (!quick) return undefined;
  if (!quick.custom) return DEFAULT_REQUEST;
  const range = await vscode.window.showQuickPick(
    [
      { label: 'All pairs', description: `${count('all')} pairs`, range: 'all' as const },
      {
        label: 'Since the active adapter',
        description: `${count('since-adapter')} pairs`,
        range: 'since-adapter' as const,
      },
      { label: 'Last 7 days', description: `${count('last-week')} pairs`, range: 'last-week' as const },
    ],
    { title: 'Prefer: train on' },
  );
  if (!range) return undefined;
  const loss = await vscode.window.showQuickPick(
    [
      { label: 'sigmoid', description: 'DPO (default)' },
      { label: 'robust', description: 'DPO robust to flipped labels (label smoothing 0.1)' },
      { label: 'ipo', description: 'IPO: squared loss on length-normalized log-ratios' },
      { label: 'hinge', description: 'SLiC hinge loss' },
    ],
    { title: 'Prefer: loss' },
  );
  if (!loss) return undefined;
  const beta = await vscode.window.showInputBox({
    title: 'Prefer: β (how far the adapter may move from the base model)',
    value: '0.1',
    validateInput: (v) => (Number(v) > 0 && Number.isFinite(Number(v)) ? undefined : 'a positive number'),
  });
  if (!beta) return undefined;
  const epochs = await vscode.window.showQuickPick(['1', '2', '3', '5'], { title: 'Prefer: epochs' });
  if (!epochs) return undefined;
  return { range: range.range, loss: loss.label as DpoLossType, beta: Number(beta), epochs: Number(epochs) };
}
