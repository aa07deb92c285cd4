import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { InputError } from '../inputError.ts';
import {
  type AbRecord,
  type Adapter,
  type AdapterInput,
  activateAdapter,
  activeAdapter,
  adapters,
  deleteAdapter,
  registerAdapter,
  updateAbRecord,
} from './adapters.ts';
import { type AbJudgment, abHistory } from './abHistory.ts';
import type { CandidateInput } from './candidates.ts';
import type { PromptInput } from './hashing.ts';
import {
  countFeedback,
  feedbackBySource,
  type FeedbackCounts,
  type FeedbackInput,
  insertFeedback,
  iterateFeedback,
  type StoredFeedback,
  storeFeedbackBatch,
} from './feedback.ts';
import { type JudgmentInput, type JudgmentResult, recordJudgment } from './judgments.ts';
import {
  candidatesOf,
  finishLabelerRun,
  type LabelPrompt,
  type LabelerRun,
  type LabelerRunResult,
  labelablePrompts,
  labelerDisagreements,
  labelerRun,
  labelPrompt,
  labelScores,
  recordLabelScore,
  startLabelerRun,
} from './labelerRuns.ts';
import { migrate, migrations } from './migrations.ts';
import { type ImportDefaults, type ImportedCounts, type ImportedPair, pairImporter } from './pairImport.ts';
import {
  countPairs,
  insertPair,
  iteratePairs,
  type PairFilter,
  type PairInput,
  pairsByIds,
  type StoredPair,
} from './pairs.ts';
import { upsertPrompt } from './prompts.ts';
import { type StatsReport, type StoreStats, statsReport, storeStats } from './stats.ts';
import {
  BUSY_TIMEOUT_MS,
  inspectStoreFile,
  openDatabase,
  openForReading,
  type Reader,
  storeError,
  switchToWal,
} from './storeFile.ts';
import { iterateTies, type StoredTie } from './ties.ts';
import {
  finishTrainingRun,
  interruptOrphanedTrainingRuns,
  interruptTrainingRun,
  type MetricSplit,
  recordTrainingStep,
  resumeTrainingRun,
  startTrainingRun,
  type TrainingMetrics,
  type TrainingRun,
  type TrainingRunOwner,
  trainingRun,
  trainingRunIds,
  trainingSteps,
} from './training.ts';
import { writeTransaction } from './writeTransaction.ts';

export type { AbRecord, Adapter, AdapterInput } from './adapters.ts';
export type { AbJudgment } from './abHistory.ts';
export type { CandidateInput } from './candidates.ts';
export { type PromptInput, promptHash } from './hashing.ts';
export {
  type FeedbackCounts,
  type FeedbackInput,
  IMPLICIT_CONFIDENCE,
  offeredFeedback,
  type StoredFeedback,
} from './feedback.ts';
export type { JudgmentInput, JudgmentResult, Outcome } from './judgments.ts';
export type { LabelPrompt, LabelerRun, LabelerRunResult } from './labelerRuns.ts';
export type { ImportDefaults, ImportedCounts, ImportedPair } from './pairImport.ts';
export type { PairFilter, PairInput, StoredPair } from './pairs.ts';
export { type AdapterAbRecord, HELD_OUT_PAIRS, type RunSummary, type StatsReport, type StoreStats } from './stats.ts';
export type { StoredTie } from './ties.ts';
export {
  TRL_METRIC_NAMES,
  type TrainingMetrics,
  type TrainingRun,
  type TrainingRunOwner,
  type TrainingRunStatus,
  type TrlMetricName,
} from './training.ts';

/** One pick: the user chose `candidates[chosenIndex]` out of `candidates`, shown in that order. */
export interface PickInput {
  prompt: PromptInput;
  candidates: readonly CandidateInput[];
  chosenIndex: number;
  rationale?: string | undefined;
  decisionMs?: number | undefined;
}

export interface PickResult {
  comparisonId: number;
  pairsAdded: number;
}

export interface StoreOptions {
  /**
   * Only read: the file is never written (no migration, no WAL switch, no -wal or -shm left behind); a store
   * of an older schema is read from an upgraded copy in memory. A missing file is an error.
   */
  readonly?: boolean | undefined;
}

/**
 * The preference store: one SQLite file, opened in WAL mode, schema brought up to date on open. Only a new
 * (missing or empty) file or a Prefer store is opened: any other file is refused before a byte of it changes.
 */
export class Store {
  private readonly db: Database.Database;
  readonly file: string;
  readonly readonly: boolean;
  /** Whether the file held a store before this open, so its pages are checked before the first write. */
  private unchecked: boolean;
  private reader: Reader | undefined;

  constructor(file: string, options: StoreOptions = {}) {
    this.file = file;
    this.readonly = options.readonly === true;
    try {
      const kind = file === ':memory:' ? 'new' : inspectStoreFile(file);
      this.unchecked = kind === 'store';
      if (this.readonly) this.db = this.openReadonly(kind);
      else this.db = this.openWritable(kind);
    } catch (e) {
      this.reader?.dispose();
      throw storeError(file, e);
    }
  }

  private openWritable(kind: 'new' | 'store'): Database.Database {
    if (this.file !== ':memory:' && kind === 'new') mkdirSync(dirname(this.file), { recursive: true });
    const db = openDatabase(this.file);
    try {
      // Set before anything else touches the file, so a second writer waits instead of failing with SQLITE_BUSY.
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      switchToWal(db);
      db.pragma('foreign_keys = ON');
      db.pragma('synchronous = NORMAL');
      // A migration is a write: a damaged store is refused before it.
      if (this.unchecked && (db.pragma('user_version', { simple: true }) as number) < migrations.length)
        this.checkIntact(db);
      migrate(db);
      return db;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private openReadonly(kind: 'new' | 'store'): Database.Database {
    if (kind === 'new') {
      // Nothing stored yet: an empty store in memory answers every question without creating the file.
      if (this.file !== ':memory:' && !existsSync(this.file))
        throw new InputError(`${this.file}: no such database`);
      const db = openDatabase(':memory:');
      migrate(db);
      return db;
    }
    this.reader = openForReading(this.file);
    const version = this.reader.db.pragma('user_version', { simple: true }) as number;
    if (version >= migrations.length) return this.reader.db;
    const image = this.reader.db.serialize();
    this.reader.dispose();
    this.reader = undefined;
    // An image of a WAL database must be marked as a rollback-journal one to open in memory.
    image[18] = image[19] = 1;
    const db = openDatabase(image);
    migrate(db);
    return db;
  }

  /** PRAGMA quick_check (about 1 ms per 1000 pairs: bench/store.ts): a store damaged on disk is refused, not written into. */
  private checkIntact(db: Database.Database = this.db): void {
    let found: string[];
    try {
      const problems = db.pragma('quick_check(3)', { simple: false }) as { quick_check: string }[];
      found = problems.map((p) => p.quick_check).filter((p) => p !== 'ok');
    } catch (e) {
      // Damage to the schema or to page 1 stops the check itself.
      if (!/^SQLITE_(CORRUPT|NOTADB)/.test(String((e as { code?: unknown }).code))) throw e;
      found = [(e as Error).message];
    }
    if (found.length > 0) {
      throw new InputError(
        `${this.file}: the database is damaged (${found.join('; ').replace(/\s+/g, ' ')}); restore it from a backup or use another file`,
      );
    }
    this.unchecked = false;
  }

  /** Called before the first write of this connection: see checkIntact. */
  private beforeWrite(): void {
    if (this.unchecked) this.checkIntact();
  }

  /** Checks an existing store now rather than at the first write (see checkIntact): a damaged one is refused. */
  prepareToWrite(): void {
    this.beforeWrite();
  }

  /**
   * Runs `fn` as one transaction that takes the write lock at its start (see writeTransaction.ts): every store
   * write inside it commits together or not at all.
   */
  writeTransaction<R>(fn: () => R): R {
    this.beforeWrite();
    return writeTransaction(this.db, fn)();
  }

  /**
   * A writer of imported pairs, one transaction per batch; the store is checked before it is returned, so a
   * damaged store is refused before the first line is read.
   */
  pairImporter(defaults: ImportDefaults): (batch: readonly ImportedPair[]) => ImportedCounts {
    this.beforeWrite();
    const storeBatch = writeTransaction(this.db, pairImporter(this.db, defaults));
    return (batch) => {
      try {
        return storeBatch(batch);
      } catch (e) {
        throw storeError(this.file, e);
      }
    };
  }

  /** Stores a pair (a labeler's, say) unless already stored; returns whether a row was added. See insertPair. */
  addPair(pair: PairInput): boolean {
    this.beforeWrite();
    return insertPair(this.db, pair);
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** Stores a prompt (deduplicated by content hash) and returns its id. */
  upsertPrompt(p: PromptInput): number {
    this.beforeWrite();
    return upsertPrompt(this.db, p).id;
  }

  /** Records a pick as one comparison and the pairs chosen-over-each-other-candidate, atomically. */
  recordPick(input: PickInput): PickResult {
    const { comparisonId, pairsAdded } = this.recordJudgment({
      prompt: input.prompt,
      candidates: input.candidates,
      outcome: { kind: 'pick', chosenIndex: input.chosenIndex },
      rationale: input.rationale,
      decisionMs: input.decisionMs,
    });
    return { comparisonId, pairsAdded };
  }

  /** Records any judgment (pick, ranking, tie, both bad, skip, edited answer) and the pairs it implies. */
  recordJudgment(input: JudgmentInput): JudgmentResult {
    this.beforeWrite();
    return recordJudgment(this.db, input);
  }

  /** Streams stored pairs for the trainer and exporters; see PairFilter. */
  *iteratePairs(filter: PairFilter = {}): Generator<StoredPair> {
    try {
      yield* iteratePairs(this.db, filter);
    } catch (e) {
      throw storeError(this.file, e);
    }
  }

  /** The pairs with these ids in the given order, disagreements included; ids no longer stored are left out. */
  pairsByIds(ids: readonly number[]): StoredPair[] {
    return pairsByIds(this.db, ids);
  }

  /** Streams the tie and both-bad judgments through the same filter as pairs (disagreements aside). */
  *iterateTies(filter: PairFilter = {}): Generator<StoredTie> {
    try {
      yield* iterateTies(this.db, filter);
    } catch (e) {
      throw storeError(this.file, e);
    }
  }

  countPairs(filter: PairFilter = {}): number {
    return countPairs(this.db, filter);
  }

  /**
   * A writer of judged completions, one transaction per batch, pairing a prompt's accepted and rejected ones
   * of the same source (pairs at `confidence`); the store is checked before it is returned.
   */
  feedbackImporter(confidence?: number): (batch: readonly FeedbackInput[]) => FeedbackCounts {
    this.beforeWrite();
    const storeBatch = writeTransaction(this.db, (batch: readonly FeedbackInput[]) =>
      storeFeedbackBatch(this.db, batch, confidence),
    );
    return (batch) => {
      try {
        return storeBatch(batch);
      } catch (e) {
        throw storeError(this.file, e);
      }
    };
  }

  /** Stores completions judged on their own (inline mode's accepts and dismissals) in one transaction; no pairs. */
  recordFeedback(items: readonly FeedbackInput[]): number {
    return this.writeTransaction(() => items.filter((f) => insertFeedback(this.db, f).added).length);
  }

  /** Streams the completions judged on their own, through the same filter as pairs (disagreements aside). */
  *iterateFeedback(filter: PairFilter = {}): Generator<StoredFeedback> {
    try {
      yield* iterateFeedback(this.db, filter);
    } catch (e) {
      throw storeError(this.file, e);
    }
  }

  countFeedback(filter: PairFilter = {}): number {
    return countFeedback(this.db, filter);
  }

  /** Judged completions by source (inline, continue, tabby), desirable and not. */
  feedbackBySource(): Record<string, { desirable: number; undesirable: number }> {
    return feedbackBySource(this.db);
  }

  startLabelerRun(labeler: string, config: Record<string, unknown> = {}): number {
    this.beforeWrite();
    return startLabelerRun(this.db, labeler, config);
  }

  recordLabelScore(runId: number, candidateId: number, score: number, detail?: string): void {
    this.beforeWrite();
    recordLabelScore(this.db, runId, candidateId, score, detail);
  }

  finishLabelerRun(runId: number, result: LabelerRunResult): void {
    this.beforeWrite();
    finishLabelerRun(this.db, runId, result);
  }

  labelerRun(runId: number): LabelerRun | undefined {
    return labelerRun(this.db, runId);
  }

  /** Ids and languages of the prompts a labeler can compare (two distinct texts or more), oldest first. */
  labelablePrompts(languages?: readonly string[]): { id: number; language: string | null }[] {
    return labelablePrompts(this.db, languages);
  }

  labelPrompt(promptId: number): LabelPrompt | undefined {
    return labelPrompt(this.db, promptId);
  }

  candidatesOf(promptId: number): { id: number; text: string }[] {
    return candidatesOf(this.db, promptId);
  }

  labelerDisagreements(runId: number): number {
    return labelerDisagreements(this.db, runId);
  }

  labelScores(runId: number): { candidateId: number; score: number; detail: string | null }[] {
    return labelScores(this.db, runId);
  }

  startTrainingRun(run: {
    baseModelHash: string;
    config?: Record<string, unknown> | undefined;
    owner?: TrainingRunOwner | undefined;
  }): number {
    this.beforeWrite();
    return startTrainingRun(this.db, run);
  }

  resumeTrainingRun(runId: number, step: number, owner?: TrainingRunOwner): void {
    this.beforeWrite();
    resumeTrainingRun(this.db, runId, step, owner);
  }

  interruptTrainingRun(runId: number): boolean {
    this.beforeWrite();
    return interruptTrainingRun(this.db, runId);
  }

  interruptOrphanedTrainingRuns(alive: (owner: TrainingRunOwner) => boolean): number[] {
    this.beforeWrite();
    return interruptOrphanedTrainingRuns(this.db, alive);
  }

  recordTrainingStep(runId: number, split: MetricSplit, step: number, metrics: TrainingMetrics): void {
    this.beforeWrite();
    recordTrainingStep(this.db, runId, split, step, metrics);
  }

  finishTrainingRun(
    runId: number,
    status: 'done' | 'failed' | 'cancelled' | 'interrupted',
    adapterId?: number,
  ): void {
    this.beforeWrite();
    finishTrainingRun(this.db, runId, status, adapterId);
  }

  trainingRun(runId: number): TrainingRun | undefined {
    return trainingRun(this.db, runId);
  }

  trainingRunIds(): number[] {
    return trainingRunIds(this.db);
  }

  trainingSteps(runId: number, split: MetricSplit): { step: number; metrics: TrainingMetrics }[] {
    return trainingSteps(this.db, runId, split);
  }

  registerAdapter(a: AdapterInput): Adapter {
    this.beforeWrite();
    return registerAdapter(this.db, a);
  }

  activateAdapter(id: number | undefined): void {
    this.beforeWrite();
    activateAdapter(this.db, id);
  }

  activeAdapter(): Adapter | undefined {
    return activeAdapter(this.db);
  }

  adapters(): Adapter[] {
    return adapters(this.db);
  }

  deleteAdapter(id: number): void {
    this.beforeWrite();
    deleteAdapter(this.db, id);
  }

  updateAbRecord(adapterId: number): AbRecord {
    this.beforeWrite();
    return updateAbRecord(this.db, adapterId);
  }

  /** The adapter's blind A/B judgments, oldest first, with the running record after each. */
  abHistory(adapterId: number): AbJudgment[] {
    return abHistory(this.db, adapterId);
  }

  stats(): StoreStats {
    return storeStats(this.db);
  }

  /** The counts with pairs per day, pairs by judgment, training runs and blind A/B records: the stats view. */
  statsReport(): StatsReport {
    return statsReport(this.db);
  }

  close(): void {
    if (this.reader) this.reader.dispose();
    else this.db.close();
  }
}

// Every error out of a store method names the store's file: SQLite's own messages name none.
for (const name of Object.getOwnPropertyNames(Store.prototype)) {
  const method = Object.getOwnPropertyDescriptor(Store.prototype, name)?.value as unknown;
  if (
    name === 'constructor' ||
    name === 'iteratePairs' ||
    name === 'iterateTies' ||
    name === 'iterateFeedback' ||
    typeof method !== 'function'
  )
    continue;
  Object.defineProperty(Store.prototype, name, {
    value: function named(this: Store, ...args: unknown[]): unknown {
      try {
        return (method as (...a: unknown[]) => unknown).apply(this, args);
      } catch (e) {
        throw storeError(this.file, e);
      }
    },
    writable: true,
    configurable: true,
  });
}

/** Opens (creating when missing) the store in `file`; see Store and StoreOptions. */
export function openStore(file: string, options: StoreOptions = {}): Store {
  return new Store(file, options);
}
