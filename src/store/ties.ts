import type Database from 'better-sqlite3';
import { type FilterColumns, filterConditions, whereOf } from './filter.ts';
import type { PairFilter } from './pairs.ts';

/** A tie or both-bad judgment: no pair, but the prompt and every candidate shown, in shown order. */
export interface StoredTie {
  outcome: 'tie' | 'both_bad';
  prefix: string;
  suffix: string;
  language: string | null;
  filePath: string | null;
  workspace: string | null;
  source: string;
  completions: string[];
  createdAt: string;
}

const SHOWN_WITH_ADAPTER = `EXISTS (SELECT 1 FROM json_each(c.shown_order) shown
    JOIN candidate k ON k.id = shown.value WHERE k.adapter_id IS NOT NULL AND (? IS NULL OR k.adapter_id = ?))`;

/** A judgment matches an adapter when any candidate it showed was sampled with it ('base': none was). */
const TIE_FILTER_COLUMNS: FilterColumns = {
  source: 'c.source',
  createdAt: 'c.created_at',
  adapter: (adapter) =>
    adapter === 'base'
      ? { condition: `NOT ${SHOWN_WITH_ADAPTER}`, params: [null, null] }
      : { condition: SHOWN_WITH_ADAPTER, params: [adapter, adapter] },
};

/** Streams the tie and both-bad judgments that match the pair filter (its disagreement flag aside), oldest first. */
export function* iterateTies(db: Database.Database, filter: PairFilter = {}): Generator<StoredTie> {
  const { conditions, params } = filterConditions(filter, TIE_FILTER_COLUMNS);
  const rows = db
    .prepare(
      `SELECT c.outcome, p.prefix, p.suffix, p.language, p.file_path AS filePath, p.workspace, c.source,
              c.shown_order AS shownOrder, c.created_at AS createdAt
       FROM comparison c JOIN prompt p ON p.id = c.prompt_id
       ${whereOf(["c.outcome IN ('tie', 'both_bad')", ...conditions])} ORDER BY c.id`,
    )
    .iterate(...params) as Iterable<Omit<StoredTie, 'completions'> & { shownOrder: string }>;
  const candidateText = db.prepare('SELECT text FROM candidate WHERE id = ?').pluck();
  for (const { shownOrder, ...row } of rows) {
    const completions = (JSON.parse(shownOrder) as number[]).map((id) => candidateText.get(id) as string);
    yield { ...row, completions };
  }
}
