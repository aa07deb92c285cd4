import { existsSync } from 'node:fs';
import type { PairText } from '../dpo/examples.ts';
import { detectFormat, decodePair } from '../io/formats.ts';
import { readJsonlLines } from '../io/lines.ts';
import { firstLine } from '../inputError.ts';
import { UsageError } from './command.ts';

/** Pairs from a TRL/OpenAI JSONL file (`--pairs` of train and score): a bad line stops the command with its line number. */
export function pairsFromFile(file: string, command: string): PairText[] {
  if (!existsSync(file)) throw new UsageError(`prefer ${command}: ${file}: no such file`);
  const pairs: PairText[] = [];
  for (const line of readJsonlLines(file)) {
    if ('error' in line) throw new UsageError(`prefer ${command}: ${file}:${line.line}: ${line.error}`);
    try {
      const value: unknown = JSON.parse(line.text);
      const format = detectFormat(value);
      if (!format) throw new Error('not a preference pair (expected prompt/chosen/rejected or input/preferred_output/non_preferred_output)');
      pairs.push(decodePair(format, value));
    } catch (e) {
      throw new UsageError(`prefer ${command}: ${file}:${line.line}: ${firstLine(e)}`);
    }
  }
  return pairs;
}
