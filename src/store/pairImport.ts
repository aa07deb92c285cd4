import type Database from 'better-sqlite3';
import { findOrInsertCandidate, insertCandidate } from './candidates.ts';
import { pairKey, promptHash, textHash } from './hashing.ts';
import { insertPair, pairStored } from './pairs.ts';
import { upsertPrompt } from './prompts.ts';

/** A pair read from a file: its prompt and texts, and whatever provenance the line gave. */
export interface ImportedPair {
  prefix: string;
  suffix: string;
  chosen: string;
  rejected: string;
  language?: string | undefined;
  filePath?: string | undefined;
  workspace?: string | undefined;
  source?: string | undefined;
  confidence?: number | undefined;
}

/** What a pair stands for when its line does not say, and the model id of candidates that came from a file. */
export interface ImportDefaults {
  source: string;
  confidence: number;
  modelId: string;
}

export interface ImportedCounts {
  imported: number;
  /** Already stored (an earlier import, or a repeat within the file). */
  skipped: number;
}

const RECENT_PROMPTS = 1000;

type RecentPrompt = { id: number; created: boolean; texts: Map<string, { hash: Buffer; id?: number }> };

/**
 * Stores imported pairs batch by batch, deduplicated against the store. Lines of one prompt usually come
 * together: the recent prompts and their candidates' ids are remembered across batches, so most lines need no
 * lookups. A prompt first stored by this import has no candidates but ours.
 */
export function pairImporter(
  db: Database.Database,
  defaults: ImportDefaults,
): (batch: readonly ImportedPair[]) => ImportedCounts {
  const recent = new Map<string, RecentPrompt>();
  const text = (prompt: RecentPrompt, value: string) => {
    let known = prompt.texts.get(value);
    if (!known) prompt.texts.set(value, (known = { hash: textHash(value) }));
    return known;
  };
  const candidateId = (prompt: RecentPrompt, value: string) => {
    const known = text(prompt, value);
    if (known.id === undefined) {
      const candidate = { text: value, modelId: defaults.modelId };
      known.id = prompt.created
        ? insertCandidate(db, prompt.id, candidate, known.hash)
        : findOrInsertCandidate(db, prompt.id, candidate, known.hash);
    }
    return known.id;
  };
  return (batch) => {
    const counts: ImportedCounts = { imported: 0, skipped: 0 };
    for (const pair of batch) {
      const promptInput = {
        prefix: pair.prefix,
        suffix: pair.suffix,
        language: pair.language,
        filePath: pair.filePath,
        workspace: pair.workspace,
      };
      const hash = promptHash(promptInput);
      let prompt = recent.get(hash);
      if (!prompt) {
        if (recent.size >= RECENT_PROMPTS) recent.clear();
        const stored = upsertPrompt(db, promptInput, hash);
        prompt = { id: stored.id, created: stored.created, texts: new Map() };
        recent.set(hash, prompt);
      }
      const source = pair.source ?? defaults.source;
      const textsHash = pairKey(hash, text(prompt, pair.chosen).hash, text(prompt, pair.rejected).hash);
      // A prompt stored before this import may have the pair already: skip it before any candidate lookup.
      if (!prompt.created && pairStored(db, textsHash, source)) {
        counts.skipped++;
        continue;
      }
      const added = insertPair(db, {
        textsHash,
        promptId: prompt.id,
        promptHash: hash,
        chosenId: candidateId(prompt, pair.chosen),
        chosenText: pair.chosen,
        rejectedId: candidateId(prompt, pair.rejected),
        rejectedText: pair.rejected,
        source,
        confidence: pair.confidence ?? defaults.confidence,
      });
      if (added) counts.imported++;
      else counts.skipped++;
    }
    return counts;
  };
}
