import type Database from 'better-sqlite3';
import { abHistory } from './abHistory.ts';
import { sql } from './statements.ts';

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

/** Key of the held-out pair count in an adapter's metrics: with the held-out accuracy it gives n and an interval. */
export const HELD_OUT_PAIRS = 'eval/pairs';

/** One training run as the stats view lists it: how it ended, what it produced, how it did on held-out pairs. */
export interface RunSummary {
  id: number;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  adapterVersion: number | null;
  /** Training steps recorded. */
  steps: number;
  /** The held-out evaluation, when the run made one; `pairs` null for runs that did not record their count. */
  heldOut: { accuracy: number; loss: number | null; pairs: number | null } | null;
}

/** An adapter's blind A/B record against the base model (counted as abHistory counts, without writing). */
export interface AdapterAbRecord {
  version: number;
  active: boolean;
  wins: number;
  losses: number;
  ties: number;
}

/** Everything the stats view shows: the counts, pairs per day, pairs by judgment, runs and A/B records. */
export interface StatsReport extends StoreStats {
  /** New pairs per UTC day, oldest first; days without pairs are left out. */
  pairsByDay: { day: string; pairs: number }[];
  /** Pairs by the outcome of the judgment that implied them; 'none' for pairs no judgment made (imports, labelers). */
  pairsByOutcome: Record<string, number>;
  /** Newest first. */
  runs: RunSummary[];
  /** Adapters not deleted that have at least one blind A/B judgment, oldest version first. */
  abRecords: AdapterAbRecord[];
}

export function statsReport(db: Database.Database): StatsReport {
  return {
    ...storeStats(db),
    pairsByDay: sql(
      db,
      'SELECT substr(created_at, 1, 10) AS day, count(*) AS pairs FROM pair GROUP BY day ORDER BY day',
    ).all() as { day: string; pairs: number }[],
    pairsByOutcome: Object.fromEntries(
      (
        sql(
          db,
          `SELECT coalesce(c.outcome, 'none') AS k, count(*) AS n FROM pair
           LEFT JOIN comparison c ON c.id = pair.comparison_id GROUP BY k ORDER BY k`,
        ).all() as { k: string; n: number }[]
      ).map((r) => [r.k, r.n]),
    ),
    runs: runSummaries(db),
    abRecords: abRecords(db),
  };
}

function runSummaries(db: Database.Database): RunSummary[] {
  const evalValue = (name: string) =>
    `(SELECT value FROM training_metric m WHERE m.training_run_id = r.id AND m.split = 'eval' AND m.name = '${name}'
      ORDER BY m.step DESC LIMIT 1)`;
  const rows = sql(
    db,
    `SELECT r.id, r.status, r.started_at AS startedAt, r.finished_at AS finishedAt, a.version AS adapterVersion,
       (SELECT count(DISTINCT step) FROM training_metric m WHERE m.training_run_id = r.id AND m.split = 'train') AS steps,
       ${evalValue('rewards/accuracies')} AS accuracy, ${evalValue('loss')} AS loss,
       json_extract(a.metrics, '$."${HELD_OUT_PAIRS}"') AS pairs
     FROM training_run r LEFT JOIN adapter a ON a.id = r.adapter_id ORDER BY r.id DESC`,
  ).all() as (Omit<RunSummary, 'heldOut'> & { accuracy: number | null; loss: number | null; pairs: number | null })[];
  return rows.map(({ accuracy, loss, pairs, ...run }) => ({
    ...run,
    heldOut: accuracy === null ? null : { accuracy, loss, pairs: Number.isInteger(pairs) ? pairs : null },
  }));
}

function abRecords(db: Database.Database): AdapterAbRecord[] {
  const rows = sql(db, 'SELECT id, version, active FROM adapter WHERE deleted_at IS NULL ORDER BY version').all() as {
    id: number;
    version: number;
    active: number;
  }[];
  return rows.flatMap(({ id, version, active }) => {
    const last = abHistory(db, id).at(-1);
    return last ? [{ version, active: active === 1, wins: last.wins, losses: last.losses, ties: last.ties }] : [];
  });
}
