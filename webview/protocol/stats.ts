/** Messages between the stats view (browser) and the extension host. Every text shown is set as text. */
import { z } from 'zod';

/** A count under its label: one row of a breakdown table. */
export type CountRow = [label: string, count: number];

/** The store as the view shows it: numbers and the host's words for rates (n and a 95 % interval). */
export interface StatsView {
  databasePath: string;
  totals: { pairs: number; comparisons: number; prompts: number; adapters: number };
  /** New pairs per day, oldest first. */
  pairsByDay: { day: string; pairs: number }[];
  bySource: CountRow[];
  byOutcome: CountRow[];
  byLanguage: CountRow[];
  /** Newest first. */
  runs: {
    id: number;
    status: string;
    startedAt: string;
    steps: number;
    adapter: string;
    /** "75 % of 8 (95 % interval 41–93 %)", or why there is none. */
    heldOutAccuracy: string;
  }[];
  ab: { adapter: string; wins: number; losses: number; ties: number; winRate: string }[];
}

export type StatsMessage = { type: 'stats'; view: StatsView } | { type: 'error'; message: string };

const fromStats = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready') }),
  z.strictObject({ type: z.literal('refresh') }),
  /** Show the database file in the operating system's file manager. */
  z.strictObject({ type: z.literal('reveal') }),
]);

export type FromStats = z.infer<typeof fromStats>;

export function parseStatsMessage(value: unknown): FromStats | { invalid: string } {
  const result = fromStats.safeParse(value);
  return result.success ? result.data : { invalid: result.error.issues[0]?.message ?? 'invalid' };
}
