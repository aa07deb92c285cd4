import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InputError, firstLine, isInputError } from '../inputError.ts';

/** A `prefer` sub-command: its flags, its help text, and what it does with them. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  allowPositionals?: boolean;
  run(args: ParsedArgs, out: Output): Promise<number> | number;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** Where a command writes: one JSON object (or JSON lines) with --json, readable text otherwise. */
export interface Output {
  json: boolean;
  result(value: unknown, text: string): void;
}

/** An error the user caused (bad flag, missing file): printed as one line, exit code 2. */
export class UsageError extends InputError {}

export function parseCommandArgs(command: Command, argv: string[]): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...command.options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: command.allowPositionals ?? false,
      strict: true,
    });
    return { values, positionals };
  } catch (e) {
    throw new UsageError(`prefer ${command.name}: ${firstLine(e)}`);
  }
}

export function requireString(args: ParsedArgs, flag: string, command: string): string {
  const v = args.values[flag];
  if (typeof v !== 'string' || v === '') throw new UsageError(`prefer ${command}: --${flag} is required`);
  return v;
}

/** What a numeric flag accepts: `what` says it in words, for the error message ("a positive integer"). */
export interface NumberFlag {
  integer?: boolean;
  accepts?(n: number): boolean;
  what: string;
}

/** A numeric flag's value, undefined when it is absent; anything it does not accept is a one-line usage error. */
export function numberFlag(args: ParsedArgs, command: string, flag: string, spec: NumberFlag): number | undefined {
  const v = args.values[flag];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`prefer ${command}: --${flag} must be ${spec.what}, got ${JSON.stringify(v)}`);
  if ((spec.integer && !Number.isInteger(n)) || (spec.accepts && !spec.accepts(n))) throw new UsageError(`prefer ${command}: --${flag} must be ${spec.what}, got ${v}`);
  return n;
}

/**
 * An error out of a command's work, prefixed with the command once, as one line; input errors keep their exit
 * code (the store's, the files' and the model's errors already name what they are about).
 */
export function commandError(command: string, e: unknown): Error {
  const prefix = `prefer ${command}:`;
  if (e instanceof Error && e.message.startsWith(prefix)) return e;
  const message = `${prefix} ${firstLine(e)}`;
  return isInputError(e) ? new UsageError(message) : new Error(message);
}
