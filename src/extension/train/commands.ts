import * as path from 'node:path';
import * as vscode from 'vscode';
import { exampleUnit } from '../../dpo/losses.ts';
import { describePhase, describeStep, heldOutAccuracy, unreliableMetricsWarning } from '../../rounds/phases.ts';
import { type RoundPlan, checkpointsRoot, pairFilter, planNewRound, planResumedRound } from '../../rounds/plan.ts';
import { interruptAfterCrash, interruptOrphanedRuns, interruptedRounds, roundsOfModel } from '../../rounds/resume.ts';
import type { RoundResult } from '../../rounds/round.ts';
import { RECOMPUTE_CHOICES, type RoundTraining, recomputeFor } from '../../rounds/options.ts';
import { TRAINING_WEIGHT_STORAGES } from '../../engine/models/weights.ts';
import { runRoundInWorker } from '../../rounds/trainWorkerClient.ts';
import { configuredModelDir } from '../compare/sources.ts';
import type { Services } from '../services.ts';
import { DashboardPanel } from './dashboardPanel.ts';
import { offerInterruptedRounds } from './interruptedRounds.ts';
import { type RoundRequest, askRequest } from './request.ts';
import { firstLine } from '../../inputError.ts';

export type { RoundRequest } from './request.ts';

/** A planned round as this command presents it. */
interface EditorRound extends RoundPlan {
  keepBase: boolean;
  simulate?: RoundRequest['simulate'];
}

/** `prefer.training.checkpointEvery`: steps between checkpoints, 0 for none. */
function checkpointEvery(): number {
  const n = vscode.workspace.getConfiguration('prefer').get<number>('training.checkpointEvery', 25);
  return Number.isInteger(n) && n >= 0 ? n : 25;
}

/**
 * `prefer.training.weights` and `prefer.training.recompute`: how the frozen base is held while training and what
 * the backward pass computes again. fp32 and products add nothing to the round.
 */
function baseSettings(): Partial<RoundTraining> {
  const config = vscode.workspace.getConfiguration('prefer');
  const oneOf = <T extends string>(choices: readonly T[], value: string, fallback: T): T =>
    (choices as readonly string[]).includes(value) ? (value as T) : fallback;
  const weights = oneOf(TRAINING_WEIGHT_STORAGES, config.get<string>('training.weights', 'fp32'), 'fp32');
  const recompute = recomputeFor(oneOf(RECOMPUTE_CHOICES, config.get<string>('training.recompute', 'auto'), 'auto'), weights);
  return { ...(weights !== 'fp32' ? { baseWeights: weights } : {}), ...(recompute !== 'products' ? { recompute } : {}) };
}

export function registerTrainCommands(services: Services): void {
  const { context, store, log } = services;
  /** Store runs this window is training now. */
  const live = new Set<number>();

  // off the activation path: the store may be busy in another window
  setTimeout(() => {
    try {
      const marked = interruptOrphanedRuns(store.get());
      if (marked.length > 0) log.info(`training runs ${marked.join(', ')} were left running by a closed window: interrupted`);
    } catch (e) {
      log.warn(`training: could not check for interrupted runs: ${firstLine(e)}`);
    }
  }, 0);

  context.subscriptions.push(
    vscode.commands.registerCommand(
      'prefer.trainDpoRound',
      async (preset?: RoundRequest): Promise<RoundResult | undefined> => {
        const round = await askRound(services, live, preset);
        return round && train(services, live, round);
      },
    ),
  );
}

/** Asks what to train — an interrupted round to resume, or a new round's data and options — and plans it. */
async function askRound(
  { context, store, log }: Services,
  live: ReadonlySet<number>,
  preset: RoundRequest | undefined,
): Promise<EditorRound | undefined> {
  const modelDir = configuredModelDir(context);
  if (!modelDir) {
    void vscode.window
      .showWarningMessage('Prefer: choose a model before training.', 'Select Model')
      .then((a) => a && vscode.commands.executeCommand('prefer.selectModel'));
    return undefined;
  }
  const storage = context.globalStorageUri.fsPath;
  if (!preset) {
    const rounds = await interruptedRounds(checkpointsRoot(storage), store.get(), store.databasePath, live, (m) =>
      log.warn(m),
    );
    const choice = await offerInterruptedRounds(roundsOfModel(rounds, modelDir), store.get(), log);
    if (!choice) return undefined;
    if (choice.kind === 'resume') return { ...planResumedRound(storage, choice.round, checkpointEvery()), keepBase: false };
  }
  const request = preset ?? (await askRequest(store));
  if (!request) return undefined;
  const filter = pairFilter(request.range, store.get());
  const pairs = store.get().countPairs(filter);
  if (pairs === 0) {
    void vscode.window.showWarningMessage(
      'Prefer: there are no preference pairs to train on yet. Compare some completions first.',
    );
    return undefined;
  }
  return {
    ...planNewRound(storage, modelDir, { ...request, filter, pairs, training: { ...baseSettings(), ...request.training } }, checkpointEvery()),
    keepBase: request.keepBase ?? false,
    simulate: request.simulate,
  };
}

/** Runs the round in the worker with the dashboard and a progress notification, then presents how it ended. */
async function train(services: Services, live: Set<number>, plan: EditorRound): Promise<RoundResult | undefined> {
  const { context, store, log } = services;
  const { modelDir, outDir, training } = plan;
  // the trainer's own plan, never the editor's estimate: a total shown once stays (a resumed round recorded it)
  let steps: number | null = plan.resume?.record.totalSteps ?? null;
  const dashboard = new DashboardPanel(context, log);
  dashboard.post({
    type: 'start',
    title: `Prefer: DPO round on ${path.basename(modelDir)}`,
    totalSteps: steps,
    details: plan.details,
  });
  if (plan.resume) {
    for (const { step, metrics } of store.get().trainingSteps(plan.resume.runId, 'train')) {
      if (step <= plan.resume.step) dashboard.post({ type: 'metrics', split: 'train', step, metrics });
    }
  }
  log.info(
    `training: ${plan.details} → ${outDir}${training.checkpoint ? ` (checkpoints in ${training.checkpoint.dir})` : ''}`,
  );
  const previous = store.get().activeAdapter();
  let runId: number | undefined;
  try {
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Prefer: training', cancellable: true },
      (progress, token) => {
        const controller = new AbortController();
        const crash = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        dashboard.onDidRequestCancel(() => controller.abort());
        dashboard.panel.onDidDispose(() => controller.abort());
        return runRoundInWorker(
          { modelDir, outDir, database: store.databasePath, filter: plan.filter, training },
          {
            signal: controller.signal,
            crash: crash.signal,
            onRun: (id) => {
              runId = id;
              live.add(id);
            },
            onPlan: (p) => {
              steps = p.totalSteps;
              const warning = unreliableMetricsWarning(p.trainPairs, p.evalPairs, exampleUnit(training.loss));
              dashboard.post({ type: 'plan', totalSteps: steps, warning });
              if (warning) log.warn(`training: ${warning}`);
              if (p.resumedAfter > 0) progress.report({ increment: (100 * p.resumedAfter) / Math.max(steps, 1) });
            },
            onPhase: (phase) => {
              const text = describePhase(phase);
              dashboard.post({ type: 'phase', text });
              progress.report({ message: text });
            },
            onStep: (m) => {
              const { step, epoch: _epoch, ...metrics } = m;
              const text = describeStep(step, steps);
              dashboard.post({ type: 'metrics', split: 'train', step, metrics });
              dashboard.post({ type: 'phase', text });
              progress.report({
                message: `${text}, loss ${m.loss.toFixed(3)}`,
                ...(steps ? { increment: 100 / steps } : {}),
              });
              if (step === plan.simulate?.crashAfterStep) crash.abort();
              if (step === plan.simulate?.cancelAfterStep) controller.abort();
            },
          },
        );
      },
    );
    presentResult(services, dashboard, plan, result, previous?.id);
    return result;
  } catch (e) {
    await presentFailure(services, dashboard, plan, e, runId);
    return undefined;
  } finally {
    if (runId !== undefined) live.delete(runId);
  }
}

/** A finished or cancelled round: its metrics and outcome; a finished one's adapter is activated (undo offered). */
function presentResult(
  { store, onChanged }: Services,
  dashboard: DashboardPanel,
  plan: EditorRound,
  result: RoundResult,
  previousAdapterId: number | undefined,
): void {
  if (result.eval) dashboard.post({ type: 'metrics', split: 'eval', step: result.steps, metrics: result.eval });
  onChanged();
  const accuracy = result.eval ? `, ${heldOutAccuracy(result.eval['rewards/accuracies'], result.evalPairs)}` : '';
  const warning = unreliableMetricsWarning(result.trainPairs, result.evalPairs, exampleUnit(plan.training.loss));
  const caveat = warning ? ` ${warning}` : '';
  if (result.cancelled) {
    const resumable = plan.training.checkpoint ? ' Run Train DPO Round again to resume it.' : '';
    dashboard.post({
      type: 'done',
      text: `Cancelled after ${result.steps} steps; the partial adapter is saved as v${result.version} but not activated.${resumable}`,
    });
    void vscode.window.showInformationMessage(`Prefer: training cancelled after ${result.steps} steps.${resumable}`);
    return;
  }
  const resumed = result.resumedAfter > 0 ? ` (resumed after step ${result.resumedAfter})` : '';
  dashboard.post({
    type: 'done',
    text: `Done: adapter v${result.version} after ${result.steps} steps${resumed}${accuracy}.${caveat}`,
  });
  if (plan.keepBase || result.adapterId === undefined) return;
  store.get().activateAdapter(result.adapterId);
  onChanged();
  void vscode.window
    .showInformationMessage(`Prefer: adapter v${result.version} is now active${accuracy}.${caveat}`, 'Keep the previous model')
    .then((a) => {
      if (!a) return;
      store.get().activateAdapter(previousAdapterId);
      onChanged();
    });
}

/** A round that failed; one whose worker died is marked interrupted, with where it can resume from. */
async function presentFailure(
  { store, log, onChanged }: Services,
  dashboard: DashboardPanel,
  plan: EditorRound,
  error: unknown,
  runId: number | undefined,
): Promise<void> {
  let message = firstLine(error);
  const dir = plan.training.checkpoint?.dir;
  const interrupted = runId === undefined ? undefined : await interruptAfterCrash(store.get(), runId, dir);
  if (interrupted) {
    message =
      interrupted.step !== undefined
        ? `${message}; run Train DPO Round again to resume from step ${interrupted.step} (checkpoint in ${dir})`
        : `${message}, before its first checkpoint`;
    onChanged();
  }
  dashboard.post({ type: 'error', text: `Training failed: ${message}` });
  log.error(`training failed: ${message}`);
  void vscode.window.showErrorMessage(`Prefer: training failed: ${message}`, 'Show Log').then((a) => a && log.show());
}
