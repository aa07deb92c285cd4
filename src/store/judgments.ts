import type Database from 'better-sqlite3';
import { type CandidateInput, insertCandidate, validateCandidate } from './candidates.ts';
import type { PromptInput } from './hashing.ts';
import { HUMAN_SOURCE, insertPair } from './pairs.ts';
import { upsertPrompt } from './prompts.ts';
import { sql } from './statements.ts';
import { writeTransaction } from './writeTransaction.ts';

/** What the user did with the candidates shown to them. Indices refer to `candidates`, in shown order. */
export type Outcome =
  | { kind: 'pick'; chosenIndex: number }
  /** Every candidate, best first. */
  | { kind: 'ranking'; order: readonly number[] }
  | { kind: 'tie' }
  | { kind: 'both_bad' }
  | { kind: 'skip' }
  /** The user wrote their own answer; it is preferred over every candidate shown. */
  | { kind: 'edited'; text: string; modelId?: string | undefined };

export interface JudgmentInput {
  prompt: PromptInput;
  candidates: readonly CandidateInput[];
  outcome: Outcome;
  rationale?: string | undefined;
  decisionMs?: number | undefined;
  /** 'human' for an explicit judgment, 'implicit' for one inferred from what the user kept. */
  source?: 'human' | 'implicit' | undefined;
  /** 'blind-ab': candidates from the base model and an adapter, mixed without saying which is which. */
  mode?: 'compare' | 'blind-ab' | undefined;
  confidence?: number | undefined;
}

export interface JudgmentResult {
  comparisonId: number;
  pairsAdded: number;
  /** Ids of the stored candidates, in shown order. */
  candidateIds: number[];
  /** The user's own answer, stored as a candidate, for an edited outcome. */
  editedCandidateId?: number | undefined;
}

/** The model id recorded for an answer the user typed. */
export const USER_EDIT_MODEL_ID = 'user-edit';

function validate(input: JudgmentInput): void {
  const { candidates, outcome } = input;
  if (!Array.isArray(candidates)) throw new Error('candidates must be an array');
  candidates.forEach((c, i) => validateCandidate(c, `candidate ${i}`));
  const k = candidates.length;
  const index = (i: number, what: string) => {
    if (!Number.isInteger(i) || i < 0 || i >= k) throw new Error(`${what} ${i} is outside 0..${k - 1}`);
  };
  switch (outcome?.kind) {
    case 'pick':
      if (k < 2) throw new Error('a pick needs at least two candidates');
      index(outcome.chosenIndex, 'chosenIndex');
      break;
    case 'ranking': {
      if (k < 2) throw new Error('a ranking needs at least two candidates');
      if (!Array.isArray(outcome.order) || outcome.order.length !== k) {
        throw new Error(`a ranking must order all ${k} candidates`);
      }
      outcome.order.forEach((i) => index(i, 'ranking index'));
      if (new Set(outcome.order).size !== k) throw new Error('a ranking names a candidate twice');
      break;
    }
    case 'tie':
    case 'both_bad':
      if (k < 2) throw new Error(`${outcome.kind} needs at least two candidates`);
      break;
    case 'skip':
      break;
    case 'edited':
      if (k < 1) throw new Error('an edited answer needs the candidates it replaces');
      if (typeof outcome.text !== 'string' || outcome.text.trim() === '') {
        throw new Error('an edited answer must be non-empty text');
      }
      break;
    default:
      throw new Error(`unknown outcome '${String((outcome as { kind?: unknown } | undefined)?.kind)}'`);
  }
  if (input.decisionMs !== undefined && !(Number.isFinite(input.decisionMs) && input.decisionMs >= 0)) {
    throw new Error('decisionMs must be a non-negative number');
  }
  if (input.confidence !== undefined && !(input.confidence >= 0 && input.confidence <= 1)) {
    throw new Error('confidence must be within 0..1');
  }
}

/** The (better, worse) index pairs an outcome implies; -1 stands for the user's edited answer. */
export function preferencesOf(outcome: Outcome, k: number): [number, number][] {
  switch (outcome.kind) {
    case 'pick':
      return [...Array(k).keys()]
        .filter((i) => i !== outcome.chosenIndex)
        .map((i) => [outcome.chosenIndex, i]);
    case 'ranking': {
      const pairs: [number, number][] = [];
      outcome.order.forEach((better, i) =>
        outcome.order.slice(i + 1).forEach((worse) => pairs.push([better, worse])),
      );
      return pairs;
    }
    case 'edited':
      return [...Array(k).keys()].map((i) => [-1, i]);
    default:
      // Ties, both-bad and skips express no preference between candidates.
      return [];
  }
}

/** Records one comparison, its candidates and the pairs it implies, atomically. */
export function recordJudgment(db: Database.Database, input: JudgmentInput): JudgmentResult {
  validate(input);
  return writeTransaction(db, (): JudgmentResult => {
    const prompt = upsertPrompt(db, input.prompt);
    const candidateIds = input.candidates.map((c) => insertCandidate(db, prompt.id, c));
    const { outcome } = input;
    let editedCandidateId: number | undefined;
    if (outcome.kind === 'edited') {
      editedCandidateId = insertCandidate(db, prompt.id, {
        text: outcome.text,
        modelId: outcome.modelId ?? USER_EDIT_MODEL_ID,
      });
    }
    const chosenId =
      outcome.kind === 'pick'
        ? candidateIds[outcome.chosenIndex]
        : outcome.kind === 'ranking'
          ? candidateIds[outcome.order[0]!]
          : editedCandidateId;
    const source = input.source ?? HUMAN_SOURCE;
    const comparisonId = Number(
      sql(
        db,
        `INSERT INTO comparison (prompt_id, shown_order, outcome, chosen_id, ranking, rationale, decision_ms, source, mode)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        prompt.id,
        JSON.stringify(candidateIds),
        outcome.kind,
        chosenId ?? null,
        outcome.kind === 'ranking' ? JSON.stringify(outcome.order.map((i) => candidateIds[i])) : null,
        input.rationale ?? null,
        input.decisionMs === undefined ? null : Math.round(input.decisionMs),
        source,
        input.mode ?? 'compare',
      ).lastInsertRowid,
    );
    const textOf = (i: number) =>
      i === -1 && outcome.kind === 'edited' ? outcome.text : input.candidates[i]!.text;
    const idOf = (i: number) => (i === -1 ? editedCandidateId! : candidateIds[i]!);
    let pairsAdded = 0;
    for (const [better, worse] of preferencesOf(outcome, input.candidates.length)) {
      const added = insertPair(db, {
        promptId: prompt.id,
        promptHash: prompt.hash,
        chosenId: idOf(better),
        chosenText: textOf(better),
        rejectedId: idOf(worse),
        rejectedText: textOf(worse),
        source,
        confidence: input.confidence ?? 1,
        comparisonId,
      });
      if (added) pairsAdded++;
    }
    return { comparisonId, pairsAdded, candidateIds, editedCandidateId };
  })();
}
