import type Database from 'better-sqlite3';
import { sql } from './statements.ts';
import { writeTransaction } from './writeTransaction.ts';

export interface AdapterInput {
  path: string;
  baseModelHash: string;
  /** Creation time of the oldest and newest pair trained on. */
  dataFrom?: string | undefined;
  dataTo?: string | undefined;
  pairCount?: number | undefined;
  metrics?: Record<string, unknown> | undefined;
}

export interface Adapter {
  id: number;
  version: number;
  path: string;
  baseModelHash: string;
  dataFrom: string | null;
  dataTo: string | null;
  pairCount: number | null;
  metrics: Record<string, unknown> | null;
  active: boolean;
  createdAt: string;
}

const COLUMNS = `id, version, path, base_model_hash AS baseModelHash, data_from AS dataFrom, data_to AS dataTo,
  pair_count AS pairCount, metrics, active, created_at AS createdAt`;

type AdapterRow = Omit<Adapter, 'metrics' | 'active'> & { metrics: string | null; active: number };

const fromRow = (row: AdapterRow): Adapter => ({
  ...row,
  metrics: row.metrics === null ? null : (JSON.parse(row.metrics) as Record<string, unknown>),
  active: row.active === 1,
});

/** Registers a trained adapter as the next version (not yet active). */
export function registerAdapter(db: Database.Database, a: AdapterInput): Adapter {
  return writeTransaction(db, () => {
    const next = (sql(db, 'SELECT coalesce(max(version), 0) + 1 AS v FROM adapter').get() as { v: number }).v;
    const id = sql(
      db,
      `INSERT INTO adapter (version, path, base_model_hash, data_from, data_to, pair_count, metrics)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      next,
      a.path,
      a.baseModelHash,
      a.dataFrom ?? null,
      a.dataTo ?? null,
      a.pairCount ?? null,
      a.metrics === undefined ? null : JSON.stringify(a.metrics),
    ).lastInsertRowid;
    return adapter(db, Number(id))!;
  })();
}

export function adapter(db: Database.Database, id: number): Adapter | undefined {
  const row = sql(db, `SELECT ${COLUMNS} FROM adapter WHERE id = ?`).get(id) as AdapterRow | undefined;
  return row && fromRow(row);
}

/** Adapters not deleted, oldest version first. */
export function adapters(db: Database.Database): Adapter[] {
  return (
    sql(db, `SELECT ${COLUMNS} FROM adapter WHERE deleted_at IS NULL ORDER BY version`).all() as AdapterRow[]
  ).map(fromRow);
}

/** Marks an adapter deleted (its row stays: candidates and training runs refer to it) and deactivates it. */
export function deleteAdapter(db: Database.Database, id: number): void {
  writeTransaction(db, () => {
    if (!adapter(db, id)) throw new Error(`no adapter with id ${id}`);
    sql(
      db,
      "UPDATE adapter SET deleted_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), active = 0 WHERE id = ?",
    ).run(id);
  })();
}

export interface AbRecord {
  /** Blind A/B judgments whose winner the adapter sampled. */
  wins: number;
  /** …whose winner the base model sampled. */
  losses: number;
  /** Ties and both-bad. */
  ties: number;
  /** wins / (wins + losses); null before the first decided comparison. */
  winRate: number | null;
}

/**
 * The user's blind A/B record of an adapter against the base model, counted from the stored judgments and
 * written into the adapter's metrics (ab/wins, ab/losses, ab/ties, ab/win_rate).
 */
export function updateAbRecord(db: Database.Database, adapterId: number): AbRecord {
  return writeTransaction(db, () => {
    const row = sql(
      db,
      `SELECT
         coalesce(sum(c.outcome IN ('pick', 'ranking') AND w.adapter_id = :id), 0) AS wins,
         coalesce(sum(c.outcome IN ('pick', 'ranking') AND w.adapter_id IS NULL), 0) AS losses,
         coalesce(sum(c.outcome IN ('tie', 'both_bad')), 0) AS ties
       FROM comparison c LEFT JOIN candidate w ON w.id = c.chosen_id
       WHERE c.mode = 'blind-ab'
         AND EXISTS (SELECT 1 FROM json_each(c.shown_order) s JOIN candidate x ON x.id = s.value WHERE x.adapter_id = :id)`,
    ).get({ id: adapterId }) as { wins: number; losses: number; ties: number };
    const decided = row.wins + row.losses;
    const record: AbRecord = { ...row, winRate: decided === 0 ? null : row.wins / decided };
    const current = adapter(db, adapterId);
    if (!current) throw new Error(`no adapter with id ${adapterId}`);
    const metrics = {
      ...current.metrics,
      'ab/wins': record.wins,
      'ab/losses': record.losses,
      'ab/ties': record.ties,
      'ab/win_rate': record.winRate,
    };
    sql(db, 'UPDATE adapter SET metrics = ? WHERE id = ?').run(JSON.stringify(metrics), adapterId);
    return record;
  })();
}

export function activeAdapter(db: Database.Database): Adapter | undefined {
  const row = sql(db, `SELECT ${COLUMNS} FROM adapter WHERE active = 1`).get() as AdapterRow | undefined;
  return row && fromRow(row);
}

/** Makes `id` the one adapter sampling uses (undefined: the base model), atomically. */
export function activateAdapter(db: Database.Database, id: number | undefined): void {
  writeTransaction(db, () => {
    if (id !== undefined && !sql(db, 'SELECT 1 FROM adapter WHERE id = ? AND deleted_at IS NULL').get(id))
      throw new Error(`no adapter with id ${id}`);
    sql(db, 'UPDATE adapter SET active = 0 WHERE active = 1').run();
    if (id !== undefined) sql(db, 'UPDATE adapter SET active = 1 WHERE id = ?').run(id);
  })();
}
