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
  'grad_norm',
  'learning_rate',
] as const;
export type TrlMetricName = (typeof TRL_METRIC_NAMES)[number];
export type TrainingMetrics = Partial<Record<TrlMetricName, number>>;
export type MetricSplit = 'train' | 'eval';

export interface TrainingRun {
  id: number;
  baseModelHash: string;
  config: Record<string, unknown>;
  status: 'running' | 'done' | 'failed' | 'cancelled';
  adapterId: number | null;
  startedAt: string;
  finishedAt: string | null;
}

export function startTrainingRun(
  db: Database.Database,
  run: { baseModelHash: string; config?: Record<string, unknown> | undefined },
): number {
  return Number(
    sql(db, 'INSERT INTO training_run (base_model_hash, config) VALUES (?, ?)').run(
      run.baseModelHash,
      JSON.stringify(run.config ?? {}),
    ).lastInsertRowid,
  );
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
  const known = new Set<string>(TRL_METRIC_NAMES);
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
  status: 'done' | 'failed' | 'cancelled',
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
            finished_at AS finishedAt FROM training_run WHERE id = ?`,
  ).get(runId) as (Omit<TrainingRun, 'config'> & { config: string }) | undefined;
  return row && { ...row, config: JSON.parse(row.config) as Record<string, unknown> };
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
