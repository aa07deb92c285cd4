/**
 * Messages between the compare panel (browser) and the extension host. Both sides import these types; the
 * extension validates every message it receives with `parseWebviewMessage` and drops anything else.
 * Candidate texts are untrusted model output: the webview renders them as text only.
 */
import { z } from 'zod';
import type { JudgmentInput, Outcome } from '../../src/store/store.ts';

/** A judgment goes from the page to the store in the store's own shape: the extension passes it through. */
export type { Outcome };

export const MAX_CANDIDATES = 9;
const MAX_TEXT = 200_000;

export interface CandidateView {
  text: string;
  /** Still being generated. */
  streaming: boolean;
}

export type PanelMode = NonNullable<JudgmentInput['mode']>;

/** Blind A/B, once judged: which model wrote each shown candidate, the adapter's record, and its win-rate over time. */
export interface AbReveal {
  sources: ('adapter' | 'base')[];
  /** The record in words: win-rate with n, ties and a 95 % interval. */
  record: string;
  /** After each decided judgment, oldest first: the win-rate so far and its 95 % interval. */
  history: { judgment: number; winRate: number; low: number; high: number }[];
}

export type HostMessage =
  /** A new prompt: `count` candidate slots, filled by `delta`/`done` or given whole in `candidates`. */
  | {
      type: 'round';
      roundId: number;
      title: string;
      language: string;
      mode: PanelMode;
      candidates: CandidateView[];
      /** Sampled from the small demo model bundled with Prefer: the panel says so and offers the user's own. */
      demoModel?: boolean | undefined;
    }
  | { type: 'delta'; roundId: number; index: number; text: string }
  | { type: 'done'; roundId: number; index: number }
  | { type: 'saved'; roundId: number; comparisonId: number; pairsAdded: number; summary: string; reveal?: AbReveal | undefined }
  | { type: 'inserted'; roundId: number }
  | { type: 'error'; roundId?: number | undefined; message: string };

const index = z
  .number()
  .int()
  .min(0)
  .max(MAX_CANDIDATES - 1);
const roundId = z.number().int().min(0);

// The page may not name the model of the user's own answer: the store records it as the user's edit.
const outcome = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('pick'), chosenIndex: index }),
  z.strictObject({
    kind: z.literal('ranking'),
    order: z
      .array(index)
      .min(2)
      .max(MAX_CANDIDATES)
      .refine((o) => new Set(o).size === o.length, 'duplicate rank')
      .readonly(),
  }),
  z.strictObject({ kind: z.literal('tie') }),
  z.strictObject({ kind: z.literal('both_bad') }),
  z.strictObject({ kind: z.literal('skip') }),
  z.strictObject({ kind: z.literal('edited'), text: z.string().min(1).max(MAX_TEXT) }),
]) satisfies z.ZodType<Outcome>;

// Every kind the store knows can be sent: a new kind fails to compile here until the schema accepts it.
type Unsendable = Exclude<Outcome['kind'], z.infer<typeof outcome>['kind']>;
const _everyKindSendable: [Unsendable] extends [never] ? true : Unsendable = true;

const webviewMessage = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready') }),
  z.strictObject({
    type: z.literal('judge'),
    roundId,
    outcome,
    rationale: z.string().max(10_000).optional(),
    decisionMs: z
      .number()
      .finite()
      .min(0)
      .max(7 * 24 * 3600 * 1000),
  }),
  /** Insert a candidate (by shown index) or the user's own answer into the editor at the prompt's slot. */
  z.strictObject({
    type: z.literal('insert'),
    roundId,
    what: z.union([z.strictObject({ index }), z.strictObject({ text: z.string().min(1).max(MAX_TEXT) })]),
  }),
  z.strictObject({ type: z.literal('cancel'), roundId }),
  /** Choose another model (prefer.selectModel), from the demo model notice. */
  z.strictObject({ type: z.literal('selectModel') }),
]);

export type WebviewMessage = z.infer<typeof webviewMessage>;

/** Returns the message if it is well-formed, or a one-line reason why not. */
export function parseWebviewMessage(value: unknown): WebviewMessage | { invalid: string } {
  const result = webviewMessage.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  return { invalid: `${issue?.path.join('.') || 'message'}: ${issue?.message ?? 'invalid'}`.slice(0, 200) };
}
