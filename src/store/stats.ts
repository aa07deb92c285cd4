import type Database from 'better-sqlite3';

export interface StoreStats {
  prompts: number;
  candidates: number;
  comparisons: number;
  pairs: number;
  pairsBySource: Record<string, number>;
  pairsByLanguage: Record<string, number>;
  /** Pairs by the adapter that sampled their chosen candidate ('base' when none). */
  pairsByAdapter: Record<string, number>;
  comparisonsByOutcome: Record<string, number>;
  /** Labeler pairs stored against a human judgment. */
  disagreements: number;
  labelerRuns: number;
  trainingRuns: number;
  /** Training runs by status: running, done, failed, cancelled, interrupted (their window died). */
  trainingRunsByStatus: Record<string, number>;
  adapters: number;
  activeAdapterVersion: number | null;
}

export function storeStats(db: Database.Database): StoreStats {
  const count = (table: string) =>
    (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  const grouped = (query: string) =>
    Object.fromEntries(
      (db.prepare(query).all() as { k: string | number | null; n: number }[]).map((r) => [
        String(r.k ?? 'unknown'),
        r.n,
      ]),
    );
  const active = db.prepare('SELECT version FROM adapter WHERE active = 1').get() as
    { version: number } | undefined;
  return {
    prompts: count('prompt'),
    candidates: count('candidate'),
    comparisons: count('comparison'),
    pairs: count('pair'),
    pairsBySource: grouped('SELECT source AS k, count(*) AS n FROM pair GROUP BY source ORDER BY source'),
    pairsByLanguage: grouped(
      `SELECT p.language AS k, count(*) AS n FROM pair JOIN prompt p ON p.id = pair.prompt_id
       GROUP BY p.language ORDER BY p.language`,
    ),
    pairsByAdapter: grouped(
      `SELECT coalesce('v' || a.version, 'base') AS k, count(*) AS n FROM pair
       JOIN candidate c ON c.id = pair.chosen_id LEFT JOIN adapter a ON a.id = c.adapter_id
       GROUP BY k ORDER BY k`,
    ),
    comparisonsByOutcome: grouped(
      'SELECT outcome AS k, count(*) AS n FROM comparison GROUP BY outcome ORDER BY outcome',
    ),
    disagreements: (
      db.prepare('SELECT count(*) AS n FROM pair WHERE disagrees_with_human = 1').get() as { n: number }
    ).n,
    labelerRuns: count('labeler_run'),
    trainingRuns: count('training_run'),
    trainingRunsByStatus: grouped(
      'SELECT status AS k, count(*) AS n FROM training_run GROUP BY status ORDER BY status',
    ),
    adapters: count('adapter'),
    activeAdapterVersion: active?.version ?? null,
  };
}
