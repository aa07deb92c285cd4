/**
 * The default model's tokenizer files: tokenizer.json (ByteLevel pre-tokenizer and decoder, BPE model) and
 * tokenizer_config.json with Qwen2.5-Coder's special tokens, so the sampler finds the FIM template.
 */
import { tokenizerConfigJson, tokenizerJson } from '../fixtures/bpe.ts';
import type { TrainedBpe } from './bpeTrainer.ts';

/** Appended after the learned vocabulary, in this order. */
export const SPECIAL_TOKENS = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|fim_pad|>'] as const;
export type SpecialToken = (typeof SPECIAL_TOKENS)[number];

export function specialTokenId(bpe: TrainedBpe, token: SpecialToken): number {
  return bpe.vocab.length + SPECIAL_TOKENS.indexOf(token);
}

export function tokenizerFiles(bpe: TrainedBpe): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  const config = tokenizerConfigJson(bpe.vocab.length, SPECIAL_TOKENS, '<|fim_pad|>');
  return { tokenizer: tokenizerJson(bpe, SPECIAL_TOKENS), config };
}
