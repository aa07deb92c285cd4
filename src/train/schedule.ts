/**
 * The learning rate of each optimizer step: a warmup to the peak, then a decay to the floor.
 *   'linear'  Hugging Face's get_linear_schedule_with_warmup, which TRL's DPO trainer uses: the warmup counts the
 *             steps done (the first step's rate is 0), then the rate falls linearly to minLr at totalSteps.
 *   'cosine'  GPT-style pretraining: the warmup counts the step being taken (the first step's rate is
 *             peak / warmup), then a cosine falls to minLr at totalSteps.
 * Past totalSteps the rate stays at minLr.
 */

export interface Schedule {
  decay: 'linear' | 'cosine';
  peakLr: number;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/** Learning rate of update `step` (0-based). */
export function learningRate(s: Schedule, step: number): number {
  if (s.decay === 'cosine') {
    if (step < s.warmupSteps) return (s.peakLr * (step + 1)) / s.warmupSteps;
    const progress = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps));
    return s.minLr + 0.5 * (s.peakLr - s.minLr) * (1 + Math.cos(Math.PI * progress));
  }
  if (step < s.warmupSteps) return s.peakLr * (step / Math.max(1, s.warmupSteps));
  return s.minLr + (s.peakLr - s.minLr) * Math.max(0, (s.totalSteps - step) / Math.max(1, s.totalSteps - s.warmupSteps));
}
