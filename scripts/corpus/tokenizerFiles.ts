/**
 * The default model's tokenizer files: tokenizer.json (ByteLevel pre-tokenizer and decoder, BPE model) and
 * tokenizer_config.json with Qwen2.5-Coder's special tokens, so the sampler finds the FIM template.
 */
import { tokenizerJson } from '../fixtures/bpe.ts';
import type { TrainedBpe } from './bpeTrainer.ts';

/** Appended after the learned vocabulary, in this order. */
export const SPECIAL_TOKENS = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|fim_pad|>'] as const;
export type SpecialToken = (typeof SPECIAL_TOKENS)[number];

export function specialTokenId(bpe: TrainedBpe, token: SpecialToken): number {
  return bpe.vocab.length + SPECIAL_TOKENS.indexOf(token);
}

export function tokenizerFiles(bpe: TrainedBpe): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  const addedTokensDecoder: Record<string, unknown> = {};
  SPECIAL_TOKENS.forEach((content, i) => {
    addedTokensDecoder[String(bpe.vocab.length + i)] = { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  });
  const config = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: addedTokensDecoder,
    additional_special_tokens: SPECIAL_TOKENS.slice(1),
    bos_token: null,
    clean_up_tokenization_spaces: false,
    eos_token: '<|endoftext|>',
    model_max_length: 32768,
    pad_token: '<|fim_pad|>',
    tokenizer_class: 'Qwen2Tokenizer',
    unk_token: null,
  };
  return { tokenizer: tokenizerJson(bpe, SPECIAL_TOKENS), config };
}
