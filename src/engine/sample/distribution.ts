/**
 * Choosing the next token from logits: temperature, then top-k, top-p (nucleus) and min-p truncation, then a
 * draw from a seeded generator. The log-prob reported for a token is the model's own (temperature 1, no
 * truncation), which is what DPO and the candidate ranking need.
 */

export interface TokenChoiceOptions {
  /** 0 = greedy */
  temperature: number;
  /** 0 = off */
  topK: number;
  /** 1 = off */
  topP: number;
  /** 0 = off: drop tokens below minP × the top token's probability */
  minP: number;
}

/**
 * The repetition penalty of CTRL (Keskar et al. 2019) as Hugging Face applies it: the logit of every token in
 * `seen` is divided by `penalty` when positive and multiplied by it when negative, so a penalty above 1 makes each
 * of them less likely. Writes into `out` (the logits untouched) and returns it.
 */
export function penalizeRepeats(logits: ArrayLike<number>, seen: ReadonlySet<number>, penalty: number, out: Float32Array): Float32Array {
  out.set(logits as ArrayLike<number>);
  for (const id of seen) {
    const v = out[id]!;
    out[id] = v > 0 ? v / penalty : v * penalty;
  }
  return out;
}

/** Seeded uniform [0, 1) generator (splitmix32): the same seed gives the same candidates. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 2 ** 32;
  };
}

export function logSumExp(logits: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return max + Math.log(sum);
}

/** Tokens below this share of the top token's probability never matter for sampling: they are not sorted. */
const NEGLIGIBLE = 1e-12;

export function isTruncating(options: TokenChoiceOptions): boolean {
  return options.topK > 0 || options.topP < 1 || options.minP > 0;
}

/**
 * The tokens that survive truncation with their renormalized probabilities, most likely first. Exposed
 * for tests of the top-k / top-p / min-p mass.
 */
export function truncatedDistribution(logits: ArrayLike<number>, options: TokenChoiceOptions): { ids: number[]; probs: number[] } {
  const V = logits.length;
  let max = -Infinity;
  for (let i = 0; i < V; i++) max = Math.max(max, logits[i]!);
  const weight = new Float64Array(V);
  let z = 0;
  const considered: number[] = [];
  for (let i = 0; i < V; i++) {
    const w = Math.exp((logits[i]! - max) / options.temperature);
    weight[i] = w;
    z += w;
    if (w >= NEGLIGIBLE) considered.push(i);
  }
  let order = considered.sort((a, b) => weight[b]! - weight[a]! || a - b);
  if (options.topK > 0) order = order.slice(0, options.topK);
  let keep = order.length;
  if (options.minP > 0) {
    const firstBelow = order.findIndex((i) => weight[i]! < options.minP * weight[order[0]!]!);
    if (firstBelow > 0) keep = firstBelow;
  }
  if (options.topP < 1) {
    // smallest prefix whose probability mass (of the whole, tempered distribution) reaches topP
    let mass = 0;
    for (let k = 0; k < keep; k++) {
      mass += weight[order[k]!]! / z;
      if (mass >= options.topP) {
        keep = k + 1;
        break;
      }
    }
  }
  order = order.slice(0, keep);
  const kept = order.reduce((s, i) => s + weight[i]!, 0);
  return { ids: order, probs: order.map((i) => weight[i]! / kept) };
}

/** A draw from the tempered distribution over the whole vocabulary (no truncation, nothing sorted). */
function drawUntruncated(logits: ArrayLike<number>, temperature: number, u: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const weight = new Float64Array(logits.length);
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += weight[i] = Math.exp((logits[i]! - max) / temperature);
  let acc = 0;
  for (let i = 0; i < logits.length; i++) {
    acc += weight[i]!;
    if (u * z < acc) return i;
  }
  return logits.length - 1;
}

export interface TokenChoice {
  id: number;
  /** log p(id) under the model (temperature 1, untruncated) */
  logprob: number;
}

/**
 * Draws from `logits`; the log-prob is read from `modelLogits`, the model's own row when `logits` is a masked or
 * penalized copy of it.
 */
export function chooseToken(logits: ArrayLike<number>, options: TokenChoiceOptions, random: () => number, modelLogits: ArrayLike<number> = logits): TokenChoice {
  let id: number;
  if (options.temperature <= 0) {
    id = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[id]!) id = i;
  } else if (!isTruncating(options)) {
    id = drawUntruncated(logits, options.temperature, random());
  } else {
    const { ids, probs } = truncatedDistribution(logits, options);
    const u = random();
    let acc = 0;
    id = ids[ids.length - 1]!;
    for (let i = 0; i < ids.length; i++) {
      acc += probs[i]!;
      if (u < acc) {
        id = ids[i]!;
        break;
      }
    }
  }
  return { id, logprob: modelLogits[id]! - logSumExp(modelLogits) };
}
