import type Database from 'better-sqlite3';
import { sql } from './statements.ts';

export interface LabelerRun {
  id: number;
  labeler: string;
  config: Record<string, unknown>;
  status: 'running' | 'done' | 'failed';
  candidatesScored: number;
  pairsAdded: number;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
}

export function startLabelerRun(
  db: Database.Database,
  labeler: string,
  config: Record<string, unknown> = {},
): number {
  return Number(
    sql(db, 'INSERT INTO labeler_run (labeler, config) VALUES (?, ?)').run(labeler, JSON.stringify(config))
      .lastInsertRowid,
  );
}

/** A labeler's verdict on one candidate: lower is better. */
export function recordLabelScore(
  db: Database.Database,
  runId: number,
  candidateId: number,
  score: number,
  detail?: string,
): void {
  sql(
    db,
    `INSERT INTO label_score (labeler_run_id, candidate_id, score, detail) VALUES (?, ?, ?, ?)
     ON CONFLICT (labeler_run_id, candidate_id) DO UPDATE SET score = excluded.score, detail = excluded.detail`,
  ).run(runId, candidateId, score, detail ?? null);
}

/** How a labeler run ended. */
export interface LabelerRunResult {
  status: 'done' | 'failed';
  candidatesScored: number;
  pairsAdded: number;
  error?: string | undefined;
}

export function finishLabelerRun(db: Database.Database, runId: number, result: LabelerRunResult): void {
  sql(
    db,
    `UPDATE labeler_run SET status = ?, candidates_scored = ?, pairs_added = ?, error = ?,
       finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`,
  ).run(result.status, result.candidatesScored, result.pairsAdded, result.error ?? null, runId);
}

export function labelerRun(db: Database.Database, runId: number): LabelerRun | undefined {
  const row = sql(
    db,
    `SELECT id, labeler, config, status, candidates_scored AS candidatesScored, pairs_added AS pairsAdded, error,
            started_at AS startedAt, finished_at AS finishedAt FROM labeler_run WHERE id = ?`,
  ).get(runId) as (Omit<LabelerRun, 'config'> & { config: string }) | undefined;
  return row && { ...row, config: JSON.parse(row.config) as Record<string, unknown> };
}
