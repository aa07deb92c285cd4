import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { type RoundRecord, checkpointStep, readRoundRecord, removeCheckpoint } from '../../dpo/checkpoint.ts';
import { processAlive } from '../../dpo/round.ts';
import type { Store } from '../../store/store.ts';

/**
 * Rounds that stopped before they finished — the window closed or crashed, the worker died, or the user
 * cancelled — and left a checkpoint folder in the extension's storage from which they can be resumed.
 */
export interface InterruptedRound {
  /** The round's checkpoint folder (globalStorage/checkpoints/<started at>). */
  dir: string;
  record: RoundRecord;
  runId: number;
  /** Optimizer steps the checkpoint holds. */
  step: number;
}

/** Where Train DPO Round keeps each round's checkpoint folder. */
export function checkpointsRoot(context: vscode.ExtensionContext): string {
  return path.join(context.globalStorageUri.fsPath, 'checkpoints');
}

const samePath = (a: string | null, b: string) => a !== null && path.resolve(a) === path.resolve(b);

/**
 * The resumable rounds of the store at `database`, newest first. A folder whose run finished (done or failed)
 * is stale and removed; a run still 'running' is left alone while this window (`live`) or another live process
 * trains it; folders of other stores are not touched.
 */
export async function interruptedRounds(
  root: string,
  store: Store,
  database: string,
  live: ReadonlySet<number>,
  log: vscode.LogOutputChannel,
): Promise<InterruptedRound[]> {
  if (!existsSync(root)) return [];
  const found: InterruptedRound[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = path.join(root, entry.name);
    try {
      const record = readRoundRecord(dir);
      if (!record || record.runId === null || !samePath(record.database, database)) continue;
      const run = store.trainingRun(record.runId);
      if (!run) continue;
      if (run.status === 'done' || run.status === 'failed') {
        removeCheckpoint(dir);
        continue;
      }
      const trainedElsewhere = run.owner !== null && run.owner.pid !== process.pid && processAlive(run.owner);
      if (run.status === 'running' && (live.has(run.id) || trainedElsewhere)) continue;
      const step = await checkpointStep(dir);
      if (step !== undefined) found.push({ dir, record, runId: run.id, step });
      // stopped before its first checkpoint: nothing to resume
      else if (run.status !== 'running') removeCheckpoint(dir);
    } catch (e) {
      log.warn(`interrupted rounds: skipped ${dir}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return found.sort((a, b) => b.runId - a.runId);
}

/** On activation: runs left 'running' by a window or process that is gone are marked interrupted. */
export function markOrphanedRuns(store: Store, log: vscode.LogOutputChannel): void {
  const marked = store.interruptOrphanedTrainingRuns(processAlive);
  if (marked.length > 0)
    log.info(`training runs ${marked.join(', ')} were left running by a closed window: interrupted`);
}

/** Removes a round's checkpoint; a run nobody trains any more stays visible as interrupted. */
export function discardRound(store: Store, round: InterruptedRound): void {
  store.interruptTrainingRun(round.runId);
  removeCheckpoint(round.dir);
}

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
