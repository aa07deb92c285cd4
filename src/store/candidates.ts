import type Database from 'better-sqlite3';
import { textHash } from './hashing.ts';
import { sql } from './statements.ts';

/** One sampled (or typed) completion and how it was produced. */
export interface CandidateInput {
  text: string;
  modelId: string;
  tokenCount?: number | undefined;
  /** Summed log-probability of the completion's tokens under the sampling model. */
  logprob?: number | undefined;
  samplingParams?: Record<string, unknown> | undefined;
  seed?: number | undefined;
  adapterId?: number | undefined;
}

export function validateCandidate(c: CandidateInput, where: string): void {
  if (typeof c?.text !== 'string') throw new Error(`${where}: text must be a string`);
  if (typeof c.modelId !== 'string' || c.modelId === '')
    throw new Error(`${where}: modelId must be a non-empty string`);
  for (const field of ['tokenCount', 'seed', 'adapterId'] as const) {
    const v = c[field];
    if (v !== undefined && !Number.isInteger(v)) throw new Error(`${where}: ${field} must be an integer`);
  }
  if (c.logprob !== undefined && !Number.isFinite(c.logprob))
    throw new Error(`${where}: logprob must be a finite number`);
}

export function insertCandidate(
  db: Database.Database,
  promptId: number,
  c: CandidateInput,
  hash: Buffer = textHash(c.text),
): number {
  return Number(
    sql(
      db,
      `INSERT INTO candidate (prompt_id, text, text_hash, model_id, token_count, logprob, sampling_params, seed, adapter_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      promptId,
      c.text,
      hash,
      c.modelId,
      c.tokenCount ?? null,
      c.logprob ?? null,
      c.samplingParams === undefined ? null : JSON.stringify(c.samplingParams),
      c.seed ?? null,
      c.adapterId ?? null,
    ).lastInsertRowid,
  );
}

/** The candidate with this text for this prompt, stored once: imported pairs share their texts. */
export function findOrInsertCandidate(
  db: Database.Database,
  promptId: number,
  c: CandidateInput,
  hash: Buffer = textHash(c.text),
): number {
  const same = sql(
    db,
    'SELECT id FROM candidate WHERE prompt_id = ? AND text_hash = ? AND text = ? ORDER BY id LIMIT 1',
  ).get(promptId, hash, c.text) as { id: number } | undefined;
  return same ? same.id : insertCandidate(db, promptId, c, hash);
}
