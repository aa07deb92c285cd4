import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './migrations.ts';

export interface PromptInput {
  workspace?: string | undefined;
  filePath?: string | undefined;
  language?: string | undefined;
  prefix: string;
  suffix?: string | undefined;
}

export interface CandidateInput {
  text: string;
  modelId: string;
}

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

export interface StoreStats {
  prompts: number;
  candidates: number;
  comparisons: number;
  pairs: number;
  pairsBySource: Record<string, number>;
  pairsByLanguage: Record<string, number>;
}

export function promptHash(p: PromptInput): string {
  return createHash('sha256')
    .update(JSON.stringify([p.workspace ?? null, p.filePath ?? null, p.language ?? null, p.prefix, p.suffix ?? '']))
    .digest('hex');
}

/** The preference store: one SQLite file, opened in WAL mode, schema brought up to date on open. */
export class Store {
  readonly db: Database.Database;
  readonly file: string;

  constructor(file: string) {
    this.file = file;
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('synchronous = NORMAL');
    migrate(this.db);
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** Stores a prompt (deduplicated by content hash) and returns its id. */
  upsertPrompt(p: PromptInput): number {
    const hash = promptHash(p);
    this.db
      .prepare(
        `INSERT INTO prompt (hash, workspace, file_path, language, prefix, suffix)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(hash) DO NOTHING`,
      )
      .run(hash, p.workspace ?? null, p.filePath ?? null, p.language ?? null, p.prefix, p.suffix ?? '');
    return (this.db.prepare('SELECT id FROM prompt WHERE hash = ?').get(hash) as { id: number }).id;
  }

  /** Records a pick as one comparison and the pairs chosen-over-each-other-candidate, atomically. */
  recordPick(input: PickInput): PickResult {
    const { candidates, chosenIndex } = input;
    if (candidates.length < 2) throw new Error('a pick needs at least two candidates');
    if (!Number.isInteger(chosenIndex) || chosenIndex < 0 || chosenIndex >= candidates.length) {
      throw new Error(`chosenIndex ${chosenIndex} is outside 0..${candidates.length - 1}`);
    }
    return this.db.transaction((): PickResult => {
      const promptId = this.upsertPrompt(input.prompt);
      const insertCandidate = this.db.prepare('INSERT INTO candidate (prompt_id, text, model_id) VALUES (?, ?, ?)');
      const ids = candidates.map((c) => Number(insertCandidate.run(promptId, c.text, c.modelId).lastInsertRowid));
      const chosenId = ids[chosenIndex]!;
      const comparisonId = Number(
        this.db
          .prepare(
            `INSERT INTO comparison (prompt_id, shown_order, outcome, chosen_id, rationale, decision_ms)
             VALUES (?, ?, 'pick', ?, ?, ?)`,
          )
          .run(promptId, JSON.stringify(ids), chosenId, input.rationale ?? null, input.decisionMs ?? null)
          .lastInsertRowid,
      );
      const insertPair = this.db.prepare(
        `INSERT INTO pair (prompt_id, chosen_id, rejected_id, source, confidence, comparison_id)
         VALUES (?, ?, ?, 'human', 1.0, ?)`,
      );
      let pairsAdded = 0;
      ids.forEach((id, i) => {
        // Identical texts are no preference: keep the candidate, skip the pair.
        if (id === chosenId || candidates[i]!.text === candidates[chosenIndex]!.text) return;
        insertPair.run(promptId, chosenId, id, comparisonId);
        pairsAdded++;
      });
      return { comparisonId, pairsAdded };
    })();
  }

  stats(): StoreStats {
    const count = (table: string) =>
      (this.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    const grouped = (sql: string) =>
      Object.fromEntries(
        (this.db.prepare(sql).all() as { k: string | null; n: number }[]).map((r) => [r.k ?? 'unknown', r.n]),
      );
    return {
      prompts: count('prompt'),
      candidates: count('candidate'),
      comparisons: count('comparison'),
      pairs: count('pair'),
      pairsBySource: grouped('SELECT source AS k, count(*) AS n FROM pair GROUP BY source ORDER BY source'),
      pairsByLanguage: grouped(
        `SELECT p.language AS k, count(*) AS n FROM pair JOIN prompt p ON p.id = pair.prompt_id
         GROUP BY p.language ORDER BY p.language`,
      ),
    };
  }

  close(): void {
    this.db.close();
  }
}

export function openStore(file: string): Store {
  return new Store(file);
}
