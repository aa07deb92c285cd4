/**
 * N candidates from one prompt in one batched decode: the prompt is prefilled once, its KV cache copied to N
 * rows, then every step advances all unfinished candidates together. Finished candidates leave the batch.
 * Each candidate streams its text (UTF-8 complete, stop strings held back and cut exactly) and can be
 * cancelled between steps. With token healing, each candidate's first tokens spell the text removed from the
 * prompt, and that forced text is cut from what the candidate streams and returns.
 */
import { InputError } from '../../inputError.ts';
import { contextLength } from '../hf/config.ts';
import type { KvDecoder } from '../runtime/session.ts';
import { type TokenChoiceOptions, chooseToken, penalizeRepeats, seededRandom } from './distribution.ts';
import type { HealingPlan } from './healing.ts';
import { StopMatcher } from './stop.ts';

export interface SampleOptions extends TokenChoiceOptions {
  n: number;
  maxTokens: number;
  seed: number;
  stopStrings: string[];
  /** token ids that end a candidate (EOS and friends); not part of its text. Special tokens always end one too. */
  stopTokens: number[];
  /**
   * > 1 makes tokens the candidate already wrote less likely (CTRL / Hugging Face `repetition_penalty`); 1 or
   * absent = off. Only the candidate's own tokens count, not the prompt's: code rightly repeats the names around it.
   */
  repetitionPenalty?: number;
}

export interface SampleTokenizer {
  streamDecoder(): { push(id: number): string; flush(): string };
  /** the checkpoint's special tokens: each ends a candidate (see `endsCandidate`) */
  isSpecial?(id: number): boolean;
  tokenText?(id: number): string | null;
}

/** `<|fim_pad|>`, `<｜fim▁hole｜>`: control markers, whether or not the tokenizer flags them special (Qwen2.5 does not). */
const CONTROL_MARKER = /^<[|｜][^\s|｜]+[|｜]>$/;

/**
 * A special token or a control marker ends a candidate, like EOS: it is never code, and its text must not reach
 * the editor (a FIM model that writes `<|fim_pad|>` has left the middle).
 */
export function endsCandidate(tokenizer: SampleTokenizer, id: number): boolean {
  if (tokenizer.isSpecial?.(id)) return true;
  const text = tokenizer.tokenText?.(id);
  return text != null && CONTROL_MARKER.test(text);
}

export interface SampleCallbacks {
  /** text appended to candidate `index` */
  onText?(index: number, text: string): void;
  signal?: AbortSignal;
}

export type FinishReason = 'stop' | 'length' | 'cancelled';

export interface Candidate {
  text: string;
  /** generated tokens, healing tokens included */
  tokens: number;
  /**
   * Σ log p(token) under the model over the candidate's tokens, healing tokens included; each is the model's
   * own probability (unmasked, untempered), as for every other token.
   */
  logprob: number;
  finish: FinishReason;
}

export interface SampleTiming {
  prefill_ms: number;
  first_token_ms: number;
  decode_tok_s: number;
}

export interface SampleResult {
  candidates: Candidate[];
  timing: SampleTiming;
  promptTokens: number;
  /** the most tokens a candidate could write: the request's, or less where the model's context ends first */
  maxTokens: number;
  cancelled: boolean;
}

class Running {
  readonly index: number;
  readonly random: () => number;
  readonly decoder: { push(id: number): string; flush(): string };
  readonly stop: StopMatcher;
  tokens = 0;
  logprob = 0;
  finish: FinishReason | null = null;
  next = -1;
  /** how much of the healing's forced text this candidate has spelled */
  healed: number;
  /** decoded characters still to cut: the forced text as the decoder renders it */
  unseen: number;
  /** the tokens this candidate wrote after any healing, for the repetition penalty */
  readonly written = new Set<number>();

  constructor(index: number, seed: number, tokenizer: SampleTokenizer, stops: string[], healing: HealingPlan | null) {
    this.index = index;
    this.healed = healing ? 0 : Infinity;
    this.unseen = healing ? healing.rendered.length : 0;
    // one stream per candidate: candidate i's draws do not depend on how long the others ran
    this.random = seededRandom((Math.imul(seed >>> 0, 0x9e3779b1) + index * 0x85ebca6b) >>> 0);
    this.decoder = tokenizer.streamDecoder();
    this.stop = new StopMatcher(stops);
  }

  /** Decoded text past the forced text (a token covering its end gives only its remainder). */
  visible(decoded: string): string {
    const cut = Math.min(this.unseen, decoded.length);
    this.unseen -= cut;
    return decoded.slice(cut);
  }
}

export function validateSampleOptions(o: SampleOptions): void {
  const bad = (what: string) => {
    throw new InputError(`sample: ${what}`);
  };
  if (!Number.isInteger(o.n) || o.n < 1) bad(`n must be a positive integer, got ${o.n}`);
  if (!Number.isInteger(o.maxTokens) || o.maxTokens < 1) bad(`max tokens must be a positive integer, got ${o.maxTokens}`);
  if (!(o.temperature >= 0)) bad(`temperature must be >= 0, got ${o.temperature}`);
  if (!(o.topP > 0 && o.topP <= 1)) bad(`top-p must be in (0, 1], got ${o.topP}`);
  if (!Number.isInteger(o.topK) || o.topK < 0) bad(`top-k must be a non-negative integer, got ${o.topK}`);
  if (!(o.minP >= 0 && o.minP <= 1)) bad(`min-p must be in [0, 1], got ${o.minP}`);
  if (!Number.isInteger(o.seed)) bad(`seed must be an integer, got ${o.seed}`);
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0 && Number.isFinite(o.repetitionPenalty))) bad(`repetition penalty must be a positive number, got ${o.repetitionPenalty}`);
}

export async function sampleCandidates(
  model: KvDecoder,
  tokenizer: SampleTokenizer,
  promptIds: number[],
  options: SampleOptions,
  callbacks: SampleCallbacks = {},
  healing: HealingPlan | null = null,
): Promise<SampleResult> {
  validateSampleOptions(options);
  if (promptIds.length === 0) throw new Error('sample: the prompt is empty');
  const started = performance.now();
  const vocab = model.config.vocabSize;
  const stopTokens = new Set(options.stopTokens);
  const all = Array.from({ length: options.n }, (_, i) => new Running(i, options.seed, tokenizer, options.stopStrings, healing));
  const masked = new Float32Array(healing ? vocab : 0);
  const penalty = options.repetitionPenalty ?? 1;
  const penalized = new Float32Array(penalty !== 1 ? vocab : 0);
  const aborted = () => callbacks.signal?.aborted ?? false;

  const maxPositions = contextLength(model.config);
  if (promptIds.length >= maxPositions) throw new Error(`sample: prompt of ${promptIds.length} tokens leaves no room in the model's ${maxPositions} positions`);
  // room for typical completions up front; the cache grows if a long one needs more
  model.reset(1, Math.min(promptIds.length + options.maxTokens, maxPositions, promptIds.length + 512));
  const promptLogits = await model.step({ tokens: [promptIds], positions: [promptIds.map((_, i) => i)] });
  const prefillMs = performance.now() - started;

  /** Applies row `row` of the logits to candidate `c`; returns whether it continues. */
  const advance = (c: Running, logits: ArrayLike<number>): boolean => {
    let forced = healing !== null && c.healed < healing.text.length ? healing : null;
    if (forced && !forced.mask(logits, c.healed, stopTokens, masked)) {
      // nothing can spell the rest (the prompt's plan rules this out): continue unconstrained, cut nothing more
      c.healed = Infinity;
      c.unseen = 0;
      forced = null;
    }
    // the penalty never applies while healing respells the prompt's own text
    const penalize = !forced && penalty !== 1 && c.written.size > 0;
    const choice = chooseToken(forced ? masked : penalize ? penalizeRepeats(logits, c.written, penalty, penalized) : logits, options, c.random, logits);
    if (stopTokens.has(choice.id) || endsCandidate(tokenizer, choice.id)) {
      c.finish = 'stop';
      return false;
    }
    c.tokens++;
    // the model's own log-prob, before the healing mask and the repetition penalty
    c.logprob += choice.logprob;
    if (forced) c.healed = forced.advance(c.healed, choice.id);
    else c.written.add(choice.id);
    const text = c.stop.push(c.visible(c.decoder.push(choice.id)));
    if (text) callbacks.onText?.(c.index, text);
    if (c.stop.stopped) c.finish = 'stop';
    else if (c.tokens >= options.maxTokens || promptIds.length + c.tokens >= maxPositions) c.finish = 'length';
    c.next = choice.id;
    return c.finish === null;
  };

  let active = all.filter((c) => advance(c, promptLogits.subarray(0, vocab)));
  const firstTokenMs = performance.now() - started;
  model.select(active.map(() => 0));
  let decodeTokens = 0;
  const decodeStarted = performance.now();
  let step = 0;
  while (active.length > 0 && !aborted()) {
    const position = promptIds.length + step++;
    const logits = await model.step({ tokens: active.map((c) => [c.next]), positions: active.map(() => [position]) });
    decodeTokens += active.length;
    const keep: number[] = [];
    active.forEach((c, row) => {
      if (advance(c, logits.subarray(row * vocab, (row + 1) * vocab))) keep.push(row);
    });
    if (keep.length !== active.length && keep.length > 0) model.select(keep);
    active = keep.map((row) => active[row]!);
  }
  const decodeSeconds = (performance.now() - decodeStarted) / 1000;
  const cancelled = aborted() && active.length > 0;
  const candidates = all.map((c) => {
    const rest = c.stop.stopped ? '' : c.stop.push(c.visible(c.decoder.flush())) + c.stop.flush();
    if (rest) callbacks.onText?.(c.index, rest);
    return { text: c.stop.result, tokens: c.tokens, logprob: c.logprob, finish: c.finish ?? 'cancelled' };
  });
  return {
    candidates,
    timing: { prefill_ms: prefillMs, first_token_ms: firstTokenMs, decode_tok_s: decodeSeconds > 0 ? decodeTokens / decodeSeconds : 0 },
    promptTokens: promptIds.length,
    maxTokens: options.maxTokens,
    cancelled,
  };
}
