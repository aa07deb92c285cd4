/** The text around the cursor a candidate completes, and where it came from. */
export interface LabelTarget {
  language: string | null;
  filePath: string | null;
  prefix: string;
  suffix: string;
}

/** A labeler's opinion of one completion: lower is better; `detail` says why in a line. */
export interface Verdict {
  score: number;
  detail?: string | undefined;
}

/**
 * A machine judge. It scores each completion of a prompt on its own; candidates with a strictly lower score
 * are preferred over those with a higher one.
 */
export interface Labeler {
  /** Stored as the source of the pairs it yields. */
  readonly name: string;
  /** Stored with each of its pairs: how far its verdict predicts the user's preference. */
  readonly confidence: number;
  /** Settings recorded with each run, for provenance. */
  readonly config: Record<string, unknown>;
  /** Whether it can judge completions for this target; decided by the language alone. */
  supports(target: LabelTarget): boolean;
  /** undefined when the labeler cannot judge this completion (e.g. the metric printed no number). */
  score(target: LabelTarget, completion: string): Promise<Verdict | undefined> | Verdict | undefined;
}

/**
 * Thrown by `score` when a prompt cannot be judged safely (its file path leads outside the workspace, say):
 * the run records the prompt as skipped with this message as the reason, and goes on.
 */
export class SkipPrompt extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'SkipPrompt';
  }
}

/** The whole document as it would read with the completion accepted. */
export function completedText(target: LabelTarget, completion: string): string {
  return target.prefix + completion + target.suffix;
}
