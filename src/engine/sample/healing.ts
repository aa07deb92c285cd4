/**
 * Token healing at the cursor. A prefix cut at the cursor often ends in a token the model rarely saw there
 * ("\n" + 12 spaces as one token, where training text has 11 spaces and " let"; "cons" where it has "const").
 * The prompt drops the prefix's last token, and the first generated tokens are constrained to spell its text
 * again; that forced text is then cut from the completion, so the caller sees only what follows the cursor.
 *
 * With `remaining` the forced text still to spell, a token may be chosen when its text starts with `remaining`
 * (it finishes the forced text) or when it is the LONGEST token that `remaining` starts with (and the rest
 * stays spellable). BPE writes a run of spaces or a word with its longest pieces: a shorter piece ("\n" before
 * twelve spaces) begins a spelling the model never saw in training, and greedy decoding then crawls through
 * one-space tokens. On the default model's 100 FIM evaluation cursors (greedy), allowing every shorter piece
 * left 14 completions that spent all 48 tokens on whitespace; the longest piece alone left none.
 *
 * Everything here works on token texts (strings), built once per tokenizer.
 */

export interface HealingTokenizer {
  readonly vocabSize: number;
  decode(ids: readonly number[]): string;
  tokenId(text: string): number | null;
  isSpecial(id: number): boolean;
}

/** Tokens allowed at one point of the forced text: a block of the text-sorted vocabulary plus a few more. */
interface AllowedTokens {
  /** [from, to) in the sorted order: the tokens whose text starts with the remaining forced text */
  from: number;
  to: number;
  /** the longest tokens that are a proper prefix of the remaining text and leave a spellable rest */
  prefixes: number[];
}

/** Letters whose lone token decodes to itself in every vocabulary we know: the anchor for appended text. */
const ANCHOR_TEXTS = ['a', 'e', 'x', 'z', '0'];

/**
 * What each token id adds to a text when appended, or null for a token never allowed while healing (special,
 * empty, or not complete UTF-8). Decoding [anchor, id] minus [anchor] keeps the word-boundary space that
 * SentencePiece decoders drop from a sequence's first token.
 */
export class TokenTexts {
  readonly vocabSize: number;
  private readonly texts: (string | null)[];
  /** ids with a text, sorted by text (UTF-16 code units): tokens sharing a prefix form one block */
  private readonly sorted: number[];
  private readonly sortedTexts: string[];
  private readonly byText = new Map<string, number[]>();
  /** a token decoded alone, as a completion's stream decoder renders its first token */
  private readonly decodeAlone: (id: number) => string;

  constructor(texts: (string | null)[], decodeAlone: (id: number) => string = (id) => texts[id] ?? '') {
    this.vocabSize = texts.length;
    this.texts = texts;
    this.decodeAlone = decodeAlone;
    const ids: number[] = [];
    texts.forEach((t, id) => {
      if (t === null) return;
      ids.push(id);
      const same = this.byText.get(t);
      if (same) same.push(id);
      else this.byText.set(t, [id]);
    });
    this.sorted = ids.sort((a, b) => compare(texts[a]!, texts[b]!) || a - b);
    this.sortedTexts = this.sorted.map((id) => texts[id]!);
  }

  static of(tokenizer: HealingTokenizer): TokenTexts {
    const texts: (string | null)[] = new Array(tokenizer.vocabSize).fill(null);
    const anchor = findAnchor(tokenizer);
    // without a plain letter to decode after, appended texts are unknown: every token stays null, nothing heals
    if (anchor === null) return new TokenTexts(texts);
    const lead = tokenizer.decode([anchor]);
    for (let id = 0; id < tokenizer.vocabSize; id++) {
      if (tokenizer.isSpecial(id)) continue;
      const both = tokenizer.decode([anchor, id]);
      if (!both.startsWith(lead)) continue;
      const text = both.slice(lead.length);
      if (text.length > 0 && !text.includes('\uFFFD')) texts[id] = text;
    }
    return new TokenTexts(texts, (id) => tokenizer.decode([id]));
  }

  text(id: number): string | null {
    return this.texts[id] ?? null;
  }

  /**
   * The healing of a prompt whose last token is `id`, or null when that token may not be healed (special,
   * not complete UTF-8) or its text cannot be spelled again without the `banned` tokens (stop tokens): a
   * forced text the sampler could not finish would silently lose characters.
   */
  plan(id: number, banned: readonly number[] = []): HealingPlan | null {
    const text = this.text(id);
    if (text === null) return null;
    // a SentencePiece decoder drops one leading space at a sequence's start; any other difference is unknown
    const rendered = this.decodeAlone(id);
    if (text !== rendered && text !== ` ${rendered}`) return null;
    const ban = new Set(banned);
    // steps[i]: the tokens allowed with text.slice(i) remaining (filled back to front, so a rest's step is known)
    const steps: (AllowedTokens | null)[] = new Array(text.length + 1).fill(null);
    for (let i = text.length - 1; i >= 0; i--) {
      const remaining = text.slice(i);
      const { from, to } = this.block(remaining);
      let finishing = to - from;
      for (const b of ban) if (this.text(b)?.startsWith(remaining)) finishing--;
      const prefixes: number[] = [];
      for (let k = remaining.length - 1; k >= 1 && prefixes.length === 0; k--) {
        if (steps[i + k] === null) continue;
        for (const p of this.byText.get(remaining.slice(0, k)) ?? []) if (!ban.has(p)) prefixes.push(p);
      }
      if (finishing > 0 || prefixes.length > 0) steps[i] = { from, to, prefixes };
    }
    if (steps[0] === null) return null;
    return new HealingPlan(text, rendered, steps, this.sorted, this.texts);
  }

  /** The block of the sorted vocabulary whose texts start with `prefix`. */
  private block(prefix: string): { from: number; to: number } {
    const from = firstIndex(this.sortedTexts.length, (k) => compare(this.sortedTexts[k]!, prefix) >= 0);
    const to = firstIndex(
      this.sortedTexts.length,
      (k) => k >= from && !this.sortedTexts[k]!.startsWith(prefix),
    );
    return { from, to };
  }
}

/** One prompt's forced text and, for each point of it a candidate can reach, the tokens it may choose. */
export class HealingPlan {
  /** the removed token's text: what the first generated tokens must spell */
  readonly text: string;
  /** the same text as the stream decoder renders it at the start of a completion */
  readonly rendered: string;
  private readonly steps: readonly (AllowedTokens | null)[];
  private readonly sorted: readonly number[];
  private readonly texts: readonly (string | null)[];

  constructor(
    text: string,
    rendered: string,
    steps: (AllowedTokens | null)[],
    sorted: readonly number[],
    texts: readonly (string | null)[],
  ) {
    this.text = text;
    this.rendered = rendered;
    this.steps = steps;
    this.sorted = sorted;
    this.texts = texts;
  }

  /** The ids a candidate may choose with text.slice(offset) still to spell (`banned` excluded). */
  allowedAt(offset: number, banned: ReadonlySet<number> = new Set()): number[] {
    const step = this.steps[offset];
    if (!step) return [];
    return [...this.sorted.slice(step.from, step.to), ...step.prefixes].filter((id) => !banned.has(id));
  }

  /**
   * Writes into `out` the logits with every token not allowed at `offset` set to -Infinity (before any
   * temperature or truncation, so greedy picks the best allowed). Returns false when none is allowed.
   */
  mask(logits: ArrayLike<number>, offset: number, banned: ReadonlySet<number>, out: Float32Array): boolean {
    out.fill(-Infinity);
    const step = this.steps[offset];
    if (!step) return false;
    let any = false;
    const allow = (id: number) => {
      if (id < logits.length && !banned.has(id)) {
        out[id] = logits[id]!;
        any = true;
      }
    };
    for (let k = step.from; k < step.to; k++) allow(this.sorted[k]!);
    for (const id of step.prefixes) allow(id);
    return any;
  }

  /** How far along the forced text a candidate is after choosing `id` at `offset`. */
  advance(offset: number, id: number): number {
    return Math.min(this.text.length, offset + (this.texts[id]?.length ?? this.text.length));
  }
}

function findAnchor(tokenizer: HealingTokenizer): number | null {
  for (const text of ANCHOR_TEXTS) {
    const id = tokenizer.tokenId(text);
    if (id !== null && !tokenizer.isSpecial(id) && tokenizer.decode([id]) === text) return id;
  }
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    if (!tokenizer.isSpecial(id) && /^[A-Za-z]$/.test(tokenizer.decode([id]))) return id;
  }
  return null;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The first k in [0, n) where `holds` is true, for a predicate false then true; n when it never holds. */
function firstIndex(n: number, holds: (k: number) => boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (holds(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
