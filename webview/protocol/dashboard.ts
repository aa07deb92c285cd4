/** Messages between the training dashboard (browser) and the extension host. */
import { z } from 'zod';

export type TrainSplit = 'train' | 'eval';

export type DashboardMessage =
  /** `totalSteps` null until the trainer has planned the round: a total shown once never changes. */
  | { type: 'start'; title: string; totalSteps: number | null; details: string }
  /** The trainer's plan; `warning` when the round has too few pairs for its metrics to mean much. */
  | { type: 'plan'; totalSteps: number; warning?: string | undefined }
  | { type: 'phase'; text: string }
  | { type: 'metrics'; split: TrainSplit; step: number; metrics: Record<string, number> }
  | { type: 'done'; text: string }
  | { type: 'error'; text: string };

const fromDashboard = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready') }),
  z.strictObject({ type: z.literal('cancel') }),
]);

export type FromDashboard = z.infer<typeof fromDashboard>;

export function parseDashboardMessage(value: unknown): FromDashboard | { invalid: string } {
  const result = fromDashboard.safeParse(value);
  return result.success ? result.data : { invalid: result.error.issues[0]?.message ?? 'invalid' };
}
