/**
 * The logs other completion tools keep of what their user did with a completion, read as judged completions:
 * - Continue: `~/.continue/dev_data/<schema>/autocomplete.jsonl`, one line per completion shown, `accepted`
 *   true once taken and false once passed over (Continue's autocomplete event schema, 0.1.0 and 0.2.0);
 * - Tabby: `~/.tabby/events/<date>.json`, one `{ts, event}` line per event: `completion` (the prompt and its
 *   choices) and then `view`, `select` and `dismiss` naming a completion id and choice index.
 * File paths in them are kept as text; nothing here opens them.
 */
import type { FeedbackInput } from '../store/store.ts';
import { optionalText, RecordError, text, typeName } from './formats.ts';

export const FEEDBACK_FORMATS = ['continue', 'tabby'] as const;
export type FeedbackFormat = (typeof FEEDBACK_FORMATS)[number];

export function isFeedbackFormat(s: string): s is FeedbackFormat {
  return (FEEDBACK_FORMATS as readonly string[]).includes(s);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Which tool wrote a parsed line, from its keys; undefined when neither did. */
export function detectFeedbackFormat(value: unknown): FeedbackFormat | undefined {
  if (!isObject(value)) return undefined;
  if ('completionId' in value && 'completion' in value && 'prefix' in value) return 'continue';
  if ('ts' in value && isObject(value.event)) return 'tabby';
  return undefined;
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined) throw new RecordError(`missing field "${field}"`);
  if (!isObject(value)) throw new RecordError(`field "${field}" must be an object, not ${typeName(value)}`);
  return value;
}

/** An ISO timestamp (as Continue writes it) or epoch milliseconds (Tabby's `ts`), as an ISO UTC timestamp. */
function timestamp(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms) || Number.isNaN(new Date(ms).getTime()))
    throw new RecordError(`field "${field}" must be a timestamp, not ${JSON.stringify(value)}`);
  return new Date(ms).toISOString();
}

function completionText(value: string, field: string): string {
  if (value.trim() === '') throw new RecordError(`field "${field}" is empty`);
  return value;
}

/** A Continue autocomplete line as a judged completion; undefined when it records no outcome (`accepted` absent). */
export function decodeContinue(value: unknown): FeedbackInput | undefined {
  const record = object(value, 'line');
  const accepted = record.accepted;
  if (accepted !== undefined && accepted !== null && typeof accepted !== 'boolean')
    throw new RecordError(`field "accepted" must be true or false, not ${typeName(accepted)}`);
  const completionId = text(record, 'completionId');
  const completion = completionText(text(record, 'completion', { allowEmpty: true }), 'completion');
  const prefix = text(record, 'prefix', { allowEmpty: true });
  const suffix = optionalText(record, 'suffix') ?? '';
  const filePath = optionalText(record, 'filepath');
  const model = optionalText(record, 'modelName');
  const createdAt = timestamp(record.timestamp, 'timestamp');
  if (typeof accepted !== 'boolean') return undefined;
  return {
    prompt: { prefix, suffix, filePath },
    completion,
    desirable: accepted,
    source: 'continue',
    model,
    externalId: completionId,
    createdAt,
  };
}

/** A Tabby event: a completion with its choices, or what the user did with one choice. */
export type TabbyEvent =
  | { kind: 'completion'; id: string; prompt: FeedbackInput['prompt']; choices: Map<number, string> }
  | { kind: 'judgment'; id: string; index: number; desirable: boolean; at: string | undefined }
  | { kind: 'other' };

function choiceIndex(record: Record<string, unknown>, field: string): number {
  const v = record[field];
  if (!Number.isInteger(v) || (v as number) < 0)
    throw new RecordError(
      `field "${field}" must be a non-negative integer, not ${JSON.stringify(v) ?? 'missing'}`,
    );
  return v as number;
}

function tabbyCompletion(event: Record<string, unknown>): TabbyEvent {
  const id = text(event, 'completion_id');
  const segments =
    event.segments === undefined || event.segments === null
      ? undefined
      : object(event.segments, 'event.completion.segments');
  const prefix = segments
    ? text(segments, 'prefix', { allowEmpty: true })
    : text(event, 'prompt', { allowEmpty: true });
  const suffix = segments ? (optionalText(segments, 'suffix') ?? '') : '';
  const filePath = segments ? optionalText(segments, 'filepath') : undefined;
  const list = event.choices;
  if (!Array.isArray(list))
    throw new RecordError(`field "event.completion.choices" must be a list, not ${typeName(list)}`);
  const choices = new Map<number, string>();
  for (const [i, choice] of list.entries()) {
    const c = object(choice, `event.completion.choices[${i}]`);
    choices.set(choiceIndex(c, 'index'), text(c, 'text', { allowEmpty: true }));
  }
  return {
    kind: 'completion',
    id,
    prompt: { prefix, suffix, filePath, language: optionalText(event, 'language') },
    choices,
  };
}

/**
 * A Tabby event line. A choice selected whole is desirable and one dismissed undesirable; a view, and a select
 * of one line only (`kind: "line"`), say nothing about the whole completion.
 */
export function decodeTabby(value: unknown): TabbyEvent {
  const record = object(value, 'line');
  const at = timestamp(record.ts, 'ts');
  const event = object(record.event, 'event');
  const [name, ...more] = Object.keys(event);
  if (name === undefined || more.length > 0)
    throw new RecordError(`field "event" must hold exactly one event, not ${Object.keys(event).length}`);
  const body = object(event[name], `event.${name}`);
  switch (name) {
    case 'completion':
      return tabbyCompletion(body);
    case 'select':
    case 'dismiss': {
      const id = text(body, 'completion_id');
      const index = choiceIndex(body, 'choice_index');
      if (name === 'select' && body.kind !== undefined && body.kind !== null) return { kind: 'other' };
      return { kind: 'judgment', id, index, desirable: name === 'select', at };
    }
    default:
      return { kind: 'other' };
  }
}
