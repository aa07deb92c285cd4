import type Database from 'better-sqlite3';
import { pairTextsHash } from './hashing.ts';
import { type FilterColumns, filterConditions, whereOf } from './filter.ts';
import { sql } from './statements.ts';

/** Pair sources written by people; every other source is a machine's opinion. */
export const HUMAN_SOURCE = 'human';

export interface PairInput {
  promptId: number;
  promptHash: string;
  chosenId: number;
  chosenText: string;
  rejectedId: number;
  rejectedText: string;
  source: string;
  confidence: number;
  comparisonId?: number | undefined;
  labelerRunId?: number | undefined;
  /** pairTextsHash of the above, when the caller has it already. */
  textsHash?: Buffer | undefined;
}

/**
 * Stores a pair unless the same prompt, chosen text, rejected text and source is already stored.
 * A labeler pair that contradicts a human pair is stored flagged; the human pair is never touched.
 * Returns whether a row was added.
 */
export function insertPair(db: Database.Database, p: PairInput): boolean {
  if (p.chosenText === p.rejectedText) return false;
  const textsHash = p.textsHash ?? pairTextsHash(p.promptHash, p.chosenText, p.rejectedText);
  const isLabeler = p.labelerRunId !== undefined;
  // Disagreement needs both a human and a labeler opinion; a store no labeler ever ran on has none.
  const mayDisagree =
    isLabeler ||
    (p.source === HUMAN_SOURCE && sql(db, 'SELECT 1 FROM labeler_run LIMIT 1').get() !== undefined);
  const reversed = mayDisagree ? pairTextsHash(p.promptHash, p.rejectedText, p.chosenText) : undefined;
  const disagrees =
    isLabeler &&
    sql(db, 'SELECT 1 FROM pair WHERE texts_hash = ? AND source = ? LIMIT 1').get(reversed, HUMAN_SOURCE) !==
      undefined;
  const added =
    sql(
      db,
      `INSERT INTO pair (prompt_id, chosen_id, rejected_id, source, confidence, comparison_id, texts_hash,
                         labeler_run_id, disagrees_with_human)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(texts_hash, source) DO NOTHING`,
    ).run(
      p.promptId,
      p.chosenId,
      p.rejectedId,
      p.source,
      p.confidence,
      p.comparisonId ?? null,
      textsHash,
      p.labelerRunId ?? null,
      disagrees ? 1 : 0,
    ).changes === 1;
  if (added && mayDisagree && p.source === HUMAN_SOURCE) {
    sql(
      db,
      'UPDATE pair SET disagrees_with_human = 1 WHERE texts_hash = ? AND labeler_run_id IS NOT NULL',
    ).run(reversed);
  }
  return added;
}

export function pairStored(db: Database.Database, textsHash: Buffer, source: string): boolean {
  return (
    sql(db, 'SELECT 1 FROM pair WHERE texts_hash = ? AND source = ?').get(textsHash, source) !== undefined
  );
}

/** Which pairs to read: every given condition must hold. Dates are ISO 8601 (a date or a timestamp). */
export interface PairFilter {
  sources?: readonly string[] | undefined;
  languages?: readonly string[] | undefined;
  /** Created at or after. */
  since?: string | undefined;
  /** Created before. */
  until?: string | undefined;
  /** Pairs with a candidate sampled with this adapter, or 'base' for pairs sampled without any. */
  adapter?: number | 'base' | undefined;
  /** Pairs a labeler stored against a human judgment are left out unless asked for. */
  includeDisagreements?: boolean | undefined;
}

export interface StoredPair {
  id: number;
  promptId: number;
  prefix: string;
  suffix: string;
  language: string | null;
  filePath: string | null;
  workspace: string | null;
  chosenId: number;
  chosen: string;
  rejectedId: number;
  rejected: string;
  source: string;
  confidence: number;
  comparisonId: number | null;
  labelerRunId: number | null;
  disagreesWithHuman: boolean;
  createdAt: string;
}

const PAIR_FILTER_COLUMNS: FilterColumns = {
  source: 'pair.source',
  createdAt: 'pair.created_at',
  adapter: (adapter) =>
    adapter === 'base'
      ? { condition: 'c.adapter_id IS NULL AND r.adapter_id IS NULL', params: [] }
      : { condition: '(c.adapter_id = ? OR r.adapter_id = ?)', params: [adapter, adapter] },
};

function whereClause(filter: PairFilter): { where: string; params: unknown[] } {
  const { conditions, params } = filterConditions(filter, PAIR_FILTER_COLUMNS);
  if (!filter.includeDisagreements) conditions.push('pair.disagrees_with_human = 0');
  return { where: whereOf(conditions), params };
}

const PAIR_COLUMNS = `pair.id AS id, pair.prompt_id AS promptId, p.prefix AS prefix, p.suffix AS suffix,
  p.language AS language, p.file_path AS filePath, p.workspace AS workspace, pair.chosen_id AS chosenId,
  c.text AS chosen, pair.rejected_id AS rejectedId, r.text AS rejected, pair.source AS source,
  pair.confidence AS confidence, pair.comparison_id AS comparisonId, pair.labeler_run_id AS labelerRunId,
  pair.disagrees_with_human AS disagreesWithHuman, pair.created_at AS createdAt`;

const PAIR_JOINS = `FROM pair JOIN prompt p ON p.id = pair.prompt_id
  JOIN candidate c ON c.id = pair.chosen_id JOIN candidate r ON r.id = pair.rejected_id`;

/** Streams the pairs that match, oldest first, one row in memory at a time. */
export function* iteratePairs(db: Database.Database, filter: PairFilter = {}): Generator<StoredPair> {
  const { where, params } = whereClause(filter);
  const rows = db
    .prepare(`SELECT ${PAIR_COLUMNS} ${PAIR_JOINS} ${where} ORDER BY pair.id`)
    .iterate(...params);
  for (const row of rows as Iterable<
    Omit<StoredPair, 'disagreesWithHuman'> & { disagreesWithHuman: number }
  >) {
    yield { ...row, disagreesWithHuman: row.disagreesWithHuman === 1 };
  }
}

/**
 * The pairs with these ids, in the order given, whatever filter they would fail (disagreements included);
 * an id no longer stored is left out, so a caller compares lengths to find what is gone.
 */
export function pairsByIds(db: Database.Database, ids: readonly number[]): StoredPair[] {
  // One parameter for any number of ids: an IN list of placeholders runs into SQLite's variable limit.
  const rows = db
    .prepare(`SELECT ${PAIR_COLUMNS} ${PAIR_JOINS} WHERE pair.id IN (SELECT value FROM json_each(?))`)
    .all(JSON.stringify(ids)) as (Omit<StoredPair, 'disagreesWithHuman'> & { disagreesWithHuman: number })[];
  const byId = new Map(rows.map((row) => [row.id, { ...row, disagreesWithHuman: row.disagreesWithHuman === 1 }]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

export function countPairs(db: Database.Database, filter: PairFilter = {}): number {
  const { where, params } = whereClause(filter);
  return (db.prepare(`SELECT count(*) AS n ${PAIR_JOINS} ${where}`).get(...params) as { n: number }).n;
}
