import * as path from 'node:path';
import * as vscode from 'vscode';
import type { DpoLossType } from '../../dpo/losses.ts';
import { type RoundResult, defaultTraining } from '../../dpo/round.ts';
import { runRoundInWorker } from '../../dpo/trainWorkerClient.ts';
import type { PairFilter } from '../../store/store.ts';
import { configuredModelDir } from '../compare/sources.ts';
import type { Services } from '../services.ts';
import type { StoreAccess } from '../storeAccess.ts';
import { DashboardPanel } from './dashboardPanel.ts';

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
}

const DEFAULTS: RoundRequest = { range: 'all', loss: 'sigmoid', beta: 0.1, epochs: 1 };

function filterFor(range: RoundRequest['range'], store: StoreAccess): PairFilter {
  if (range === 'last-week') return { since: new Date(Date.now() - 7 * 86_400_000).toISOString() };
  if (range === 'since-adapter') {
    const active = store.get().activeAdapter();
    return active ? { since: active.createdAt } : {};
  }
  return {};
}

async function askRequest(store: StoreAccess): Promise<RoundRequest | undefined> {
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
  if (!quick.custom) return DEFAULTS;
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

export function registerTrainCommands({ context, store, log, onChanged }: Services): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(
      'prefer.trainDpoRound',
      async (preset?: RoundRequest): Promise<RoundResult | undefined> => {
        const modelDir = configuredModelDir(context);
        if (!modelDir) {
          void vscode.window
            .showWarningMessage('Prefer: choose a model before training.', 'Select Model')
            .then((a) => a && vscode.commands.executeCommand('prefer.selectModel'));
          return undefined;
        }
        const request = preset ?? (await askRequest(store));
        if (!request) return undefined;
        const filter = filterFor(request.range, store);
        const pairs = store.get().countPairs(filter);
        if (pairs === 0) {
          void vscode.window.showWarningMessage(
            'Prefer: there are no preference pairs to train on yet. Compare some completions first.',
          );
          return undefined;
        }
        const training = defaultTraining({
          loss: {
            type: request.loss,
            beta: request.beta,
            labelSmoothing: request.loss === 'robust' ? 0.1 : 0,
          },
          epochs: request.epochs,
          ...request.training,
        });
        const outDir = path.join(
          context.globalStorageUri.fsPath,
          'adapters',
          new Date().toISOString().replace(/[:.]/g, '-'),
        );
        const steps =
          Math.ceil((pairs * (1 - training.evalFraction)) / training.pairsPerStep) * training.epochs;
        const dashboard = new DashboardPanel(context, log);
        dashboard.post({
          type: 'start',
          title: `Prefer: DPO round on ${path.basename(modelDir)}`,
          totalSteps: steps,
          details: `${pairs} pairs (${request.range}) · ${request.loss} loss · β ${request.beta} · ${request.epochs} epoch(s) · LoRA r ${training.lora.rank}`,
        });
        log.info(`training: ${pairs} pairs, ${JSON.stringify(request)} → ${outDir}`);
        const previous = store.get().activeAdapter();
        try {
          const result = await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Notification, title: 'Prefer: training', cancellable: true },
            (progress, token) => {
              const controller = new AbortController();
              token.onCancellationRequested(() => controller.abort());
              dashboard.onDidRequestCancel(() => controller.abort());
              dashboard.panel.onDidDispose(() => controller.abort());
              return runRoundInWorker(
                { modelDir, outDir, database: store.databasePath, filter, training },
                {
                  signal: controller.signal,
                  onPhase: (phase, detail) => {
                    dashboard.post({ type: 'phase', text: `${phase}: ${detail}` });
                    progress.report({ message: phase });
                  },
                  onStep: (m) => {
                    const { step, epoch: _epoch, ...metrics } = m;
                    dashboard.post({ type: 'metrics', split: 'train', step, metrics });
                    progress.report({
                      message: `step ${step} of ${steps}, loss ${m.loss.toFixed(3)}`,
                      increment: 100 / steps,
                    });
                  },
                },
              );
            },
          );
          if (result.eval)
            dashboard.post({ type: 'metrics', split: 'eval', step: result.steps, metrics: result.eval });
          onChanged();
          const accuracy = result.eval
            ? `, held-out accuracy ${result.eval['rewards/accuracies'].toFixed(2)}`
            : '';
          if (result.cancelled) {
            dashboard.post({
              type: 'done',
              text: `Cancelled after ${result.steps} steps; the partial adapter is saved as v${result.version} but not activated.`,
            });
            void vscode.window.showInformationMessage(
              `Prefer: training cancelled after ${result.steps} steps.`,
            );
            return result;
          }
          dashboard.post({
            type: 'done',
            text: `Done: adapter v${result.version} after ${result.steps} steps${accuracy}.`,
          });
          if (request.keepBase || result.adapterId === undefined) return result;
          store.get().activateAdapter(result.adapterId);
          onChanged();
          void vscode.window
            .showInformationMessage(
              `Prefer: adapter v${result.version} is now active${accuracy}.`,
              'Keep the previous model',
            )
            .then((a) => {
              if (!a) return;
              store.get().activateAdapter(previous?.id);
              onChanged();
            });
          return result;
        } catch (e) {
          const message = (e as Error).message;
          dashboard.post({ type: 'error', text: `Training failed: ${message}` });
          log.error(`training failed: ${message}`);
          void vscode.window
            .showErrorMessage(`Prefer: training failed: ${message}`, 'Show Log')
            .then((a) => a && log.show());
          return undefined;
        }
      },
    ),
  );
}
