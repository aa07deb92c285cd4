import type Database from 'better-sqlite3';
import { type PromptInput, promptHash } from './hashing.ts';
import { sql } from './statements.ts';

export interface StoredPromptRef {
  id: number;
  hash: string;
}

/** Stores a prompt once per content hash and returns its id and hash. */
export function upsertPrompt(db: Database.Database, p: PromptInput): StoredPromptRef {
  if (typeof p.prefix !== 'string') throw new Error('a prompt needs a prefix string');
  const hash = promptHash(p);
  const existing = sql(db, 'SELECT id FROM prompt WHERE hash = ?').get(hash) as { id: number } | undefined;
  if (existing) return { id: existing.id, hash };
  const id = sql(
    db,
    'INSERT INTO prompt (hash, workspace, file_path, language, prefix, suffix) VALUES (?, ?, ?, ?, ?, ?)',
  ).run(hash, p.workspace ?? null, p.filePath ?? null, p.language ?? null, p.prefix, p.suffix ?? '').lastInsertRowid;
  return { id: Number(id), hash };
}
