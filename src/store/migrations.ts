import type Database from 'better-sqlite3';

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
];

/** Brings `db` to the newest schema, one transaction per version, so a crash leaves a valid earlier version. */
export function migrate(db: Database.Database, target = migrations.length): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > migrations.length) {
    throw new Error(
      `database schema version ${current} is newer than this version of Prefer understands (${migrations.length}); update Prefer`,
    );
  }
  for (let version = current; version < target; version++) {
    db.transaction(() => {
      db.exec(migrations[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
  return Math.max(current, target);
}
