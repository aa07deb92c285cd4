/**
 * The prompt for a completion at the cursor: a fill-in-the-middle template when the tokenizer has FIM tokens
 * and there is a suffix, else the prefix alone. The prompt budget keeps the end of the prefix and the start of
 * the suffix, sharing the tokens by `suffixShare` (a side that needs less gives the rest to the other).
 *   Qwen2.5-Coder  <|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>
 *   StarCoder2     <fim_prefix>P<fim_suffix>S<fim_middle>
 *   DeepSeek-Coder <｜fim▁begin｜>P<｜fim▁hole｜>S<｜fim▁end｜>
 *   CodeLlama      ▁<PRE> P ▁<SUF>S ▁<MID>   (prefix encoded after a space, as Meta's reference does)
 */
import type { FimStyle, FimTokens } from '../hf/tokenizer.ts';

export interface PromptTokenizer {
  encode(text: string): number[];
  readonly fim: FimTokens | null;
  readonly bosTokenId: number | null;
}

export interface PromptBudget {
  /** most prompt tokens, special tokens included */
  maxTokens: number;
  /** share of the budget the suffix may use when both sides want more (0–1) */
  suffixShare: number;
}

export const DEFAULT_BUDGET: PromptBudget = { maxTokens: 2048, suffixShare: 0.25 };

export interface BuiltPrompt {
  ids: number[];
  /** the template used; null for prefix-only */
  fim: FimStyle | null;
  /** prefix/suffix tokens dropped by the budget */
  truncated: { prefix: number; suffix: number };
}

export function buildPrompt(tokenizer: PromptTokenizer, prefix: string, suffix: string, budget: PromptBudget = DEFAULT_BUDGET): BuiltPrompt {
  const fim = suffix.length > 0 ? tokenizer.fim : null;
  const bos = tokenizer.bosTokenId === null ? [] : [tokenizer.bosTokenId];
  if (!fim) {
    const ids = tokenizer.encode(prefix);
    const room = Math.max(1, budget.maxTokens - bos.length);
    const kept = ids.slice(Math.max(0, ids.length - room));
    return { ids: [...bos, ...kept], fim: null, truncated: { prefix: ids.length - kept.length, suffix: 0 } };
  }
  const prefixIds = tokenizer.encode(fim.style === 'codellama' ? ` ${prefix}` : prefix);
  const suffixIds = tokenizer.encode(suffix);
  const room = Math.max(2, budget.maxTokens - bos.length - 3);
  let suffixRoom = Math.min(suffixIds.length, Math.floor(room * budget.suffixShare));
  const prefixRoom = Math.min(prefixIds.length, room - suffixRoom);
  suffixRoom = Math.min(suffixIds.length, room - prefixRoom);
  const p = prefixIds.slice(prefixIds.length - prefixRoom);
  const s = suffixIds.slice(0, suffixRoom);
  // every supported template is prefix-suffix-middle order; only the marker tokens differ
  const ids = [...bos, fim.prefix.id, ...p, fim.suffix.id, ...s, fim.middle.id];
  return { ids, fim: fim.style, truncated: { prefix: prefixIds.length - p.length, suffix: suffixIds.length - s.length } };
}
