import type Database from 'better-sqlite3';
import { pairTextsHash, textHash } from './hashing.ts';

/**
 * The schema, one migration per version. `PRAGMA user_version` records how many have run; a migration is
 * never edited after it ships: change the schema by appending a new one.
 */
export const migrations: readonly string[] = [
  // 1: prompts, the candidates sampled for them, the user's judgments, and the preference pairs they yield.
  `
  CREATE TABLE prompt (
    id          INTEGER PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    workspace   TEXT,
    file_path   TEXT,
    language    TEXT,
    prefix      TEXT NOT NULL,
    suffix      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  );
  CREATE TABLE candidate (
    id          INTEGER PRIMARY KEY,
    prompt_id   INTEGER NOT NULL REFERENCES prompt(id),
    text        TEXT NOT NULL,
    model_id    TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  );
  CREATE INDEX candidate_prompt ON candidate(prompt_id);
  CREATE TABLE comparison (
    id            INTEGER PRIMARY KEY,
    prompt_id     INTEGER NOT NULL REFERENCES prompt(id),
    shown_order   TEXT NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('pick', 'ranking', 'tie', 'both_bad', 'skip', 'edited')),
    chosen_id     INTEGER REFERENCES candidate(id),
    rationale     TEXT,
    decision_ms   INTEGER,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  );
  CREATE TABLE pair (
    id             INTEGER PRIMARY KEY,
    prompt_id      INTEGER NOT NULL REFERENCES prompt(id),
    chosen_id      INTEGER NOT NULL REFERENCES candidate(id),
    rejected_id    INTEGER NOT NULL REFERENCES candidate(id),
    source         TEXT NOT NULL,
    confidence     REAL NOT NULL DEFAULT 1.0,
    comparison_id  INTEGER REFERENCES comparison(id),
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK (chosen_id <> rejected_id)
  );
  CREATE INDEX pair_prompt ON pair(prompt_id);
  `,
  // 2: sample provenance on candidates; full rankings; pair dedupe by content and labeler provenance with a
  // disagreement flag; labeler runs and their scores; training runs with per-step metrics; adapters.
  // Pairs duplicated under version 1 (the same judgment made twice) collapse to the first; their
  // comparisons stay.
  `
  CREATE TABLE adapter (
    id               INTEGER PRIMARY KEY,
    version          INTEGER NOT NULL UNIQUE,
    path             TEXT NOT NULL,
    base_model_hash  TEXT NOT NULL,
    data_from        TEXT,
    data_to          TEXT,
    pair_count       INTEGER,
    metrics          TEXT,
    active           INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    created_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  );
  CREATE UNIQUE INDEX adapter_one_active ON adapter(active) WHERE active = 1;

  ALTER TABLE candidate ADD COLUMN token_count INTEGER;
  ALTER TABLE candidate ADD COLUMN logprob REAL;
  ALTER TABLE candidate ADD COLUMN sampling_params TEXT;
  ALTER TABLE candidate ADD COLUMN seed INTEGER;
  ALTER TABLE candidate ADD COLUMN adapter_id INTEGER REFERENCES adapter(id);
  ALTER TABLE candidate ADD COLUMN text_hash TEXT;
  UPDATE candidate SET text_hash = prefer_text_hash(text);
  CREATE INDEX candidate_prompt_text ON candidate(prompt_id, text_hash);
  DROP INDEX candidate_prompt; -- its column leads candidate_prompt_text
  CREATE INDEX candidate_adapter ON candidate(adapter_id) WHERE adapter_id IS NOT NULL;

  ALTER TABLE comparison ADD COLUMN ranking TEXT;
  ALTER TABLE comparison ADD COLUMN source TEXT NOT NULL DEFAULT 'human';

  CREATE TABLE labeler_run (
    id           INTEGER PRIMARY KEY,
    labeler      TEXT NOT NULL,
    config       TEXT NOT NULL DEFAULT '{}',
    status       TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    candidates_scored INTEGER NOT NULL DEFAULT 0,
    pairs_added  INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    started_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at  TEXT
  );
  CREATE TABLE label_score (
    labeler_run_id  INTEGER NOT NULL REFERENCES labeler_run(id),
    candidate_id    INTEGER NOT NULL REFERENCES candidate(id),
    score           REAL NOT NULL,
    detail          TEXT,
    PRIMARY KEY (labeler_run_id, candidate_id)
  );

  ALTER TABLE pair ADD COLUMN texts_hash TEXT;
  ALTER TABLE pair ADD COLUMN labeler_run_id INTEGER REFERENCES labeler_run(id);
  ALTER TABLE pair ADD COLUMN disagrees_with_human INTEGER NOT NULL DEFAULT 0;
  UPDATE pair SET texts_hash = prefer_pair_texts_hash(
    (SELECT hash FROM prompt WHERE prompt.id = pair.prompt_id),
    (SELECT text FROM candidate WHERE candidate.id = pair.chosen_id),
    (SELECT text FROM candidate WHERE candidate.id = pair.rejected_id));
  DELETE FROM pair WHERE id NOT IN (SELECT min(id) FROM pair GROUP BY texts_hash, source);
  CREATE UNIQUE INDEX pair_content ON pair(texts_hash, source);
  CREATE INDEX pair_created ON pair(created_at);

  CREATE TABLE training_run (
    id               INTEGER PRIMARY KEY,
    base_model_hash  TEXT NOT NULL,
    config           TEXT NOT NULL DEFAULT '{}',
    status           TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
    adapter_id       INTEGER REFERENCES adapter(id),
    started_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at      TEXT
  );
  CREATE TABLE training_metric (
    training_run_id  INTEGER NOT NULL REFERENCES training_run(id),
    split            TEXT NOT NULL CHECK (split IN ('train', 'eval')),
    step             INTEGER NOT NULL,
    name             TEXT NOT NULL,
    value            REAL NOT NULL,
    PRIMARY KEY (training_run_id, split, step, name)
  );
  `,
  // 3: blind A/B comparisons (base model vs the active adapter, sources hidden) are marked so the adapter's
  // win-rate can be counted; deleted adapters keep their row (candidates and runs refer to it).
  `
  ALTER TABLE comparison ADD COLUMN mode TEXT NOT NULL DEFAULT 'compare' CHECK (mode IN ('compare', 'blind-ab'));
  ALTER TABLE adapter ADD COLUMN deleted_at TEXT;
  CREATE INDEX comparison_mode ON comparison(mode) WHERE mode <> 'compare';
  `,
  // 4: a training run whose process died is marked 'interrupted' (it can be resumed from its checkpoint), and a
  // run records the host and process training it, so another window can tell a live run from an orphan. SQLite
  // cannot change a CHECK in place: the table is rebuilt (migrate() turns foreign keys off around it).
  `
  CREATE TABLE training_run_next (
    id               INTEGER PRIMARY KEY,
    base_model_hash  TEXT NOT NULL,
    config           TEXT NOT NULL DEFAULT '{}',
    status           TEXT NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'done', 'failed', 'cancelled', 'interrupted')),
    adapter_id       INTEGER REFERENCES adapter(id),
    started_at       TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at      TEXT,
    owner_host       TEXT,
    owner_pid        INTEGER
  );
  INSERT INTO training_run_next (id, base_model_hash, config, status, adapter_id, started_at, finished_at)
    SELECT id, base_model_hash, config, status, adapter_id, started_at, finished_at FROM training_run;
  DROP TABLE training_run;
  ALTER TABLE training_run_next RENAME TO training_run;
  `,
  // 5: the file says it is a Prefer store (PRAGMA application_id, 'PREF'), so Prefer can refuse any other
  // SQLite file before changing a byte of it (storeFile.ts: PREFER_APPLICATION_ID).
  `
  PRAGMA application_id = 1347568966;
  `,
  // 6: completions judged on their own (accepted: desirable; rejected or dismissed: undesirable), from inline
  // mode or imported from another tool's logs, with the tool's own id so a re-import adds nothing.
  `
  CREATE TABLE feedback (
    id           INTEGER PRIMARY KEY,
    prompt_id    INTEGER NOT NULL REFERENCES prompt(id),
    completion   TEXT NOT NULL,
    desirable    INTEGER NOT NULL CHECK (desirable IN (0, 1)),
    source       TEXT NOT NULL,
    model        TEXT,
    file_path    TEXT,
    external_id  TEXT,
    adapter_id   INTEGER REFERENCES adapter(id),
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
  );
  CREATE UNIQUE INDEX feedback_external ON feedback(source, external_id) WHERE external_id IS NOT NULL;
  CREATE INDEX feedback_prompt ON feedback(prompt_id);
  CREATE INDEX feedback_created ON feedback(created_at);
  `,
];

/** The SQL functions migrations may call: the same content hashes the store computes in JavaScript. */
function registerSchemaFunctions(db: Database.Database): void {
  db.function('prefer_text_hash', { deterministic: true }, (text: unknown) => textHash(String(text)));
  db.function(
    'prefer_pair_texts_hash',
    { deterministic: true },
    (prompt: unknown, chosen: unknown, rejected: unknown) =>
      pairTextsHash(String(prompt), String(chosen), String(rejected)),
  );
}

/**
 * Brings `db` to the newest schema, one transaction per version, so a crash leaves a valid earlier version.
 * Each step takes the write lock first and re-reads the version, so two processes opening a new file at
 * once migrate it once.
 */
export function migrate(db: Database.Database, target = migrations.length): number {
  const versionOf = () => db.pragma('user_version', { simple: true }) as number;
  const current = versionOf();
  if (current > migrations.length) {
    throw new Error(
      `database schema version ${current} is newer than this version of Prefer understands (${migrations.length}); update Prefer`,
    );
  }
  registerSchemaFunctions(db);
  const step = db.transaction((): boolean => {
    const version = versionOf();
    if (version >= target) return false;
    db.exec(migrations[version]!);
    const broken = db.pragma('foreign_key_check') as unknown[];
    if (broken.length > 0)
      throw new Error(`migration ${version + 1} left ${broken.length} broken references`);
    db.pragma(`user_version = ${version + 1}`);
    return true;
  });
  // A migration that rebuilds a referenced table needs foreign keys off (the pragma is ignored inside a
  // transaction); the check above keeps every migration honest instead.
  const foreignKeys = db.pragma('foreign_keys', { simple: true }) as number;
  if (current < target) db.pragma('foreign_keys = OFF');
  try {
    while (step.immediate());
  } finally {
    db.pragma(`foreign_keys = ${foreignKeys ? 'ON' : 'OFF'}`);
  }
  return Math.max(versionOf(), current);
}
