// The tiny model and preference task the WebGPU tier trains on: after any prompt, completions ending in token 7
// beat those ending in token 9. Every pair is 3 + 3 tokens: one bucket of length 8, so every step has the same
// feed sizes.
import { llamaConfig, randomWeights } from '../../src/engine/models/random.ts';
import type { PreferenceExample } from '../../src/dpo/examples.ts';

export const config = llamaConfig({ vocabSize: 40, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 4, intermediateSize: 24 });

export const weights = () => randomWeights(config, 5, 0.2);

/** Twelve pairs drawn from a seeded generator: the same pairs on every call. */
export function syntheticPairs(): PreferenceExample[] {
  let s = 3;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % 30) + 10;
  return Array.from({ length: 12 }, () => {
    const middle = [next(), next()];
    return { prompt: [next(), next(), next()], chosen: [...middle, 7], rejected: [...middle, 9] };
  });
}
