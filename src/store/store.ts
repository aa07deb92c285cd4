import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
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
import type { CandidateInput } from './candidates.ts';
import type { PromptInput } from './hashing.ts';
import { type JudgmentInput, type JudgmentResult, recordJudgment } from './judgments.ts';
import {
  finishLabelerRun,
  type LabelerRun,
  type LabelerRunResult,
  labelerRun,
  recordLabelScore,
  startLabelerRun,
} from './labelerRuns.ts';
import { migrate } from './migrations.ts';
import { countPairs, iteratePairs, type PairFilter, type StoredPair } from './pairs.ts';
import { upsertPrompt } from './prompts.ts';
import { type StoreStats, storeStats } from './stats.ts';
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
  trainingSteps,
} from './training.ts';

export type { AbRecord, Adapter, AdapterInput } from './adapters.ts';
export type { CandidateInput } from './candidates.ts';
export { type PromptInput, promptHash } from './hashing.ts';
export type { JudgmentInput, JudgmentResult, Outcome } from './judgments.ts';
export type { LabelerRun, LabelerRunResult } from './labelerRuns.ts';
export type { PairFilter, StoredPair } from './pairs.ts';
export type { StoreStats } from './stats.ts';
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

/** The preference store: one SQLite file, opened in WAL mode, schema brought up to date on open. */
export class Store {
  readonly db: Database.Database;
  readonly file: string;

  constructor(file: string) {
    this.file = file;
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    // Set before anything else touches the file, so a second writer waits instead of failing with SQLITE_BUSY.
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('synchronous = NORMAL');
    migrate(this.db);
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** Stores a prompt (deduplicated by content hash) and returns its id. */
  upsertPrompt(p: PromptInput): number {
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
    return recordJudgment(this.db, input);
  }

  /** Streams stored pairs for the trainer and exporters; see PairFilter. */
  iteratePairs(filter: PairFilter = {}): Generator<StoredPair> {
    return iteratePairs(this.db, filter);
  }

  countPairs(filter: PairFilter = {}): number {
    return countPairs(this.db, filter);
  }

  startLabelerRun(labeler: string, config: Record<string, unknown> = {}): number {
    return startLabelerRun(this.db, labeler, config);
  }

  recordLabelScore(runId: number, candidateId: number, score: number, detail?: string): void {
    recordLabelScore(this.db, runId, candidateId, score, detail);
  }

  finishLabelerRun(runId: number, result: LabelerRunResult): void {
    finishLabelerRun(this.db, runId, result);
  }

  labelerRun(runId: number): LabelerRun | undefined {
    return labelerRun(this.db, runId);
  }

  startTrainingRun(run: {
    baseModelHash: string;
    config?: Record<string, unknown> | undefined;
    owner?: TrainingRunOwner | undefined;
  }): number {
    return startTrainingRun(this.db, run);
  }

  resumeTrainingRun(runId: number, step: number, owner?: TrainingRunOwner): void {
    resumeTrainingRun(this.db, runId, step, owner);
  }

  interruptTrainingRun(runId: number): boolean {
    return interruptTrainingRun(this.db, runId);
  }

  interruptOrphanedTrainingRuns(alive: (owner: TrainingRunOwner) => boolean): number[] {
    return interruptOrphanedTrainingRuns(this.db, alive);
  }

  recordTrainingStep(runId: number, split: MetricSplit, step: number, metrics: TrainingMetrics): void {
    recordTrainingStep(this.db, runId, split, step, metrics);
  }

  finishTrainingRun(
    runId: number,
    status: 'done' | 'failed' | 'cancelled' | 'interrupted',
    adapterId?: number,
  ): void {
    finishTrainingRun(this.db, runId, status, adapterId);
  }

  trainingRun(runId: number): TrainingRun | undefined {
    return trainingRun(this.db, runId);
  }

  trainingSteps(runId: number, split: MetricSplit): { step: number; metrics: TrainingMetrics }[] {
    return trainingSteps(this.db, runId, split);
  }

  registerAdapter(a: AdapterInput): Adapter {
    return registerAdapter(this.db, a);
  }

  activateAdapter(id: number | undefined): void {
    activateAdapter(this.db, id);
  }

  activeAdapter(): Adapter | undefined {
    return activeAdapter(this.db);
  }

  adapters(): Adapter[] {
    return adapters(this.db);
  }

  deleteAdapter(id: number): void {
    deleteAdapter(this.db, id);
  }

  updateAbRecord(adapterId: number): AbRecord {
    return updateAbRecord(this.db, adapterId);
  }

  stats(): StoreStats {
    return storeStats(this.db);
  }

  close(): void {
    this.db.close();
  }
}

export function openStore(file: string): Store {
  return new Store(file);
}
