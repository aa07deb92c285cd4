/** The engine's seeded pseudo-random numbers: initial LoRA and pretraining weights, pair shuffling, test weights. */

/** A deterministic pseudo-random stream (xorshift32 → uniform in [-1, 1)). */
export function uniformStream(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 31 - 1;
  };
}
