import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InputError } from '../inputError.ts';

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
    throw new UsageError(`prefer ${command.name}: ${(e as Error).message.split('\n')[0]}`);
  }
}

export function requireString(args: ParsedArgs, flag: string, command: string): string {
  const v = args.values[flag];
  if (typeof v !== 'string' || v === '') throw new UsageError(`prefer ${command}: --${flag} is required`);
  return v;
}
