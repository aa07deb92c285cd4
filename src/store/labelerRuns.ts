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

/** A prompt as a labeler sees it. */
export interface LabelPrompt {
  id: number;
  hash: string;
  language: string | null;
  filePath: string | null;
  prefix: string;
  suffix: string;
}

/** Ids and languages of the prompts with at least two distinct candidate texts, in these languages if given. */
export function labelablePrompts(
  db: Database.Database,
  languages?: readonly string[],
): { id: number; language: string | null }[] {
  return db
    .prepare(
      `SELECT p.id, p.language FROM prompt p
       WHERE (SELECT count(DISTINCT text_hash) FROM candidate WHERE prompt_id = p.id) >= 2
       ${languages ? `AND coalesce(p.language, 'unknown') IN (${languages.map(() => '?').join(', ') || 'NULL'})` : ''}
       ORDER BY p.id`,
    )
    .all(...(languages ?? [])) as { id: number; language: string | null }[];
}

export function labelPrompt(db: Database.Database, promptId: number): LabelPrompt | undefined {
  return sql(
    db,
    'SELECT id, hash, language, file_path AS filePath, prefix, suffix FROM prompt WHERE id = ?',
  ).get(promptId) as LabelPrompt | undefined;
}

/** A prompt's candidates, oldest first. */
export function candidatesOf(db: Database.Database, promptId: number): { id: number; text: string }[] {
  return sql(db, 'SELECT id, text FROM candidate WHERE prompt_id = ? ORDER BY id').all(promptId) as {
    id: number;
    text: string;
  }[];
}

/** Pairs of this run stored flagged because a human judged the other way. */
export function labelerDisagreements(db: Database.Database, runId: number): number {
  return (
    sql(db, 'SELECT count(*) AS n FROM pair WHERE labeler_run_id = ? AND disagrees_with_human = 1').get(runId) as {
      n: number;
    }
  ).n;
}

/** The scores a run gave, by candidate id. */
export function labelScores(
  db: Database.Database,
  runId: number,
): { candidateId: number; score: number; detail: string | null }[] {
  return sql(
    db,
    'SELECT candidate_id AS candidateId, score, detail FROM label_score WHERE labeler_run_id = ? ORDER BY candidate_id',
  ).all(runId) as { candidateId: number; score: number; detail: string | null }[];
}
