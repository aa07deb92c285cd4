import type { PairFilter } from './pairs.ts';

/** Where a filter's conditions look in one query: pairs and tie judgments keep them in different columns. */
export interface FilterColumns {
  source: string;
  createdAt: string;
  /** The condition for `adapter` and its parameters. */
  adapter: (adapter: number | 'base') => { condition: string; params: unknown[] };
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?)?$/;

/** The SQL conditions (joined with AND) and parameters of a filter's sources, languages, dates and adapter. */
export function filterConditions(
  filter: PairFilter,
  columns: FilterColumns,
): { conditions: string[]; params: unknown[] } {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const list = (column: string, values: readonly string[] | undefined) => {
    if (values === undefined) return;
    if (values.length === 0) conditions.push('0');
    else {
      conditions.push(`${column} IN (${values.map(() => '?').join(', ')})`);
      params.push(...values);
    }
  };
  list(columns.source, filter.sources);
  list("coalesce(p.language, 'unknown')", filter.languages);
  for (const [bound, op] of [
    [filter.since, '>='],
    [filter.until, '<'],
  ] as const) {
    if (bound === undefined) continue;
    if (!ISO_DATE.test(bound))
      throw new Error(`date '${bound}' is not ISO 8601 (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)`);
    conditions.push(`${columns.createdAt} ${op} ?`);
    params.push(bound);
  }
  if (filter.adapter !== undefined) {
    const { condition, params: adapterParams } = columns.adapter(filter.adapter);
    conditions.push(condition);
    params.push(...adapterParams);
  }
  return { conditions, params };
}

/** `WHERE` and the conditions, or nothing when there are none. */
export const whereOf = (conditions: readonly string[]): string =>
  conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
