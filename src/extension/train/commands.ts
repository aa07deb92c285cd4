import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { checkpointStep } from '../../dpo/checkpoint.ts';
import { type RoundOptions, type RoundResult, defaultTraining } from '../../dpo/round.ts';
import { runRoundInWorker } from '../../dpo/trainWorkerClient.ts';
import type { PairFilter } from '../../store/store.ts';
import { configuredModelDir } from '../compare/sources.ts';
import type { Services } from '../services.ts';
import { DashboardPanel } from './dashboardPanel.ts';
import {
  type InterruptedRound,
  checkpointsRoot,
  interruptedRounds,
  markOrphanedRuns,
  offerInterruptedRounds,
} from './interruptedRounds.ts';
import { type RoundRequest, askRequest, filterFor } from './request.ts';

export type { RoundRequest } from './request.ts';

/** One round as the command runs it: a new one from a request, or an interrupted one resumed. */
interface RoundPlan {
  modelDir: string;
  outDir: string;
  filter?: PairFilter | undefined;
  training: RoundOptions['training'];
  /** Optimizer steps of the round (an estimate until the trainer has planned them). */
  totalSteps: number;
  details: string;
  keepBase: boolean;
  resume?: InterruptedRound | undefined;
  simulate?: RoundRequest['simulate'];
}

/** `prefer.training.checkpointEvery`: steps between checkpoints, 0 for none. */
function checkpointEvery(): number {
  const n = vscode.workspace.getConfiguration('prefer').get<number>('training.checkpointEvery', 25);
  return Number.isInteger(n) && n >= 0 ? n : 25;
}

const samePath = (a: string, b: string) => path.resolve(a) === path.resolve(b);

/** A folder name from the time a round starts. */
const startStamp = () => new Date().toISOString().replace(/[:.]/g, '-');

export function registerTrainCommands({ context, store, log, onChanged }: Services): void {
  /** Store runs this window is training now. */
  const live = new Set<number>();

  // off the activation path: the store may be busy in another window
  setTimeout(() => {
    try {
      markOrphanedRuns(store.get(), log);
    } catch (e) {
      log.warn(`training: could not check for interrupted runs: ${(e as Error).message.split('\n')[0]}`);
    }
  }, 0);

  const adapterDir = (stamp: string) => path.join(context.globalStorageUri.fsPath, 'adapters', stamp);

  function newRound(modelDir: string, request: RoundRequest, pairs: number): RoundPlan {
    const training = defaultTraining({
      loss: {
        type: request.loss,
        beta: request.beta,
        labelSmoothing: request.loss === 'robust' ? 0.1 : 0,
      },
      epochs: request.epochs,
      ...request.training,
    });
    // the adapter and the checkpoint folders share the round's start time
    const started = startStamp();
    const every = checkpointEvery();
    if (every > 0)
      training.checkpoint = { dir: path.join(checkpointsRoot(context), started), every, resume: false };
    return {
      modelDir,
      outDir: adapterDir(started),
      filter: filterFor(request.range, store),
      training,
      totalSteps: Math.ceil((pairs * (1 - training.evalFraction)) / training.pairsPerStep) * training.epochs,
      details: `${pairs} pairs (${request.range}) · ${request.loss} loss · β ${request.beta} · ${request.epochs} epoch(s) · LoRA r ${training.lora.rank}`,
      keepBase: request.keepBase ?? false,
      simulate: request.simulate,
    };
  }

  function resumedRound(round: InterruptedRound): RoundPlan {
    const { record } = round;
    const training = record.training as RoundOptions['training'];
    // the round's own options, so it trains exactly as it began; only how often it checkpoints is today's
    const every = checkpointEvery() || Number.MAX_SAFE_INTEGER;
    // a cancelled round registered its partial adapter in outDir: the finished one gets a folder of its own
    const outDir = existsSync(record.outDir) ? adapterDir(startStamp()) : record.outDir;
    return {
      modelDir: record.modelDir,
      outDir,
      training: { ...training, checkpoint: { dir: round.dir, every, resume: true } },
      totalSteps: record.totalSteps ?? round.step,
      details: `resuming round ${round.runId} after step ${round.step} · ${record.pairIds?.length ?? '?'} pairs · ${training.loss.type} loss · β ${training.loss.beta} · LoRA r ${training.lora.rank}`,
      keepBase: false,
      resume: round,
    };
  }

  async function train(plan: RoundPlan): Promise<RoundResult | undefined> {
    const { modelDir, outDir, training } = plan;
    let steps = plan.totalSteps;
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
          if (plan.resume) progress.report({ increment: (100 * plan.resume.step) / Math.max(steps, 1) });
          return runRoundInWorker(
            { modelDir, outDir, database: store.databasePath, filter: plan.filter, training },
            {
              signal: controller.signal,
              crash: crash.signal,
              onRun: (id) => {
                runId = id;
                live.add(id);
              },
              onPlan: (p) => (steps = p.totalSteps),
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
                if (step === plan.simulate?.crashAfterStep) crash.abort();
                if (step === plan.simulate?.cancelAfterStep) controller.abort();
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
        const resumable = training.checkpoint ? ' Run Train DPO Round again to resume it.' : '';
        dashboard.post({
          type: 'done',
          text: `Cancelled after ${result.steps} steps; the partial adapter is saved as v${result.version} but not activated.${resumable}`,
        });
        void vscode.window.showInformationMessage(
          `Prefer: training cancelled after ${result.steps} steps.${resumable}`,
        );
        return result;
      }
      const resumed = result.resumedAfter > 0 ? ` (resumed after step ${result.resumedAfter})` : '';
      dashboard.post({
        type: 'done',
        text: `Done: adapter v${result.version} after ${result.steps} steps${resumed}${accuracy}.`,
      });
      if (plan.keepBase || result.adapterId === undefined) return result;
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
      let message = (e as Error).message.split('\n')[0]!;
      // the worker died without saying how the round ended: the run is interrupted, resumable if it checkpointed
      if (runId !== undefined && store.get().interruptTrainingRun(runId)) {
        const dir = training.checkpoint?.dir;
        const step = dir ? await checkpointStep(dir).catch(() => undefined) : undefined;
        message =
          step !== undefined
            ? `${message}; run Train DPO Round again to resume from step ${step} (checkpoint in ${dir})`
            : `${message}, before its first checkpoint`;
        onChanged();
      }
      dashboard.post({ type: 'error', text: `Training failed: ${message}` });
      log.error(`training failed: ${message}`);
      void vscode.window
        .showErrorMessage(`Prefer: training failed: ${message}`, 'Show Log')
        .then((a) => a && log.show());
      return undefined;
    } finally {
      if (runId !== undefined) live.delete(runId);
    }
  }

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
        if (!preset) {
          const rounds = await interruptedRounds(
            checkpointsRoot(context),
            store.get(),
            store.databasePath,
            live,
            log,
          );
          const choice = await offerInterruptedRounds(
            rounds.filter((r) => samePath(r.record.modelDir, modelDir)),
            store.get(),
            log,
          );
          if (!choice) return undefined;
          if (choice.kind === 'resume') return train(resumedRound(choice.round));
        }
        const request = preset ?? (await askRequest(store));
        if (!request) return undefined;
        const pairs = store.get().countPairs(filterFor(request.range, store));
        if (pairs === 0) {
          void vscode.window.showWarningMessage(
            'Prefer: there are no preference pairs to train on yet. Compare some completions first.',
          );
          return undefined;
        }
        return train(newRound(modelDir, request, pairs));
      },
    ),
  );
}
