import { InputError } from '../../inputError.ts';
import { oneLine, readRegularText } from './files.ts';

export { oneLine } from './files.ts';

/** Reads and parses a JSON file; every failure is one line starting with the file path. */
export async function readJsonFile(path: string): Promise<unknown> {
  return parseJsonText(await readRegularText(path), path);
}

export function parseJsonText(text: string, path: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InputError(`${path}: bad JSON (${oneLine(error)})`);
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
