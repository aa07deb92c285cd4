import { hash } from 'node:crypto';
import type { PairFilter, Store, StoredFeedback, StoredPair } from '../store/store.ts';
import { AtomicLineWriter, checkOutputFile } from './fileWriter.ts';
import type { EncodeOptions } from './formats.ts';

/**
 * TRL's unpaired preference format (KTOTrainer, BCO): `prompt`, `completion`, `label` (true: desirable), one
 * completion a line. Written from the completions judged on their own and from the pairs split in two (chosen:
 * true, rejected: false), with the same provenance columns as the `trl` format. A judgment is written once: a
 * completion already written with the same prompt and label (judged on its own, or in another pair of the same
 * ranking) is left out.
 */
export const KTO_FORMAT = 'trl-kto';

export interface KtoCounts {
  /** Lines written. */
  exported: number;
  /** Of them, from completions judged on their own. */
  feedback: number;
  /** Pairs split (each gives the lines of its two completions not already written). */
  pairs: number;
}

function withPaths(
  line: Record<string, unknown>,
  filePath: string | null,
  workspace: string | null,
  options: EncodeOptions,
) {
  if (!options.private) {
    line.file_path = filePath;
    if (workspace !== null) line.workspace = workspace;
  }
  return line;
}

export function encodeFeedback(f: StoredFeedback, options: EncodeOptions): Record<string, unknown> {
  const line = {
    prompt: f.prefix,
    completion: f.completion,
    label: f.desirable,
    suffix: f.suffix,
    source: f.source,
    model: f.model,
    created_at: f.createdAt,
  };
  return withPaths(line, f.filePath, null, options);
}

/** A pair as two unpaired lines: its chosen completion desirable, its rejected one not. */
export function encodeSplitPair(pair: StoredPair, options: EncodeOptions): Record<string, unknown>[] {
  const line = (completion: string, label: boolean) =>
    withPaths(
      {
        prompt: pair.prefix,
        completion,
        label,
        suffix: pair.suffix,
        language: pair.language,
        source: pair.source,
        confidence: pair.confidence,
        created_at: pair.createdAt,
      },
      pair.filePath,
      pair.workspace,
      options,
    );
  return [line(pair.chosen, true), line(pair.rejected, false)];
}

/** The identity of a judgment in the unpaired file: its prompt, completion and label. */
const judgmentKey = (line: Record<string, unknown>) =>
  hash('sha256', JSON.stringify([line.prompt, line.suffix, line.completion, line.label]), 'base64');

/** Writes every unpaired line of the filter's feedback and pairs through `write`. */
export function writeKtoLines(
  store: Store,
  filter: PairFilter,
  options: EncodeOptions,
  write: (line: string) => void,
): KtoCounts {
  const counts: KtoCounts = { exported: 0, feedback: 0, pairs: 0 };
  const written = new Set<string>();
  for (const f of store.iterateFeedback(filter)) {
    const line = encodeFeedback(f, options);
    written.add(judgmentKey(line));
    write(JSON.stringify(line));
    counts.feedback++;
    counts.exported++;
  }
  for (const pair of store.iteratePairs(filter)) {
    counts.pairs++;
    for (const line of encodeSplitPair(pair, options)) {
      const key = judgmentKey(line);
      if (written.has(key)) continue;
      written.add(key);
      write(JSON.stringify(line));
      counts.exported++;
    }
  }
  return counts;
}

export interface KtoExportOptions extends EncodeOptions {
  filter?: PairFilter | undefined;
  force?: boolean | undefined;
}

/** `prefer export --format trl-kto`: the file appears complete or not at all (see exportPairs for the checks). */
export function exportKto(store: Store, out: string, options: KtoExportOptions): KtoCounts {
  const target = checkOutputFile(out, { database: store.file, force: options.force === true });
  const writer = new AtomicLineWriter(target);
  try {
    const counts = writeKtoLines(store, options.filter ?? {}, options, (line) => writer.writeLine(line));
    writer.commit();
    return counts;
  } catch (e) {
    writer.abort();
    throw e;
  }
}
