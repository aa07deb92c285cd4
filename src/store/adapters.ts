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

export function adapters(db: Database.Database): Adapter[] {
  return (sql(db, `SELECT ${COLUMNS} FROM adapter ORDER BY version`).all() as AdapterRow[]).map(fromRow);
}

export function activeAdapter(db: Database.Database): Adapter | undefined {
  const row = sql(db, `SELECT ${COLUMNS} FROM adapter WHERE active = 1`).get() as AdapterRow | undefined;
  return row && fromRow(row);
}

/** Makes `id` the one adapter sampling uses (undefined: the base model), atomically. */
export function activateAdapter(db: Database.Database, id: number | undefined): void {
  writeTransaction(db, () => {
    if (id !== undefined && !adapter(db, id)) throw new Error(`no adapter with id ${id}`);
    sql(db, 'UPDATE adapter SET active = 0 WHERE active = 1').run();
    if (id !== undefined) sql(db, 'UPDATE adapter SET active = 1 WHERE id = ?').run(id);
  })();
}
