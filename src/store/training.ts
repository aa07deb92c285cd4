import type Database from 'better-sqlite3';
import { sql } from './statements.ts';
import { writeTransaction } from './writeTransaction.ts';

/** The per-step metrics a DPO round reports, under TRL's names so dashboards and habits carry over. */
export const TRL_METRIC_NAMES = [
  'loss',
  'rewards/chosen',
  'rewards/rejected',
  'rewards/margins',
  'rewards/accuracies',
  'logps/chosen',
  'logps/rejected',
  'logits/chosen',
  'logits/rejected',
  'grad_norm',
  'learning_rate',
] as const;
/** What a KTO round reports besides: its batch KL estimate (the reference point of its loss). */
export const KTO_ONLY_METRIC_NAMES = ['kl'] as const;
export type TrlMetricName = (typeof TRL_METRIC_NAMES)[number] | (typeof KTO_ONLY_METRIC_NAMES)[number];
export type TrainingMetrics = Partial<Record<TrlMetricName, number>>;
export type MetricSplit = 'train' | 'eval';

/** 'interrupted': the process training it died (window closed, crash) before it could say how it ended. */
export type TrainingRunStatus = 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';

/** The process training a run: another process on the same host can tell whether it is still alive. */
export interface TrainingRunOwner {
  host: string;
  pid: number;
}

export interface TrainingRun {
  id: number;
  baseModelHash: string;
  config: Record<string, unknown>;
  status: TrainingRunStatus;
  adapterId: number | null;
  startedAt: string;
  finishedAt: string | null;
  /** The process training it (null for runs recorded before owners were). */
  owner: TrainingRunOwner | null;
}

export function startTrainingRun(
  db: Database.Database,
  run: {
    baseModelHash: string;
    config?: Record<string, unknown> | undefined;
    owner?: TrainingRunOwner | undefined;
  },
): number {
  return Number(
    sql(
      db,
      'INSERT INTO training_run (base_model_hash, config, owner_host, owner_pid) VALUES (?, ?, ?, ?)',
    ).run(
      run.baseModelHash,
      JSON.stringify(run.config ?? {}),
      run.owner?.host ?? null,
      run.owner?.pid ?? null,
    ).lastInsertRowid,
  );
}

/**
 * Reopens a run to continue it from a checkpoint after `step`: running again under `owner`, its adapter link
 * and finish time cleared, and the metrics recorded after that step (by the attempt that died) forgotten.
 */
export function resumeTrainingRun(
  db: Database.Database,
  runId: number,
  step: number,
  owner?: TrainingRunOwner,
): void {
  writeTransaction(db, () => {
    const changed = sql(
      db,
      `UPDATE training_run SET status = 'running', adapter_id = NULL, finished_at = NULL, owner_host = ?,
              owner_pid = ? WHERE id = ?`,
    ).run(owner?.host ?? null, owner?.pid ?? null, runId).changes;
    if (changed === 0) throw new Error(`training run ${runId} is not in the store`);
    sql(db, "DELETE FROM training_metric WHERE training_run_id = ? AND (split = 'eval' OR step > ?)").run(
      runId,
      step,
    );
  })();
}

/** Marks a run that is still 'running' as interrupted (its worker died); returns whether it was running. */
export function interruptTrainingRun(db: Database.Database, runId: number): boolean {
  return (
    sql(
      db,
      `UPDATE training_run SET status = 'interrupted', finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
       WHERE id = ? AND status = 'running'`,
    ).run(runId).changes === 1
  );
}

/**
 * Marks as interrupted every 'running' run whose owner is gone: `alive` answers for an owner; a run without
 * one was started by a Prefer that did not record owners, and is long gone. Returns the ids marked.
 */
export function interruptOrphanedTrainingRuns(
  db: Database.Database,
  alive: (owner: TrainingRunOwner) => boolean,
): number[] {
  return writeTransaction(db, () => {
    const running = sql(
      db,
      "SELECT id, owner_host AS host, owner_pid AS pid FROM training_run WHERE status = 'running'",
    ).all() as { id: number; host: string | null; pid: number | null }[];
    const orphans = running.filter(
      (r) => r.host === null || r.pid === null || !alive({ host: r.host, pid: r.pid }),
    );
    for (const r of orphans) interruptTrainingRun(db, r.id);
    return orphans.map((r) => r.id);
  })();
}

/** Stores one step's metrics in one transaction; a step recorded again (after a resume) replaces the old values. */
export function recordTrainingStep(
  db: Database.Database,
  runId: number,
  split: MetricSplit,
  step: number,
  metrics: TrainingMetrics,
): void {
  if (!Number.isInteger(step) || step < 0) throw new Error(`step ${step} must be a non-negative integer`);
  const known = new Set<string>([...TRL_METRIC_NAMES, ...KTO_ONLY_METRIC_NAMES]);
  for (const [name, value] of Object.entries(metrics)) {
    if (!known.has(name)) throw new Error(`unknown training metric '${name}'`);
    if (typeof value !== 'number' || Number.isNaN(value)) throw new Error(`metric ${name} must be a number`);
  }
  const insert = sql(
    db,
    `INSERT INTO training_metric (training_run_id, split, step, name, value) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (training_run_id, split, step, name) DO UPDATE SET value = excluded.value`,
  );
  writeTransaction(db, () => {
    for (const [name, value] of Object.entries(metrics)) insert.run(runId, split, step, name, value);
  })();
}

export function finishTrainingRun(
  db: Database.Database,
  runId: number,
  status: 'done' | 'failed' | 'cancelled' | 'interrupted',
  adapterId?: number | undefined,
): void {
  sql(
    db,
    `UPDATE training_run SET status = ?, adapter_id = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
     WHERE id = ?`,
  ).run(status, adapterId ?? null, runId);
}

export function trainingRun(db: Database.Database, runId: number): TrainingRun | undefined {
  const row = sql(
    db,
    `SELECT id, base_model_hash AS baseModelHash, config, status, adapter_id AS adapterId, started_at AS startedAt,
            finished_at AS finishedAt, owner_host AS host, owner_pid AS pid FROM training_run WHERE id = ?`,
  ).get(runId) as
    | (Omit<TrainingRun, 'config' | 'owner'> & { config: string; host: string | null; pid: number | null })
    | undefined;
  if (!row) return undefined;
  const { host, pid, config, ...run } = row;
  return {
    ...run,
    config: JSON.parse(config) as Record<string, unknown>,
    owner: host === null || pid === null ? null : { host, pid },
  };
}

/** Every recorded step of one split, in step order, as TRL-named metric objects. */
export function trainingSteps(
  db: Database.Database,
  runId: number,
  split: MetricSplit,
): { step: number; metrics: TrainingMetrics }[] {
  const rows = sql(
    db,
    'SELECT step, name, value FROM training_metric WHERE training_run_id = ? AND split = ? ORDER BY step, name',
  ).all(runId, split) as { step: number; name: TrlMetricName; value: number }[];
  const steps: { step: number; metrics: TrainingMetrics }[] = [];
  for (const row of rows) {
    if (steps.at(-1)?.step !== row.step) steps.push({ step: row.step, metrics: {} });
    steps.at(-1)!.metrics[row.name] = row.value;
  }
  return steps;
}

/** Every training run's id, oldest first. */
export function trainingRunIds(db: Database.Database): number[] {
  return sql(db, 'SELECT id FROM training_run ORDER BY id').pluck().all() as number[];
}
