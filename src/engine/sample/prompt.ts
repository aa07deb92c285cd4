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
import type { HealingPlan, TokenTexts } from './healing.ts';

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
  /** what token healing removed from the prefix (`healing.text`) and how the sampler spells it again; null if nothing */
  healing: HealingPlan | null;
}

/** Token healing for a prompt: the tokenizer's token texts, and the tokens that may not spell the forced text. */
export interface PromptHealing {
  texts: TokenTexts;
  /** stop tokens: a forced text spelled only with them could not be finished */
  banned: readonly number[];
}

/**
 * Drops the last token of an encoded prefix when it may be healed. One token is enough: it is the one cut by
 * the cursor. Special tokens are never backed over; an empty prefix has nothing to heal. `keep`: tokens that
 * must stay (a prompt of its prefix alone cannot be empty).
 */
function healPrefix(ids: number[], healing: PromptHealing | undefined, keep: number): { ids: number[]; healing: HealingPlan | null } {
  const last = ids[ids.length - 1];
  const plan = healing && last !== undefined && ids.length > keep ? healing.texts.plan(last, healing.banned) : null;
  return plan ? { ids: ids.slice(0, -1), healing: plan } : { ids, healing: null };
}

/** `healing`: back up the prefix's last token (see healPrefix); without it the prompt is the whole prefix. */
export function buildPrompt(tokenizer: PromptTokenizer, prefix: string, suffix: string, budget: PromptBudget = DEFAULT_BUDGET, healing?: PromptHealing): BuiltPrompt {
  const fim = suffix.length > 0 ? tokenizer.fim : null;
  const bos = tokenizer.bosTokenId === null ? [] : [tokenizer.bosTokenId];
  const heal = prefix.length > 0 ? healing : undefined;
  if (!fim) {
    const healed = healPrefix(tokenizer.encode(prefix), heal, bos.length > 0 ? 0 : 1);
    const ids = healed.ids;
    const room = Math.max(1, budget.maxTokens - bos.length);
    const kept = ids.slice(Math.max(0, ids.length - room));
    return { ids: [...bos, ...kept], fim: null, truncated: { prefix: ids.length - kept.length, suffix: 0 }, healing: healed.healing };
  }
  // the prefix is encoded on its own, so backing up its last token stays inside the prefix
  const healed = healPrefix(tokenizer.encode(fim.style === 'codellama' ? ` ${prefix}` : prefix), heal, 0);
  const prefixIds = healed.ids;
  const suffixIds = tokenizer.encode(suffix);
  const room = Math.max(2, budget.maxTokens - bos.length - 3);
  let suffixRoom = Math.min(suffixIds.length, Math.floor(room * budget.suffixShare));
  const prefixRoom = Math.min(prefixIds.length, room - suffixRoom);
  suffixRoom = Math.min(suffixIds.length, room - prefixRoom);
  const p = prefixIds.slice(prefixIds.length - prefixRoom);
  const s = suffixIds.slice(0, suffixRoom);
  // every supported template is prefix-suffix-middle order; only the marker tokens differ
  const ids = [...bos, fim.prefix.id, ...p, fim.suffix.id, ...s, fim.middle.id];
  return { ids, fim: fim.style, truncated: { prefix: prefixIds.length - p.length, suffix: suffixIds.length - s.length }, healing: healed.healing };
}
