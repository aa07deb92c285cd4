/** generation_config.json → GenerationDefaults. The file is optional; absent fields stay undefined. */
import { join } from 'node:path';
import { InputError } from '../../inputError.ts';
import { isPresent } from './files.ts';
import { isRecord, readJsonFile } from './json-file.ts';
import type { GenerationDefaults } from './types.ts';

export async function readGenerationDefaults(dir: string): Promise<GenerationDefaults> {
  const path = join(dir, 'generation_config.json');
  if (!(await isPresent(path))) return {};
  return parseGenerationDefaults(await readJsonFile(path), path);
}

export function parseGenerationDefaults(json: unknown, path: string): GenerationDefaults {
  if (!isRecord(json)) throw new InputError(`${path}: generation config is not a JSON object`);
  const number = (field: string, check: (v: number) => boolean, what: string): number | undefined => {
    const value = json[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !check(value)) {
      throw new InputError(`${path}: field "${field}" must be ${what}, got ${JSON.stringify(value)}`);
    }
    return value;
  };
  const defaults: GenerationDefaults = {};
  const temperature = number('temperature', (v) => v >= 0, 'a number ≥ 0');
  const topK = number('top_k', (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0');
  const topP = number('top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const minP = number('min_p', (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  const maxNewTokens = number('max_new_tokens', (v) => Number.isInteger(v) && v > 0, 'a positive integer');
  const repetitionPenalty = number('repetition_penalty', (v) => v > 0 && Number.isFinite(v), 'a positive number');
  if (temperature !== undefined) defaults.temperature = temperature;
  if (topK !== undefined) defaults.topK = topK;
  if (topP !== undefined) defaults.topP = topP;
  if (minP !== undefined) defaults.minP = minP;
  if (maxNewTokens !== undefined) defaults.maxNewTokens = maxNewTokens;
  if (repetitionPenalty !== undefined) defaults.repetitionPenalty = repetitionPenalty;
  const eos = json['eos_token_id'];
  if (eos !== undefined && eos !== null) {
    const ids = Array.isArray(eos) ? (eos as unknown[]) : [eos];
    if (!ids.every((id) => Number.isInteger(id) && (id as number) >= 0)) {
      throw new InputError(`${path}: field "eos_token_id" must be a token id or a list of them, got ${JSON.stringify(eos)}`);
    }
    defaults.eosTokenIds = ids as number[];
  }
  return defaults;
}
