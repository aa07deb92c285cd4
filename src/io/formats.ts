import type { StoredPair } from '../store/store.ts';

/** The JSONL dialects Prefer writes and reads; docs/data-formats.md describes each. */
export const FORMAT_NAMES = ['trl', 'trl-conversational', 'openai'] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];

export function isFormatName(s: string): s is FormatName {
  return (FORMAT_NAMES as readonly string[]).includes(s);
}

/** A preference pair as a file carries it, before it is stored. */
export interface PairRecord {
  prefix: string;
  suffix: string;
  chosen: string;
  rejected: string;
  language?: string | undefined;
  source?: string | undefined;
  confidence?: number | undefined;
  filePath?: string | undefined;
  workspace?: string | undefined;
}

/** A record that is valid JSON but not a usable pair; the message names the field. */
export class RecordError extends Error {}

export interface EncodeOptions {
  /** Leave out file paths and workspace names. */
  private: boolean;
}

type Message = { role: string; content: string };
const user = (content: string): Message[] => [{ role: 'user', content }];
const assistant = (content: string): Message[] => [{ role: 'assistant', content }];

/** Provenance kept beside the pair in the TRL formats (TRL ignores columns it does not use). */
function provenance(pair: StoredPair, options: EncodeOptions): Record<string, unknown> {
  const extra: Record<string, unknown> = {
    suffix: pair.suffix,
    language: pair.language,
    source: pair.source,
    confidence: pair.confidence,
    created_at: pair.createdAt,
  };
  if (!options.private) {
    extra.file_path = pair.filePath;
    extra.workspace = pair.workspace;
  }
  return extra;
}

export function encodePair(
  format: FormatName,
  pair: StoredPair,
  options: EncodeOptions,
): Record<string, unknown> {
  switch (format) {
    case 'trl':
      return {
        prompt: pair.prefix,
        chosen: pair.chosen,
        rejected: pair.rejected,
        ...provenance(pair, options),
      };
    case 'trl-conversational':
      return {
        prompt: user(pair.prefix),
        chosen: assistant(pair.chosen),
        rejected: assistant(pair.rejected),
        ...provenance(pair, options),
      };
    case 'openai':
      // OpenAI's validator rejects unknown keys, so this format carries the pair only.
      return {
        input: { messages: user(pair.prefix) },
        preferred_output: assistant(pair.chosen),
        non_preferred_output: assistant(pair.rejected),
      };
  }
}

/** Which format a parsed line is written in, from its keys; undefined when it is none of them. */
export function detectFormat(value: unknown): FormatName | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if ('input' in record || 'preferred_output' in record || 'non_preferred_output' in record) return 'openai';
  if (!('prompt' in record || 'chosen' in record || 'rejected' in record)) return undefined;
  return Array.isArray(record.prompt) || Array.isArray(record.chosen) || Array.isArray(record.rejected)
    ? 'trl-conversational'
    : 'trl';
}

export const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * A lone surrogate (JSON allows "\ud800") has no UTF-8 form: stored, it would become U+FFFD, and two
 * different texts the same one.
 */
function wellFormed(v: string, field: string): string {
  const lone = LONE_SURROGATE.exec(v)?.[0];
  if (lone === undefined) return v;
  throw new RecordError(
    `field "${field}" has a lone surrogate (\\u${lone.charCodeAt(0).toString(16)}), which UTF-8 cannot store`,
  );
}

export function text(record: Record<string, unknown>, field: string, { allowEmpty = false } = {}): string {
  const v = record[field];
  if (v === undefined) throw new RecordError(`missing field "${field}"`);
  if (typeof v !== 'string') throw new RecordError(`field "${field}" must be a string, not ${typeName(v)}`);
  if (!allowEmpty && v.trim() === '') throw new RecordError(`field "${field}" is empty`);
  return wellFormed(v, field);
}

export function optionalText(record: Record<string, unknown>, field: string): string | undefined {
  const v = record[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new RecordError(`field "${field}" must be a string, not ${typeName(v)}`);
  return wellFormed(v, field);
}

/** The one message of a turn list, e.g. `[{"role":"assistant","content":"…"}]`. */
function singleMessage(value: unknown, field: string, role: string): string {
  if (value === undefined) throw new RecordError(`missing field "${field}"`);
  if (!Array.isArray(value))
    throw new RecordError(`field "${field}" must be a list of messages, not ${typeName(value)}`);
  if (value.length !== 1) {
    throw new RecordError(
      `field "${field}" must hold exactly one ${role} message (has ${value.length}); multi-turn data is not supported`,
    );
  }
  const message = value[0] as unknown;
  if (typeof message !== 'object' || message === null)
    throw new RecordError(`field "${field}[0]" must be a message object`);
  const m = message as Record<string, unknown>;
  if (m.role !== role)
    throw new RecordError(`field "${field}[0].role" must be "${role}", not ${JSON.stringify(m.role)}`);
  if (typeof m.content !== 'string') {
    throw new RecordError(`field "${field}[0].content" must be a string, not ${typeName(m.content)}`);
  }
  return wellFormed(m.content, `${field}[0].content`);
}

function extras(record: Record<string, unknown>): Omit<PairRecord, 'prefix' | 'chosen' | 'rejected'> {
  const confidence = record.confidence;
  if (
    confidence !== undefined &&
    confidence !== null &&
    !(typeof confidence === 'number' && confidence >= 0 && confidence <= 1)
  ) {
    throw new RecordError('field "confidence" must be a number within 0..1');
  }
  const source = optionalText(record, 'source');
  if (source !== undefined && source.trim() === '') throw new RecordError('field "source" is empty');
  return {
    suffix: optionalText(record, 'suffix') ?? '',
    language: optionalText(record, 'language'),
    source,
    confidence: typeof confidence === 'number' ? confidence : undefined,
    filePath: optionalText(record, 'file_path'),
    workspace: optionalText(record, 'workspace'),
  };
}

/** Validates a parsed line of the given format and returns the pair it holds. */
export function decodePair(format: FormatName, value: unknown): PairRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RecordError(`a line must be a JSON object, not ${typeName(value)}`);
  }
  const record = value as Record<string, unknown>;
  let pair: PairRecord;
  switch (format) {
    case 'trl':
      pair = {
        ...extras(record),
        prefix: text(record, 'prompt', { allowEmpty: true }),
        chosen: text(record, 'chosen'),
        rejected: text(record, 'rejected'),
      };
      break;
    case 'trl-conversational':
      pair = {
        ...extras(record),
        prefix: singleMessage(record.prompt, 'prompt', 'user'),
        chosen: singleMessage(record.chosen, 'chosen', 'assistant'),
        rejected: singleMessage(record.rejected, 'rejected', 'assistant'),
      };
      break;
    case 'openai': {
      const input = record.input;
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        throw new RecordError(
          input === undefined
            ? 'missing field "input"'
            : `field "input" must be an object, not ${typeName(input)}`,
        );
      }
      pair = {
        suffix: '',
        prefix: singleMessage((input as Record<string, unknown>).messages, 'input.messages', 'user'),
        chosen: singleMessage(record.preferred_output, 'preferred_output', 'assistant'),
        rejected: singleMessage(record.non_preferred_output, 'non_preferred_output', 'assistant'),
      };
      break;
    }
  }
  if (pair.prefix.trim() === '' && pair.suffix.trim() === '') throw new RecordError('the prompt is empty');
  if (pair.chosen.trim() === '') throw new RecordError('the chosen completion is empty');
  if (pair.rejected.trim() === '') throw new RecordError('the rejected completion is empty');
  if (pair.chosen === pair.rejected) throw new RecordError('chosen and rejected are the same text');
  return pair;
}
