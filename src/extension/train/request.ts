import * as vscode from 'vscode';
import type { DpoLossType } from '../../dpo/losses.ts';
import { DEFAULT_LOSS, type NumberOption, type RoundTraining, TRAINING_OPTIONS, lossChoices } from '../../rounds/options.ts';
import { type PairRange, pairFilter } from '../../rounds/plan.ts';
import type { StoreAccess } from '../storeAccess.ts';

/** What a round trains on and how; the palette asks for it, tests and keybindings may pass it. */
export interface RoundRequest {
  range: PairRange;
  /** One loss: combinations (`--loss a,b --loss-weights …`) are the command line's. */
  loss: DpoLossType;
  beta: number;
  epochs: number;
  /** Keep the base model active afterwards instead of the new adapter. */
  keepBase?: boolean;
  /** Overrides for the trainer (tests use small ranks and lengths). */
  training?: Partial<RoundTraining>;
  /**
   * Tests only: after this step the training worker dies (no final save, the run left running) as in a crash,
   * or the round is cancelled as from the progress notification.
   */
  simulate?: { crashAfterStep?: number; cancelAfterStep?: number };
}

const { loss: LOSS, beta: BETA, epochs: EPOCHS } = TRAINING_OPTIONS;

export const DEFAULT_REQUEST: RoundRequest = { range: 'all', loss: DEFAULT_LOSS, beta: BETA.default!, epochs: EPOCHS.default! };

/** Why `text` is not a value `option` takes, or undefined when it is one. */
function numberProblem(option: NumberOption, text: string): string | undefined {
  const n = Number(text);
  return text.trim() !== '' && Number.isFinite(n) && option.accepts(n) ? undefined : option.what;
}

export async function askRequest(store: StoreAccess): Promise<RoundRequest | undefined> {
  const count = (range: PairRange) => store.get().countPairs(pairFilter(range, store.get()));
  const { loss, beta, epochs } = DEFAULT_REQUEST;
  const quick = await vscode.window.showQuickPick(
    [
      {
        label: `$(play) Train with defaults`,
        description: `all ${count('all')} pairs · ${loss} loss · β ${beta} · ${epochs} epoch${epochs === 1 ? '' : 's'}`,
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
  const pickedLoss = await vscode.window.showQuickPick(
    lossChoices().map(({ loss: name, description }) => ({ label: name, description, loss: name })),
    { title: `Prefer: ${LOSS.picker!.title}` },
  );
  if (!pickedLoss) return undefined;
  const pickedBeta = await vscode.window.showInputBox({
    title: `Prefer: ${BETA.picker!.title}`,
    value: String(BETA.default),
    validateInput: (v) => numberProblem(BETA, v),
  });
  if (!pickedBeta) return undefined;
  const pickedEpochs = await vscode.window.showQuickPick(EPOCHS.picker!.choices!.map(String), {
    title: `Prefer: ${EPOCHS.picker!.title}`,
  });
  if (!pickedEpochs) return undefined;
  return { range: range.range, loss: pickedLoss.loss, beta: Number(pickedBeta), epochs: Number(pickedEpochs) };
}
