import type Database from 'better-sqlite3';
import { sql } from './statements.ts';

/** One blind A/B judgment of an adapter, with the adapter's record up to and including it. */
export interface AbJudgment {
  comparisonId: number;
  at: string;
  /** 'win': the adapter wrote the winner; 'loss': the base model did; 'tie': a tie or both bad. */
  result: 'win' | 'loss' | 'tie';
  wins: number;
  losses: number;
  ties: number;
}

/**
 * The adapter's blind A/B judgments, oldest first, counted as updateAbRecord counts them (skips and the user's
 * own answers decide nothing), each with the running totals: the win-rate over time.
 */
export function abHistory(db: Database.Database, adapterId: number): AbJudgment[] {
  const rows = sql(
    db,
    `SELECT c.id AS comparisonId, c.created_at AS at,
       CASE WHEN c.outcome IN ('tie', 'both_bad') THEN 'tie' WHEN w.adapter_id = :id THEN 'win' ELSE 'loss' END AS result
     FROM comparison c LEFT JOIN candidate w ON w.id = c.chosen_id
     WHERE c.mode = 'blind-ab'
       AND (c.outcome IN ('tie', 'both_bad') OR (c.outcome IN ('pick', 'ranking') AND (w.adapter_id = :id OR w.adapter_id IS NULL)))
       AND EXISTS (SELECT 1 FROM json_each(c.shown_order) s JOIN candidate x ON x.id = s.value WHERE x.adapter_id = :id)
     ORDER BY c.id`,
  ).all({ id: adapterId }) as Pick<AbJudgment, 'comparisonId' | 'at' | 'result'>[];
  const totals = { wins: 0, losses: 0, ties: 0 };
  return rows.map((row) => {
    totals[row.result === 'win' ? 'wins' : row.result === 'loss' ? 'losses' : 'ties']++;
    return { ...row, ...totals };
  });
}
