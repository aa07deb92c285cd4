/**
 * Scoring pairs, the same for the CLI and the editor: each pair's summed log-probs of its chosen and rejected
 * completion under the model (with an adapter merged in, or not), tokenized and computed exactly as a round
 * computes its reference log-probs, so the numbers equal the round's `logps/chosen` and `logps/rejected` at
 * step 0. With an adapter, `rewards/accuracies` says on how many pairs the adapter raised the chosen side over
 * the rejected one, measured from the base (the sign of TRL's reward margin, whatever β). The base is held as the
 * round holds it (`weights`: fp32, or int8/int4 blocks), so quantized scores equal a quantized round's too.
 */
import { type PairText, type PreferenceExample, tokenizePair } from '../dpo/examples.ts';
import { type ScoreOptions, scoreExamples } from '../dpo/trainer.ts';
import { withAdapter } from '../engine/hf/adapter.ts';
import { loadCheckpoint } from '../engine/hf/checkpoint.ts';
import type { PairFilter, Store } from '../store/store.ts';
import { type RoundTraining, defaultTraining } from './options.ts';
import { RoundInputError } from './roundChecks.ts';

export interface ScoreRequest {
  modelDir: string;
  /** A PEFT adapter folder, merged into the model's weights. */
  adapterDir?: string | undefined;
  /** The pairs to score: given, or the store's that pass the filter. */
  pairs: readonly PairText[] | { store: Store; filter: PairFilter };
  /** A round's options: the tokens kept per pair, the buckets and the device come from them (default: a round's defaults). */
  training?: RoundTraining | undefined;
}

export interface PairScore {
  'logps/chosen': number;
  'logps/rejected': number;
}

export interface ScoreResult {
  pairs: PairScore[];
  mean: PairScore & { 'rewards/accuracies'?: number };
}

const mean = (values: readonly number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;

export async function scorePairs(request: ScoreRequest): Promise<ScoreResult> {
  const source = request.pairs;
  const texts: readonly PairText[] = 'store' in source ? [...source.store.iteratePairs(source.filter)] : source;
  if (texts.length === 0) throw new RoundInputError('no preference pairs to score');
  // the default loss makes the log-probs sums, as TRL's logps/* are
  const training = { ...(request.training ?? defaultTraining()), loss: defaultTraining().loss };
  // the step graph's refusal (trainDpo), for the same graph's reference pass
  if (training.device === 'webgpu' && training.baseWeights === 'int4') throw new RoundInputError('--weights int4 scores on the CPU only: use --weights int8 on WebGPU');
  const base = await loadCheckpoint(request.modelDir);
  const { tokenizer } = base;
  const options: ScoreOptions = { ...training, padId: tokenizer.padTokenId ?? tokenizer.eosTokenIds[0] ?? 0 };
  const maxLength = Math.min(training.maxLength, base.config.maxPositions);
  const examples: PreferenceExample[] = texts.map((t, i) => {
    try {
      return tokenizePair(tokenizer, t, maxLength);
    } catch (e) {
      throw new RoundInputError(`pair ${i + 1}: ${(e as Error).message}`);
    }
  });
  const model = request.adapterDir === undefined ? base : await withAdapter(base, request.adapterDir);
  const logps = await scoreExamples(model.config, model.weights, examples, options);
  const pairs = examples.map((_, i) => ({ 'logps/chosen': logps[2 * i]!, 'logps/rejected': logps[2 * i + 1]! }));
  const result: ScoreResult = {
    pairs,
    mean: { 'logps/chosen': mean(pairs.map((p) => p['logps/chosen'])), 'logps/rejected': mean(pairs.map((p) => p['logps/rejected'])) },
  };
  if (request.adapterDir !== undefined) {
    const reference = await scoreExamples(base.config, base.weights, examples, options);
    const margins = pairs.map((p, i) => p['logps/chosen'] - reference[2 * i]! - (p['logps/rejected'] - reference[2 * i + 1]!));
    result.mean['rewards/accuracies'] = mean(margins.map((m) => (m > 0 ? 1 : 0)));
  }
  return result;
}
