import type Database from 'better-sqlite3';
import { type PromptInput, promptHash } from './hashing.ts';
import { sql } from './statements.ts';

export interface StoredPromptRef {
  id: number;
  hash: string;
  /** Whether this call stored it (so it has no candidates yet). */
  created: boolean;
}

/** Stores a prompt once per content hash and returns its id and hash. */
export function upsertPrompt(db: Database.Database, p: PromptInput, hash = promptHash(p)): StoredPromptRef {
  if (typeof p.prefix !== 'string') throw new Error('a prompt needs a prefix string');
  const existing = sql(db, 'SELECT id FROM prompt WHERE hash = ?').get(hash) as { id: number } | undefined;
  if (existing) return { id: existing.id, hash, created: false };
  const id = sql(
    db,
    'INSERT INTO prompt (hash, workspace, file_path, language, prefix, suffix) VALUES (?, ?, ?, ?, ?, ?)',
  ).run(
    hash,
    p.workspace ?? null,
    p.filePath ?? null,
    p.language ?? null,
    p.prefix,
    p.suffix ?? '',
  ).lastInsertRowid;
  return { id: Number(id), hash, created: true };
}
