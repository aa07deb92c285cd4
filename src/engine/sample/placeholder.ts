/**
 * Placeholder candidates for the walking skeleton. The real batched sampler (src/engine/sample, running the
 * compiled model in a worker thread) replaces this module; until then the compare flow shows these fixed
 * texts so that every layer — command, panel, store, CLI — can be exercised end to end.
 */
export interface PlaceholderCandidate {
  text: string;
  modelId: string;
}

export const PLACEHOLDER_MODEL_ID = 'placeholder';

export function placeholderCandidates(n: number): PlaceholderCandidate[] {
  const texts = [
    "const greeting = 'hello';",
    'const greeting = "hello";',
    "let greeting = 'hello';",
    'var greeting = "hello";',
  ];
  return Array.from({ length: Math.max(2, n) }, (_, i) => ({
    text: texts[i % texts.length]! + (i >= texts.length ? ` // ${i + 1}` : ''),
    modelId: PLACEHOLDER_MODEL_ID,
  }));
}
