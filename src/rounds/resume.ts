/**
 * Rounds that stopped before they finished — the window closed or crashed, the worker died, or the user
 * cancelled — and left a checkpoint folder from which they can be resumed: finding them, telling live ones
 * from orphans, and discarding them.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type RoundRecord, checkpointStep, readRoundRecord, removeCheckpoint } from '../dpo/checkpoint.ts';
import type { Store } from '../store/store.ts';
import { processAlive } from './round.ts';
import { samePath } from './roundChecks.ts';
import { firstLine } from '../inputError.ts';

export interface InterruptedRound {
  /** The round's checkpoint folder. */
  dir: string;
  record: RoundRecord;
  runId: number;
  /** Optimizer steps the checkpoint holds. */
  step: number;
}

/**
 * The resumable rounds under `root` of the store at `database`, newest first. A folder whose run finished (done
 * or failed) is stale and removed; a run still 'running' is left alone while this process (`live`) or another
 * live process trains it; folders of other stores are not touched. A folder that cannot be read is skipped,
 * with a warning.
 */
export async function interruptedRounds(
  root: string,
  store: Store,
  database: string,
  live: ReadonlySet<number>,
  warn: (message: string) => void,
): Promise<InterruptedRound[]> {
  if (!existsSync(root)) return [];
  const found: InterruptedRound[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = join(root, entry.name);
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
      warn(`interrupted rounds: skipped ${dir}: ${firstLine(e)}`);
    }
  }
  return found.sort((a, b) => b.runId - a.runId);
}

/** The rounds that trained the model in `modelDir`: the only ones a round on it may resume. */
export const roundsOfModel = (rounds: readonly InterruptedRound[], modelDir: string): InterruptedRound[] =>
  rounds.filter((r) => samePath(r.record.modelDir, modelDir));

/** Runs left 'running' by a process that is gone are marked interrupted; their ids. */
export function interruptOrphanedRuns(store: Store): number[] {
  return store.interruptOrphanedTrainingRuns(processAlive);
}

/** Removes a round's checkpoint; a run nobody trains any more stays visible as interrupted. */
export function discardRound(store: Store, round: InterruptedRound): void {
  store.interruptTrainingRun(round.runId);
  removeCheckpoint(round.dir);
}

/**
 * After a worker died without saying how its round ended: the run is marked interrupted. Undefined when the
 * run had already ended; else the step its checkpoint reached (undefined before the first checkpoint).
 */
export async function interruptAfterCrash(
  store: Store,
  runId: number,
  checkpointDir: string | undefined,
): Promise<{ step: number | undefined } | undefined> {
  if (!store.interruptTrainingRun(runId)) return undefined;
  const step = checkpointDir ? await checkpointStep(checkpointDir).catch(() => undefined) : undefined;
  return { step };
}
