import type { LabelPrompt, Store } from '../store/store.ts';
import { type Labeler, SkipPrompt, type Verdict } from './labeler.ts';

export interface LabelOptions {
  /** Only prompts in these languages. */
  languages?: readonly string[] | undefined;
  onProgress?: ((promptsDone: number, promptsTotal: number) => void) | undefined;
  /** Stops between prompts; the run is recorded as failed, and the pairs stored so far stay. */
  signal?: AbortSignal | undefined;
}

export interface LabelResult {
  labelerRunId: number;
  prompts: number;
  candidatesScored: number;
  pairsAdded: number;
  /** Labeler pairs stored flagged because a human judged the other way. */
  disagreements: number;
  /** Prompts left unjudged, and why (a file path outside the workspace, say); they get no scores or pairs. */
  skipped: SkippedPrompt[];
}

export interface SkippedPrompt {
  promptId: number;
  filePath: string | null;
  reason: string;
}

/** Each distinct text scored once; the SkipPrompt when the labeler cannot judge this prompt at all. */
async function scoreTexts(
  labeler: Labeler,
  prompt: LabelPrompt,
  candidates: readonly { text: string }[],
): Promise<Map<string, Verdict | undefined> | SkipPrompt> {
  const verdicts = new Map<string, Verdict | undefined>();
  try {
    for (const c of candidates) {
      if (!verdicts.has(c.text)) verdicts.set(c.text, await labeler.score(prompt, c.text));
    }
  } catch (e) {
    if (e instanceof SkipPrompt) return e;
    throw e;
  }
  return verdicts;
}

/**
 * Runs one labeler over every stored prompt with at least two distinct candidate texts: each text is scored
 * once, every candidate's score is recorded, and each strictly better text is stored as preferred over each
 * worse one, with the run as provenance. One transaction per prompt. A prompt the labeler cannot judge
 * (SkipPrompt) is listed in `skipped` and the run goes on.
 */
export async function runLabeler(
  store: Store,
  labeler: Labeler,
  options: LabelOptions = {},
): Promise<LabelResult> {
  const runId = store.startLabelerRun(labeler.name, labeler.config);
  const result: LabelResult = {
    labelerRunId: runId,
    prompts: 0,
    candidatesScored: 0,
    pairsAdded: 0,
    disagreements: 0,
    skipped: [],
  };
  try {
    const languages = options.languages;
    // Ids first, texts one prompt at a time: a large store's prompts need not fit in memory.
    const prompts = store
      .labelablePrompts(languages)
      .filter((p) => labeler.supports({ language: p.language, filePath: null, prefix: '', suffix: '' }));

    for (const [done, { id }] of prompts.entries()) {
      if (options.signal?.aborted) throw new Error('labeling was cancelled');
      const prompt = store.labelPrompt(id)!;
      const candidates = store.candidatesOf(prompt.id);
      const verdicts = await scoreTexts(labeler, prompt, candidates);
      if (verdicts instanceof SkipPrompt) {
        result.skipped.push({ promptId: prompt.id, filePath: prompt.filePath, reason: verdicts.message });
        options.onProgress?.(done + 1, prompts.length);
        continue;
      }
      store.writeTransaction(() => {
        for (const c of candidates) {
          const v = verdicts.get(c.text);
          if (v) store.recordLabelScore(runId, c.id, v.score, v.detail);
        }
        const judged = [...verdicts].flatMap(([text, v]) =>
          v ? [{ text, score: v.score, id: candidates.find((c) => c.text === text)!.id }] : [],
        );
        for (const better of judged) {
          for (const worse of judged) {
            if (!(better.score < worse.score)) continue;
            const added = store.addPair({
              promptId: prompt.id,
              promptHash: prompt.hash,
              chosenId: better.id,
              chosenText: better.text,
              rejectedId: worse.id,
              rejectedText: worse.text,
              source: labeler.name,
              confidence: labeler.confidence,
              labelerRunId: runId,
            });
            if (added) result.pairsAdded++;
          }
        }
      });
      result.prompts++;
      result.candidatesScored += candidates.filter((c) => verdicts.get(c.text)).length;
      options.onProgress?.(done + 1, prompts.length);
    }
    result.disagreements = store.labelerDisagreements(runId);
    store.finishLabelerRun(runId, {
      status: 'done',
      candidatesScored: result.candidatesScored,
      pairsAdded: result.pairsAdded,
    });
    return result;
  } catch (e) {
    store.finishLabelerRun(runId, {
      status: 'failed',
      candidatesScored: result.candidatesScored,
      pairsAdded: result.pairsAdded,
      error: (e as Error).message,
    });
    throw e;
  }
}
