import type Database from 'better-sqlite3';
import { type CandidateInput, findOrInsertCandidate } from './candidates.ts';
import { type FilterColumns, filterConditions, whereOf } from './filter.ts';
import type { PromptInput } from './hashing.ts';
import { insertPair, type PairFilter } from './pairs.ts';
import { upsertPrompt } from './prompts.ts';
import { sql } from './statements.ts';

/**
 * A completion judged on its own: accepted (desirable), or rejected or dismissed (undesirable). Where the same
 * prompt has both from one source, they also make pairs (see pairFeedback).
 */
export interface FeedbackInput {
  prompt: PromptInput;
  completion: string;
  desirable: boolean;
  /** The tool that saw it: 'inline', 'continue', 'tabby'. */
  source: string;
  model?: string | undefined;
  /** The tool's own id of this judgment: a second row with the same source and id is not stored. */
  externalId?: string | undefined;
  /** The adapter that sampled the completion, for Prefer's own. */
  adapterId?: number | undefined;
  /** ISO 8601 (as Date.toISOString writes); now when absent. */
  createdAt?: string | undefined;
}

/** What a KTO trainer and the exporters read. */
export interface StoredFeedback {
  id: number;
  prefix: string;
  suffix: string;
  completion: string;
  desirable: boolean;
  source: string;
  model: string | null;
  filePath: string | null;
  createdAt: string;
}

export interface FeedbackCounts {
  imported: number;
  /** Already stored (an earlier import, or a repeat). */
  skipped: number;
  /** Pairs added from prompts with both an accepted and a rejected completion. */
  pairsAdded: number;
}

/** A completion accepted or turned down as it came: below an explicit pick's 1.0. */
export const IMPLICIT_CONFIDENCE = 0.5;
/** The most texts of each side paired per prompt (the newest): a prompt retried many times stays bounded. */
const MAX_TEXTS_PER_SIDE = 8;
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/**
 * What completions offered one after another say on their own: the accepted one (`acceptedIndex`) is
 * desirable and each offered before it was passed over, undesirable; with none accepted, the first one shown
 * was dismissed.
 */
export function offeredFeedback(
  prompt: PromptInput,
  offered: readonly CandidateInput[],
  acceptedIndex: number | undefined,
  source: string,
): FeedbackInput[] {
  const judged = (c: CandidateInput, desirable: boolean): FeedbackInput => ({
    prompt,
    completion: c.text,
    desirable,
    source,
    model: c.modelId,
    adapterId: c.adapterId,
  });
  if (acceptedIndex === undefined) return offered.slice(0, 1).map((c) => judged(c, false));
  const accepted = offered[acceptedIndex];
  if (!accepted) return [];
  const passedOver = offered.slice(0, acceptedIndex).filter((c) => c.text !== accepted.text);
  return [...passedOver.map((c) => judged(c, false)), judged(accepted, true)];
}

function validate(f: FeedbackInput): void {
  if (typeof f.completion !== 'string' || f.completion.trim() === '')
    throw new Error('feedback: empty completion');
  if (typeof f.source !== 'string' || f.source.trim() === '') throw new Error('feedback: empty source');
  if (f.createdAt !== undefined && !ISO_TIMESTAMP.test(f.createdAt))
    throw new Error(`feedback: created at '${f.createdAt}' is not an ISO 8601 UTC timestamp`);
}

/** Stores one judged completion unless its source already has its external id; returns the prompt id and whether it was added. */
export function insertFeedback(
  db: Database.Database,
  f: FeedbackInput,
): { promptId: number; added: boolean } {
  validate(f);
  const promptId = upsertPrompt(db, f.prompt).id;
  const added =
    sql(
      db,
      `INSERT INTO feedback (prompt_id, completion, desirable, source, model, file_path, external_id, adapter_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, coalesce(?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))
       ON CONFLICT(source, external_id) WHERE external_id IS NOT NULL DO NOTHING`,
    ).run(
      promptId,
      f.completion,
      f.desirable ? 1 : 0,
      f.source,
      f.model ?? null,
      f.prompt.filePath ?? null,
      f.externalId ?? null,
      f.adapterId ?? null,
      f.createdAt ?? null,
    ).changes === 1;
  return { promptId, added };
}

/**
 * Pairs each accepted completion of the prompt with each completion of the same source rejected there (a text
 * both accepted and rejected is left out). Pairs already stored are skipped; returns how many were added.
 */
export function pairFeedback(
  db: Database.Database,
  promptId: number,
  source: string,
  confidence: number,
): number {
  const rows = sql(
    db,
    `SELECT completion, desirable, model FROM feedback WHERE prompt_id = ? AND source = ? ORDER BY id DESC`,
  ).all(promptId, source) as { completion: string; desirable: number; model: string | null }[];
  const accepted = new Map<string, string | null>();
  const rejected = new Map<string, string | null>();
  for (const row of rows) {
    const side = row.desirable ? accepted : rejected;
    if (!side.has(row.completion)) side.set(row.completion, row.model);
  }
  const chosen = [...accepted].slice(0, MAX_TEXTS_PER_SIDE);
  const others = [...rejected].filter(([text]) => !accepted.has(text)).slice(0, MAX_TEXTS_PER_SIDE);
  if (chosen.length === 0 || others.length === 0) return 0;
  const prompt = sql(db, 'SELECT hash FROM prompt WHERE id = ?').get(promptId) as { hash: string };
  const candidate = (text: string, model: string | null) =>
    findOrInsertCandidate(db, promptId, { text, modelId: model ?? source });
  let added = 0;
  for (const [chosenText, chosenModel] of chosen) {
    const chosenId = candidate(chosenText, chosenModel);
    for (const [rejectedText, rejectedModel] of others) {
      const pair = {
        promptId,
        promptHash: prompt.hash,
        chosenId,
        chosenText,
        rejectedId: candidate(rejectedText, rejectedModel),
        rejectedText,
        source,
        confidence,
      };
      if (insertPair(db, pair)) added++;
    }
  }
  return added;
}

/**
 * Stores a batch of judged completions (call it inside one transaction), then pairs them by prompt and
 * source where a prompt got both an accepted and a rejected one, this batch or earlier.
 */
export function storeFeedbackBatch(
  db: Database.Database,
  batch: readonly FeedbackInput[],
  confidence = IMPLICIT_CONFIDENCE,
): FeedbackCounts {
  const counts: FeedbackCounts = { imported: 0, skipped: 0, pairsAdded: 0 };
  const touched = new Map<string, { promptId: number; source: string }>();
  for (const f of batch) {
    const { promptId, added } = insertFeedback(db, f);
    if (!added) {
      counts.skipped++;
      continue;
    }
    counts.imported++;
    touched.set(`${promptId}\u0000${f.source}`, { promptId, source: f.source });
  }
  for (const { promptId, source } of touched.values())
    counts.pairsAdded += pairFeedback(db, promptId, source, confidence);
  return counts;
}

/** Feedback has no candidates: its own adapter column answers the adapter filter ('base': sampled with none). */
const FEEDBACK_FILTER_COLUMNS: FilterColumns = {
  source: 'f.source',
  createdAt: 'f.created_at',
  adapter: (adapter) =>
    adapter === 'base'
      ? { condition: 'f.adapter_id IS NULL', params: [] }
      : { condition: 'f.adapter_id = ?', params: [adapter] },
};

const FEEDBACK_FROM = 'FROM feedback f JOIN prompt p ON p.id = f.prompt_id';

/** Streams the judged completions that match the filter (its disagreement flag aside), oldest first. */
export function* iterateFeedback(db: Database.Database, filter: PairFilter = {}): Generator<StoredFeedback> {
  const { conditions, params } = filterConditions(filter, FEEDBACK_FILTER_COLUMNS);
  const rows = db
    .prepare(
      `SELECT f.id, p.prefix, p.suffix, f.completion, f.desirable, f.source, f.model, f.file_path AS filePath,
              f.created_at AS createdAt
       ${FEEDBACK_FROM} ${whereOf(conditions)} ORDER BY f.id`,
    )
    .iterate(...params) as Iterable<Omit<StoredFeedback, 'desirable'> & { desirable: number }>;
  for (const row of rows) yield { ...row, desirable: row.desirable === 1 };
}

export function countFeedback(db: Database.Database, filter: PairFilter = {}): number {
  const { conditions, params } = filterConditions(filter, FEEDBACK_FILTER_COLUMNS);
  return (
    db.prepare(`SELECT count(*) AS n ${FEEDBACK_FROM} ${whereOf(conditions)}`).get(...params) as { n: number }
  ).n;
}

/** Judged completions by source, desirable and not, for the store's statistics. */
export function feedbackBySource(
  db: Database.Database,
): Record<string, { desirable: number; undesirable: number }> {
  const rows = db
    .prepare(
      'SELECT source, sum(desirable) AS d, count(*) - sum(desirable) AS u FROM feedback GROUP BY source ORDER BY source',
    )
    .all() as { source: string; d: number; u: number }[];
  return Object.fromEntries(rows.map((r) => [r.source, { desirable: r.d, undesirable: r.u }]));
}
