/**
 * AdamW (Loshchilov & Hutter: decoupled weight decay, bias-corrected moments) over Float32Array parameters,
 * with global-norm gradient clipping and a linear-warmup + cosine-decay learning rate. Runs on the host:
 * a few multiply-adds per weight are negligible next to the step graph.
 */

export interface AdamWSettings {
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  /** clip the global gradient norm to this (0: no clipping) */
  maxGradNorm: number;
}

export const ADAMW_DEFAULTS: AdamWSettings = { beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1, maxGradNorm: 1 };

export interface Schedule {
  peakLr: number;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/** Learning rate before update `step` (0-based): linear warmup to the peak, cosine decay to the minimum. */
export function learningRate(s: Schedule, step: number): number {
  if (step < s.warmupSteps) return (s.peakLr * (step + 1)) / s.warmupSteps;
  const progress = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps));
  return s.minLr + 0.5 * (s.peakLr - s.minLr) * (1 + Math.cos(Math.PI * progress));
}

export interface AdamWParameter {
  name: string;
  value: Float32Array;
  /** matrices decay; norm gains do not */
  decay: boolean;
}

export interface MomentState {
  m: Float32Array;
  v: Float32Array;
}

export class AdamW {
  readonly settings: AdamWSettings;
  readonly moments = new Map<string, MomentState>();
  /** updates applied so far (bias correction uses it) */
  steps = 0;

  constructor(settings: AdamWSettings = ADAMW_DEFAULTS) {
    this.settings = settings;
  }

  /** Global L2 norm of the gradients. */
  static gradNorm(grads: Iterable<Float32Array>): number {
    let sum = 0;
    for (const g of grads) for (let i = 0; i < g.length; i++) sum += g[i]! * g[i]!;
    return Math.sqrt(sum);
  }

  /** One update of every parameter from its gradient; returns the gradient norm before clipping. */
  update(params: readonly AdamWParameter[], grads: ReadonlyMap<string, Float32Array>, lr: number): number {
    const { beta1, beta2, epsilon, weightDecay, maxGradNorm } = this.settings;
    const norm = AdamW.gradNorm(params.map((p) => this.gradOf(grads, p)));
    if (!Number.isFinite(norm)) throw new Error(`AdamW: gradient norm is ${norm}; the step is skipped and nothing is updated`);
    const clip = maxGradNorm > 0 && norm > maxGradNorm ? maxGradNorm / norm : 1;
    this.steps++;
    const c1 = 1 - beta1 ** this.steps;
    const c2 = 1 - beta2 ** this.steps;
    for (const p of params) {
      const g = this.gradOf(grads, p);
      let state = this.moments.get(p.name);
      if (!state) this.moments.set(p.name, (state = { m: new Float32Array(g.length), v: new Float32Array(g.length) }));
      const { m, v } = state;
      const w = p.value;
      const decay = p.decay ? 1 - lr * weightDecay : 1;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i]! * clip;
        const mi = (m[i] = beta1 * m[i]! + (1 - beta1) * gi);
        const vi = (v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi);
        w[i] = w[i]! * decay - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + epsilon);
      }
    }
    return norm;
  }

  private gradOf(grads: ReadonlyMap<string, Float32Array>, p: AdamWParameter): Float32Array {
    const g = grads.get(p.name);
    if (!g || g.length !== p.value.length) throw new Error(`AdamW: gradient of ${p.name} has ${g?.length ?? 0} values, the weight ${p.value.length}`);
    return g;
  }
}
